// `deno task compile` bakes in the grant the launcher computes for `serve`: the same flags, from
// the same step (tools/compile.sh asks `clawpatrol permissions -- serve`), so they cannot drift.
// Deno's runtime download, which `deno compile` needs, is unreachable here: the script prints
// the command instead of running it.
import { deepEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import { cli, initDir, REPO, withTempDir } from "./_helpers.ts";

Deno.test("the compiled binary's permissions are the launcher's grant for serve", async () => {
  await withTempDir(async (dir) => {
    const config = await initDir(join(dir, "gw"));
    const out = await new Deno.Command("sh", {
      args: [join(REPO, "tools", "compile.sh")],
      cwd: dir,
      env: { CLAWPATROL_CONFIG: config, CLAWPATROL_COMPILE_PRINT: "1", CLAWPATROL_FETCH: "1" },
    }).output();
    equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const args = new TextDecoder().decode(out.stdout).trimEnd().split("\n");
    equal(args[0], "compile");
    const grant = await cli(["permissions", "--", "serve", "-c", config]);
    equal(grant.code, 0, grant.stderr);
    const flags = grant.stdout.trimEnd().split("\n");
    deepEqual(args.slice(1, 1 + flags.length), flags);
    match(flags.join(" "), /--allow-write=\S+\/gw\/state/);
    deepEqual(args.slice(1 + flags.length), [
      "--include",
      join(REPO, "rules"),
      "--include",
      join(REPO, "src", "dashboard", "static"),
      "--output",
      join(REPO, "clawpatrol"),
      join(REPO, "main.ts"),
    ]);
  });
});

Deno.test("compile refuses to guess a config: the grant is one config's", async () => {
  await withTempDir(async (dir) => {
    const out = await new Deno.Command("sh", {
      args: [join(REPO, "tools", "compile.sh")],
      cwd: dir,
      env: { PATH: Deno.env.get("PATH") ?? "", CLAWPATROL_COMPILE_PRINT: "1" },
      clearEnv: true,
    }).output();
    equal(out.code, 2);
    match(new TextDecoder().decode(out.stderr), /set CLAWPATROL_CONFIG/);
  });
});
