// `deno task start` (what the README's start command, `sh bootstrap.sh start`, ends in) in a
// fresh copy of the app: it writes the starter config and state where the user's state lives,
// outside the checkout, and serves under the launcher's computed grant.
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { REPO, withTempDir, withTimeout } from "./_helpers.ts";
import { APP_FILES } from "./_installed.ts";

Deno.test("deno task start inits in the user's state directory on first run and serves under the computed grant", async () => {
  await withTempDir(async (root) => {
    const dir = join(root, "checkout");
    const stateHome = join(root, "state-home");
    await Deno.mkdir(dir);
    for (const name of APP_FILES) {
      const cp = await new Deno.Command("cp", { args: ["-R", join(REPO, name), dir] }).output();
      equal(cp.code, 0, `copy ${name}`);
    }
    const installed = await new Deno.Command(Deno.execPath(), {
      args: ["install", "--quiet"],
      cwd: dir,
    }).output();
    equal(installed.code, 0, new TextDecoder().decode(installed.stderr));
    const child = new Deno.Command(Deno.execPath(), {
      args: ["task", "start", "--proxy-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"],
      cwd: dir,
      env: { NO_COLOR: "1", XDG_STATE_HOME: stateHome },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let log = "";
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    try {
      const admin = await withTimeout(
        (async () => {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) throw new Error(`start exited: ${log}`);
            log += value;
            const m = log.match(/admin on (http:\/\/127\.0\.0\.1:\d+)/);
            if (m) return m[1];
          }
        })(),
        60_000,
        "the serving line",
      );
      match(log, /running 'clawpatrol init/);
      // Every command it suggests runs as printed from a checkout.
      match(log, /Enrol an agent: +deno task cli agent add my-agent --profile default -c /);
      match(log, /fix="deno task cli vault set github_pat"/);
      const status = await (await fetch(`${admin}/status`)).json();
      equal(status.permissions.write.length, 1, "it writes its state directory only");
      equal(status.permissions.write[0], join(stateHome, "clawpatrol", "state"));
      ok((await Deno.stat(join(stateHome, "clawpatrol", "gateway.hcl"))).isFile);
      // Nothing lands in the checkout: one `git add -A` there commits no vault key.
      equal(await Deno.stat(join(dir, "gateway.hcl")).catch(() => null), null);
      equal(await Deno.stat(join(dir, "state")).catch(() => null), null);
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await reader.cancel().catch(() => {});
    }
  });
});
