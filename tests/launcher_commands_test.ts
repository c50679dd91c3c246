// Every CLI command through the installed launcher, so each runs under the grant the launcher
// computes for it (not `deno run -A`): a command that needs more than its grant fails here.
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { cli, type CliResult, REPO, Running, withTempDir } from "./_helpers.ts";
import { installLauncher } from "./_installed.ts";

function explain(r: CliResult): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/** The starter config, plus a Kubernetes endpoint its profile reaches (for `kubeconfig`). */
async function withKubernetes(config: string): Promise<void> {
  const text = await Deno.readTextFile(config);
  await Deno.writeTextFile(
    config,
    text.replace(
      "endpoints   = [https.github, https.anthropic, https.openai]",
      "endpoints   = [https.github, https.anthropic, https.openai, kubernetes.k8s]",
    ) +
      `\nendpoint "kubernetes" "k8s" {\n  server = "https://10.0.0.1:6443"\n  listen = "127.0.0.1:0"\n}\n`,
  );
}

Deno.test("every command runs under the launcher's computed grant", async () => {
  const installed = await installLauncher();
  try {
    await withTempDir(async (dir) => {
      const run = (args: string[], input?: string) =>
        cli(args, { bin: installed.bin, cwd: dir, input });
      const gw = join(dir, "gw");
      const init = await run([
        "init",
        gw,
        "--proxy-listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
      ]);
      equal(init.code, 0, explain(init));
      const config = join(gw, "gateway.hcl");
      await withKubernetes(config);
      const c = ["-c", config];

      const check = await run(["check", ...c]);
      equal(check.code, 0, explain(check));
      match(check.stdout, /ok: 4 endpoints/);

      const fixtures = join(dir, "github_writes.yaml");
      await Deno.copyFile(join(REPO, "tests", "rules", "github_writes.yaml"), fixtures);
      const tested = await run(["test", ...c, fixtures]);
      equal(tested.code, 0, explain(tested));

      const permissions = await run(["permissions", "--", "serve", ...c]);
      equal(permissions.code, 0, explain(permissions));
      match(permissions.stdout, /^--allow-write=.*\/gw\/state$/m);
      // The runtime's flags travel with the grant, to the launcher's `deno run` as to compile.
      match(
        permissions.stdout,
        /^--v8-flags=--max-semi-space-size=4,--no-concurrent-recompilation$/m,
      );

      const set = await run(["vault", "set", "github_pat", ...c], "ghp_not_a_real_token\n");
      equal(set.code, 0, explain(set));
      const listed = await run(["vault", "list", ...c]);
      match(listed.stdout, /github_pat/, explain(listed));
      ok(!listed.stdout.includes("ghp_not_a_real_token"));

      const added = await run(["agent", "add", "bot", "--profile", "default", ...c]);
      equal(added.code, 0, explain(added));
      const token = added.stdout.trim().split("\n").at(-1)!;
      const agents = await run(["agent", "list", ...c]);
      match(agents.stdout, /bot/, explain(agents));

      const env = await run(["env", "--agent", "bot", "--token", token, ...c]);
      equal(env.code, 0, explain(env));
      match(env.stdout, /HTTPS_PROXY=/);

      // `run` may start the program it runs, and nothing else.
      const ran = await run([
        "run",
        "--agent",
        "bot",
        "--token",
        token,
        ...c,
        "--",
        "sh",
        "-c",
        'echo "proxy=$HTTPS_PROXY"',
      ]);
      equal(ran.code, 0, explain(ran));
      match(ran.stdout, /^proxy=http:\/\/bot:/m);

      const kubeconfig = await run(
        ["kubeconfig", "--agent", "bot", "--token-stdin", "--output", join(dir, "kc.yaml"), ...c],
        `${token}\n`,
      );
      equal(kubeconfig.code, 0, explain(kubeconfig));
      match(await Deno.readTextFile(join(dir, "kc.yaml")), /clawpatrol-k8s/);

      const running = Running.spawn(["serve", ...c], { bin: installed.bin, cwd: dir });
      try {
        const admin = await running.adminUrl();
        const approvals = await run(["approvals", "list", "--admin-url", admin, ...c]);
        equal(approvals.code, 0, explain(approvals));
        const status = await run(["status", "--admin-url", admin, ...c]);
        equal(status.code, 0, explain(status));
        match(status.stdout, /^ {2}run: none$/m, "the gateway may start no program");
        match(status.stdout, /^ {2}write: .*\/gw\/state$/m);
        ok(!status.stdout.includes("unrestricted"), status.stdout);
        // A receipt to read: a host no endpoint claims is refused.
        const proxy = running.log.match(/proxy on http:\/\/(127\.0\.0\.1:\d+)/)![1];
        const refused = await new Deno.Command("curl", {
          args: [
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--proxy",
            `http://bot:${token}@${proxy}`,
            "https://unknown.test/",
          ],
        }).output();
        match(new TextDecoder().decode(refused.stdout), /403|000/);
        // Receipts are read while the gateway writes them: read-only on the state directory.
        const log = await run(["log", ...c]);
        equal(log.code, 0, explain(log));
        match(log.stdout, /deny/, explain(log));
        const verify = await run(["log", "verify", ...c]);
        equal(verify.code, 0, explain(verify));
        equal((await running.stop()).code, 0, running.log);
      } finally {
        await running.dispose();
      }
    });
  } finally {
    await installed.remove();
  }
});
