// The CLI end to end, as a real subprocess: usage errors, version, help, and finding the config.
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { cli, initDir, withTempDir } from "./_helpers.ts";

const lines = (s: string) => s.split("\n").filter((l) => l.trim() !== "");

// ---- usage, errors, version ----

Deno.test("an unknown command exits 2 with one line and no stack trace", async () => {
  const r = await cli(["frobnicate"]);
  equal(r.code, 2);
  deepEqual(lines(r.stderr), ["Unknown command 'frobnicate': run 'clawpatrol help'"]);
  equal(r.stdout, "");
});

Deno.test("an unknown option exits 2 with one line and no stack trace", async () => {
  const r = await cli(["check", "--frobnicate"]);
  equal(r.code, 2);
  deepEqual(lines(r.stderr), ["Usage error: Unknown option '--frobnicate'"]);
});

Deno.test("-c without a value is a usage error naming the option", async () => {
  const r = await cli(["check", "-c"]);
  equal(r.code, 2);
  equal(lines(r.stderr).length, 1, r.stderr);
  match(r.stderr, /^Usage error: .*-c/);
});

Deno.test("--debug adds a stack trace to a runtime error; without it the error is one line", async () => {
  await withTempDir(async (dir) => {
    const config = await initDir(dir);
    await Deno.chmod(join(dir, "state"), 0o755);
    const plain = await cli(["serve", "-c", config]);
    equal(plain.code, 1);
    deepEqual(lines(plain.stderr).length, 1, plain.stderr);
    match(plain.stderr, /^Error: State directory .* run 'chmod 700 /);
    const debug = await cli(["serve", "-c", config, "--debug"]);
    equal(debug.code, 1);
    match(debug.stderr, /^Error: State directory /);
    match(debug.stderr, /^\s+at .*\.ts:\d+:\d+/m);
  });
});

Deno.test("version prints clawpatrol X.Y.Z", async () => {
  const [a, b] = await Promise.all([cli(["version"]), cli(["--version"])]);
  equal(a.code, 0);
  match(a.stdout, /^clawpatrol \d+\.\d+\.\d+\b/);
  equal(b.stdout, a.stdout);
});

Deno.test("help exits 0 listing the commands; no arguments prints help and exits 2", async () => {
  const [help, none] = await Promise.all([cli(["help"]), cli([])]);
  equal(help.code, 0);
  for (const c of ["init", "serve", "start", "check", "test", "log", "version"]) {
    match(help.stdout, new RegExp(`^  ${c}\\b`, "m"));
  }
  equal(none.code, 2);
  match(none.stdout + none.stderr, /Usage: clawpatrol COMMAND/);
});

// ---- finding the config ----

Deno.test("-c works before and after the command, and overrides CLAWPATROL_CONFIG", async () => {
  await withTempDir(async (dir) => {
    const config = await initDir(join(dir, "gw"));
    const elsewhere = join(dir, "elsewhere");
    await Deno.mkdir(elsewhere);
    const [before, after, long, overrides] = await Promise.all([
      cli(["-c", config, "check"], { cwd: elsewhere }),
      cli(["check", "-c", config], { cwd: elsewhere }),
      cli(["check", `--config=${config}`], { cwd: elsewhere }),
      cli(["check", "-c", config], { cwd: elsewhere, env: { CLAWPATROL_CONFIG: "/nonexistent" } }),
    ]);
    for (const r of [before, after, long, overrides]) {
      equal(r.code, 0, r.stderr);
      ok(r.stdout.startsWith(`${config}: ok: `), r.stdout);
    }
  });
});

Deno.test("CLAWPATROL_CONFIG is used when -c is not given; an empty one means unset", async () => {
  await withTempDir(async (dir) => {
    const config = await initDir(join(dir, "gw"));
    const elsewhere = join(dir, "elsewhere");
    await Deno.mkdir(elsewhere);
    const fromEnv = await cli(["check"], { cwd: elsewhere, env: { CLAWPATROL_CONFIG: config } });
    equal(fromEnv.code, 0, fromEnv.stderr);
    ok(fromEnv.stdout.startsWith(`${config}: ok: `), fromEnv.stdout);
    const empty = await cli(["check"], { cwd: join(dir, "gw"), env: { CLAWPATROL_CONFIG: "" } });
    equal(empty.code, 0, empty.stderr);
    ok(empty.stdout.startsWith("./gateway.hcl: ok: "), empty.stdout);
  });
});
