// The README's two top commands on a machine without Deno: they are read from README.md and run
// in a fresh copy of the checkout with Deno absent from PATH. A fake npm stands in for the
// registry (it records its calls and "installs" the real deno binary into its prefix), and, as
// root, fake dpkg-query/apt-get report one Debian package missing and record the install, so
// nothing here touches the network.
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { REPO, withTempDir, withTimeout } from "./_helpers.ts";
import { APP_FILES } from "./_installed.ts";
import { cleanEnv, commandsOf, denoDir, readmeBlock } from "./_readme.ts";

/** Programs the fake machine gets as scripts instead of the real ones. */
const FAKED = ["deno", "npm", "dpkg-query", "apt-get"];

const FAKE_NPM = `#!/bin/sh
echo "npm $*" >>"$FAKE_LOG"
case "$1 $2" in
  "install -g") [ "\${FAKE_NPM_FAIL:-0}" = 1 ] && exit 1; mkdir -p "$FAKE_NPM_PREFIX/bin" && ln -sf "$REAL_DENO" "$FAKE_NPM_PREFIX/bin/deno" ;;
  "prefix -g") echo "$FAKE_NPM_PREFIX" ;;
esac
`;
// Everything is installed but dnsutils (whose dig the tests use; `command -v dnsutils` fails).
const FAKE_DPKG_QUERY = `#!/bin/sh
for last; do :; done
[ "$last" = dnsutils ] && { printf 'unknown ok not-installed'; exit 0; }
printf 'install ok installed'
`;
const FAKE_APT_GET = `#!/bin/sh
echo "apt-get $*" >>"$FAKE_LOG"
`;

/** A PATH like ours with deno nowhere on it, and fakes first. */
async function pathWithoutDeno(root: string): Promise<string> {
  const fake = join(root, "fakebin");
  await Deno.mkdir(fake);
  const dirs = [fake];
  for (const dir of (Deno.env.get("PATH") ?? "").split(":").filter(Boolean)) {
    let names: string[];
    try {
      names = [...Deno.readDirSync(dir)].map((e) => e.name);
    } catch {
      continue;
    }
    if (!names.some((n) => FAKED.includes(n))) {
      dirs.push(dir);
      continue;
    }
    // A directory holding deno (or a program we fake) is mirrored without it.
    for (const name of names.filter((n) => !FAKED.includes(n))) {
      await Deno.symlink(join(dir, name), join(fake, name)).catch(() => {});
    }
  }
  await Deno.writeTextFile(join(fake, "npm"), FAKE_NPM, { mode: 0o755 });
  if (Deno.uid() === 0) {
    await Deno.writeTextFile(join(fake, "dpkg-query"), FAKE_DPKG_QUERY, { mode: 0o755 });
    await Deno.writeTextFile(join(fake, "apt-get"), FAKE_APT_GET, { mode: 0o755 });
  }
  return dirs.join(":");
}

async function freshClone(root: string): Promise<string> {
  const clone = join(root, "clawpatrol");
  await Deno.mkdir(clone);
  for (const name of [...APP_FILES, "bootstrap.sh", ".ci"]) {
    const cp = await new Deno.Command("cp", { args: ["-R", join(REPO, name), clone] }).output();
    equal(cp.code, 0, `copy ${name}`);
  }
  return clone;
}

interface Machine {
  clone: string;
  env: Record<string, string>;
  log: string;
  stateHome: string;
}

async function withMachine(fn: (m: Machine) => Promise<void>, extra: Record<string, string> = {}) {
  await withTempDir(async (root) => {
    const log = join(root, "calls.log");
    await Deno.writeTextFile(log, "");
    const stateHome = join(root, "state");
    const env = cleanEnv({
      PATH: await pathWithoutDeno(root),
      FAKE_LOG: log,
      FAKE_NPM_PREFIX: join(root, "npm-global"),
      REAL_DENO: Deno.execPath(),
      DENO_DIR: await denoDir(),
      XDG_STATE_HOME: stateHome,
      ...extra,
    });
    const which = await new Deno.Command("sh", {
      args: ["-c", "command -v deno"],
      env,
      clearEnv: true,
    })
      .output();
    ok(which.code !== 0, "deno is absent from the fake machine's PATH");
    await fn({ clone: await freshClone(root), env, log, stateHome });
  });
}

/** The README's two top commands, as `sh bootstrap.sh start|test` argv. */
async function topCommands(): Promise<{ start: string[]; test: string[] }> {
  const [start, test] = commandsOf(await readmeBlock("top-commands"))
    .map((line) => line.replace(/#.*$/, "").trim().split(/\s+/));
  equal(start.join(" "), "sh bootstrap.sh start");
  equal(test.join(" "), "sh bootstrap.sh test");
  return { start, test };
}

Deno.test("the README's start command installs Deno from npm when missing, then serves", async () => {
  const { start } = await topCommands();
  await withMachine(async ({ clone, env, log, stateHome }) => {
    const child = new Deno.Command(start[0], {
      args: [...start.slice(1), "--proxy-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"],
      cwd: clone,
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let text = "";
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    try {
      await withTimeout(
        (async () => {
          while (!/admin on http:\/\/127\.0\.0\.1:\d+/.test(text)) {
            const { value, done } = await reader.read();
            if (done) throw new Error(`start exited: ${text}`);
            text += value;
          }
        })(),
        120_000,
        "the serving line",
      );
      match(await Deno.readTextFile(log), /^npm install -g deno@2$/m);
      ok((await Deno.stat(join(stateHome, "clawpatrol", "gateway.hcl"))).isFile);
      // Quiet: no download noise before the useful lines.
      ok(!/Download|Initialize/.test(text), text);
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await reader.cancel().catch(() => {});
    }
  });
});

Deno.test("the README's test command installs Deno and missing Debian packages, then tests", async () => {
  const { test } = await topCommands();
  await withMachine(async ({ clone, env, log }) => {
    const out = await new Deno.Command(test[0], {
      // A single small test file: the point is the bootstrap, not the whole suite again.
      args: [...test.slice(1), "src/cli/_starter_test.ts"],
      cwd: clone,
      env,
      clearEnv: true,
      stdin: "null",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    equal(out.code, 0, text);
    match(text, /1 passed/);
    const calls = await Deno.readTextFile(log);
    match(calls, /^npm install -g deno@2$/m);
    if (Deno.uid() === 0) match(calls, /^apt-get install -y -q --no-install-recommends dnsutils$/m);
  });
});

Deno.test("the README's start command says what failed when Deno cannot be installed", async () => {
  const { start } = await topCommands();
  await withMachine(async ({ clone, env }) => {
    const child = new Deno.Command(start[0], {
      args: start.slice(1),
      cwd: clone,
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // Were it to start serving anyway, the test must fail rather than wait forever.
    const out = await withTimeout(child.output(), 60_000, "start to give up").finally(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone: the expected case.
      }
    });
    const stderr = new TextDecoder().decode(out.stderr);
    equal(out.code, 1, stderr);
    match(stderr, /deno --version fails after 'npm install -g deno@2'/);
    equal(new TextDecoder().decode(out.stdout), "", "no summary line outside CI");
  }, { FAKE_NPM_FAIL: "1" });
});
