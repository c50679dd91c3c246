// The README's start command, `deno task start`, in a fresh copy of the app: it writes the
// starter config and state beside it, and serves under the launcher's computed grant.
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { REPO, withTempDir, withTimeout } from "./_helpers.ts";
import { APP_FILES } from "./_installed.ts";

Deno.test("deno task start inits on first run and serves under the computed grant", async () => {
  await withTempDir(async (dir) => {
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
      env: { NO_COLOR: "1" },
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
      ok(status.permissions.write[0].endsWith("/state"));
      ok((await Deno.stat(join(dir, "gateway.hcl"))).isFile);
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await reader.cancel().catch(() => {});
    }
  });
});
