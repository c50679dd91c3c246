// The gateway started the way users start it (the installed launcher) runs under exactly what its
// config needs, and attempts to make it reach past that fail cleanly while it keeps serving:
// a reloaded endpoint whose upstream was never granted (the upstream never sees a connection),
// a config include outside the grant, and /status showing no kind unrestricted, no program to
// run and no write outside the state directory.
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { cli, eventually, Running, withTempDir } from "./_helpers.ts";
import { installLauncher } from "./_installed.ts";

/** A TCP listener that counts the connections it gets (it should get none). */
function bait(): { port: number; accepted: () => number; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let accepted = 0;
  (async () => {
    for await (const conn of listener) {
      accepted++;
      conn.close();
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    accepted: () => accepted,
    close: () => listener.close(),
  };
}

async function curlThroughProxy(args: string[]): Promise<{ code: number; out: string }> {
  const result = await new Deno.Command("curl", {
    args: ["-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}", ...args],
    stdin: "null",
  }).output();
  return { code: result.code, out: new TextDecoder().decode(result.stdout) };
}

Deno.test("the launched gateway runs under its config's grant and refuses to reach past it", async () => {
  const installed = await installLauncher();
  const upstream = bait();
  try {
    await withTempDir(async (dir) => {
      const bin = installed.bin;
      const gw = join(dir, "gw");
      const listen = ["--proxy-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"];
      const init = await cli(["init", gw, ...listen], { bin, cwd: dir });
      equal(init.code, 0, init.stderr);
      const config = join(gw, "gateway.hcl");
      const added = await cli(["agent", "add", "bot", "--profile", "default", "-c", config], {
        bin,
        cwd: dir,
      });
      equal(added.code, 0, added.stderr);
      const token = added.stdout.trim().split("\n").at(-1)!;

      const running = Running.spawn(["serve", "-c", config], { bin, cwd: dir });
      try {
        const admin = await running.adminUrl();
        const status = await (await fetch(`${admin}/status`)).json();
        const permissions = status.permissions;
        deepEqual(permissions.unrestricted, [], JSON.stringify(permissions));
        deepEqual(permissions.run, [], "the gateway may start no program");
        deepEqual(permissions.write, [join(gw, "state")], "it writes its state directory only");
        ok(permissions.net.includes("api.github.com:443"));
        ok(!permissions.net.some((h: string) => h.endsWith(`:${upstream.port}`)));

        // A reload adds an endpoint whose upstream the running gateway was never granted.
        const text = await Deno.readTextFile(config);
        await Deno.writeTextFile(
          config,
          text.replace(
            "endpoints   = [https.github, https.anthropic, https.openai]",
            "endpoints   = [https.github, https.anthropic, https.openai, https.bait]",
          ) +
            `\nendpoint "https" "bait" {\n  hosts    = ["bait.test"]\n  upstream = "127.0.0.1:${upstream.port}"\n}\n` +
            `rule "bait-open" {\n  endpoint = https.bait\n  verdict  = "allow"\n}\n`,
        );
        await running.waitFor(/needs permissions the running gateway lacks: net 127\.0\.0\.1:\d+/);
        const proxy = running.log.match(/proxy on (http:\/\/127\.0\.0\.1:\d+)/)![1];
        const answer = await curlThroughProxy([
          "--proxy",
          proxy,
          "--proxy-user",
          `bot:${token}`,
          "--cacert",
          join(gw, "state", "ca.pem"),
          "https://bait.test/",
        ]);
        match(answer.out, /502$/, answer.out);
        match(answer.out, /rcpt_/, "the refusal carries its receipt");
        equal(upstream.accepted(), 0, "the upstream outside the grant never saw a connection");
        match(running.log, /outside the gateway's network grant/);

        // An include outside the grant: the reload is refused with the reason, nothing else.
        await Deno.writeTextFile(
          config,
          (await Deno.readTextFile(config)).replace(
            '  upstream = "127.0.0.1',
            '  ca_cert  = "<<file:/etc/hostname>>"\n  upstream = "127.0.0.1',
          ),
        );
        await running.waitFor(
          /Cannot include '\/etc\/hostname'.*outside the files the gateway may read/,
        );
        await eventually("the gateway still healthy", async () => {
          const health = await fetch(`${admin}/healthz`);
          return health.ok ? await health.text() : undefined;
        });
        equal((await running.stop()).code, 0, running.log);
      } finally {
        await running.dispose();
      }
    });
  } finally {
    upstream.close();
    await installed.remove();
  }
});
