// install.sh end to end: installs into a temp prefix from a copy of the checkout, then runs the
// installed command from elsewhere. The copy keeps the test independent of concurrent edits and
// lets us prove the installer leaves its source tree untouched.
import assert from "node:assert/strict";
import { join } from "node:path";
import { APP_FILES } from "./_installed.ts";

const REPO = new URL("..", import.meta.url).pathname;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(
  cmd: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
): Promise<Result> {
  const out = await new Deno.Command(cmd, { args, cwd, env, clearEnv: true, stdin: "null" })
    .output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

function explain(r: Result): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/** Every file and directory under `dir`, with size and mtime: any write shows up as a change. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const entries = new Map<string, string>();
  async function walk(rel: string): Promise<void> {
    for await (const e of Deno.readDir(join(dir, rel))) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      const info = await Deno.lstat(join(dir, path));
      entries.set(path, `${info.isDirectory ? "d" : "f"}:${info.size}:${info.mtime?.getTime()}`);
      if (info.isDirectory) await walk(path);
    }
  }
  await walk("");
  return entries;
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

async function denoDir(): Promise<string> {
  const fromEnv = Deno.env.get("DENO_DIR");
  if (fromEnv) return fromEnv;
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stderr: "null" })
    .output();
  return JSON.parse(new TextDecoder().decode(out.stdout)).denoDir;
}

interface Sandbox {
  root: string;
  checkout: string;
  prefix: string;
  home: string;
  work: string;
  env: Record<string, string>;
}

async function withSandbox(fn: (s: Sandbox) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "clawpatrol-install-" });
  try {
    const s: Sandbox = {
      root,
      checkout: join(root, "checkout"),
      prefix: join(root, "prefix"),
      home: join(root, "home"),
      // A space in the path exercises the launcher's quoting.
      work: join(root, "work dir"),
      env: {},
    };
    for (const dir of [s.checkout, s.home, s.work]) await Deno.mkdir(dir);
    for (const name of APP_FILES) {
      const from = join(REPO, name);
      if (await Deno.lstat(from).then(() => true, () => false)) {
        const cp = await run("cp", ["-R", from, join(s.checkout, name)], root, {
          PATH: Deno.env.get("PATH") ?? "",
        });
        assert.equal(cp.code, 0, explain(cp));
      }
    }
    // A fake HOME shows whether the installer writes to ~ (shell rc files, ~/.local); Deno's
    // module cache stays the shared one so the install needs no network.
    s.env = {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: s.home,
      DENO_DIR: await denoDir(),
      NO_COLOR: "1",
    };
    await fn(s);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function install(s: Sandbox, ...extra: string[]): Promise<Result> {
  return await run(
    "sh",
    [join(s.checkout, "install.sh"), "--prefix", s.prefix, ...extra],
    s.work,
    s.env,
  );
}

Deno.test("install.sh --launcher installs a clawpatrol that runs from any directory", async () => {
  await withSandbox(async (s) => {
    const before = await snapshot(s.checkout);
    const installed = await install(s, "--launcher");
    assert.equal(installed.code, 0, explain(installed));
    assert.match(installed.stdout, /clawpatrol init/);
    assert.match(installed.stdout, /clawpatrol serve/);

    // Nothing outside the prefix: the source tree, HOME and the cwd are as they were.
    assert.deepEqual(await snapshot(s.checkout), before, "source checkout untouched");
    assert.deepEqual(await listDir(s.home), [], "nothing written to HOME");
    assert.deepEqual(await listDir(s.work), [], "nothing written to the cwd");
    assert.deepEqual(await listDir(s.root), ["checkout", "home", "prefix", "work dir"]);

    assert.deepEqual(await listDir(join(s.prefix, "lib")), ["clawpatrol"], "no staging leftovers");
    const lib = await listDir(join(s.prefix, "lib", "clawpatrol"));
    for (const name of ["main.ts", "deno.json", "src", "node_modules"]) {
      assert.ok(lib.includes(name), name);
    }

    const launcher = await Deno.readTextFile(join(s.prefix, "bin", "clawpatrol"));
    assert.match(launcher, /^#!\/bin\/sh\n/);
    assert.match(launcher, /--no-prompt/);
    // The grant is worked out per command by the app, then the command runs under it.
    assert.match(launcher, /permissions -- "\$@"/);
    assert.match(launcher, /^CLAWPATROL_FETCH=0$/m, "an installed app never fetches");
    assert.doesNotMatch(
      launcher,
      /--allow-all|\s-A\s|--allow-(read|write|net|run|env|sys|ffi)(\s|\\|$)/m,
      "no unscoped grant",
    );

    const bin = join(s.prefix, "bin", "clawpatrol");
    const version = await run(bin, ["version"], s.work, s.env);
    assert.equal(version.code, 0, explain(version));
    assert.match(version.stdout, /^clawpatrol \d+\.\d+\.\d+/);

    // A cwd with its own deno.json must not change which config/import map the app uses.
    const project = join(s.root, "other-project");
    await Deno.mkdir(project);
    await Deno.writeTextFile(join(project, "deno.json"), JSON.stringify({ imports: {} }));
    const elsewhere = await run(bin, ["version"], project, s.env);
    assert.equal(elsewhere.code, 0, explain(elsewhere));
    assert.match(elsewhere.stdout, /^clawpatrol \d+\.\d+\.\d+/);

    // The real work runs under the launcher's narrow permissions: init writes config and state
    // in the cwd, check loads it (HCL WASM, CEL) without asking for more.
    const project2 = join(s.root, "gateway-home");
    await Deno.mkdir(project2);
    const init = await run(bin, ["init"], project2, s.env);
    assert.equal(init.code, 0, explain(init));
    const check = await run(bin, ["check"], project2, s.env);
    assert.equal(check.code, 0, explain(check));
    assert.match(check.stdout, /gateway\.hcl: ok: 3 endpoints/);
  });
});

/**
 * npm packages only tests and benches import: an install must not fetch them. npm:postgres is
 * not among them: it is the shared store's client (`gateway.store`).
 */
const TEST_ONLY_PACKAGES = /^(pg|pg-protocol|dns-packet)@/;

Deno.test("install.sh installs only the npm packages main.ts reaches, not the test drivers", async () => {
  await withSandbox(async (s) => {
    const installed = await install(s, "--launcher");
    assert.equal(installed.code, 0, explain(installed));
    const lib = join(s.prefix, "lib", "clawpatrol");
    // The production module graph, resolved as the launcher runs it (the installed config and lock).
    const info = await run(Deno.execPath(), ["info", "--json", "main.ts"], lib, s.env);
    assert.equal(info.code, 0, explain(info));
    const packages = Object.keys(JSON.parse(info.stdout).npmPackages);
    assert.ok(packages.includes("libpg-query@18.1.5"), packages.join(" "));
    assert.ok(packages.includes("postgres@3.4.9"), packages.join(" "));
    assert.deepEqual(packages.filter((p) => TEST_ONLY_PACKAGES.test(p)), []);
    const fetched = await listDir(join(lib, "node_modules", ".deno"));
    assert.deepEqual(fetched.filter((p) => TEST_ONLY_PACKAGES.test(p)), []);
    assert.doesNotMatch(await Deno.readTextFile(join(lib, "deno.lock")), /"npm:pg[@-]/);
    const benches = await run("find", [join(lib, "src"), "-name", "*_bench.ts"], s.work, s.env);
    assert.equal(benches.stdout, "", "benches are not installed");
  });
});

Deno.test("install.sh re-run upgrades an existing install in place", async () => {
  await withSandbox(async (s) => {
    assert.equal((await install(s, "--launcher")).code, 0);
    const stale = join(s.prefix, "lib", "clawpatrol", "src", "stale_module.ts");
    await Deno.writeTextFile(stale, "export {};\n");

    const again = await install(s, "--launcher");
    assert.equal(again.code, 0, explain(again));
    await assert.rejects(Deno.lstat(stale), Deno.errors.NotFound, "old files do not linger");
    assert.deepEqual(await listDir(join(s.prefix, "lib")), ["clawpatrol"]);
    const version = await run(join(s.prefix, "bin", "clawpatrol"), ["version"], s.work, s.env);
    assert.equal(version.code, 0, explain(version));
  });
});

Deno.test("install.sh rejects an unknown option with exit 2 and usage", async () => {
  await withSandbox(async (s) => {
    const bogus = await install(s, "--bogus");
    assert.equal(bogus.code, 2, explain(bogus));
    assert.match(bogus.stderr, /unknown option '--bogus'/);
    assert.match(bogus.stderr, /Usage: sh install\.sh/);
    assert.deepEqual(await listDir(s.root), ["checkout", "home", "work dir"], "installs nothing");
  });
});

Deno.test("install.sh --help prints usage and exits 0", async () => {
  await withSandbox(async (s) => {
    const help = await run("sh", [join(s.checkout, "install.sh"), "--help"], s.work, s.env);
    assert.equal(help.code, 0, explain(help));
    assert.match(help.stdout, /Usage: sh install\.sh \[--prefix DIR\] \[--launcher\]/);
  });
});
