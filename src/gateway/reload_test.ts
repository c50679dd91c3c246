import { deepEqual, equal } from "node:assert/strict";
import { join } from "node:path";
import type { Config } from "../config/mod.ts";
import { restartOnlySettings, watchConfig } from "./reload.ts";

const DEBOUNCE_MS = 30;
/** How long a test waits to be sure no (further) reload comes. */
const QUIET_MS = 300;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` with a temp dir and a reload counter; the watcher is stopped and the dir removed. */
async function withWatch(
  setup: (dir: string) => Promise<{ files: string[]; configPath: string }>,
  fn: (ctx: { dir: string; calls: () => number; until: (n: number) => Promise<void> }) => Promise<
    void
  >,
  debounceMs = DEBOUNCE_MS,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_reload_" });
  let count = 0;
  let stop = () => {};
  try {
    const { files, configPath } = await setup(dir);
    stop = watchConfig(files, configPath, debounceMs, () => {
      count++;
      return Promise.resolve();
    });
    // inotify watches are in place once watchFs returns; a short pause absorbs setup events.
    await sleep(50);
    count = 0;
    const until = async (n: number) => {
      const deadline = Date.now() + 5_000;
      while (count < n) {
        if (Date.now() > deadline) throw new Error(`Timed out waiting for ${n} reloads (${count})`);
        await sleep(10);
      }
    };
    await fn({ dir, calls: () => count, until });
  } finally {
    stop();
    await Deno.remove(dir, { recursive: true });
  }
}

const singleFile = async (dir: string) => {
  const configPath = join(dir, "gateway.hcl");
  await Deno.writeTextFile(configPath, "schema_version = 1\n");
  return { files: [configPath], configPath };
};

Deno.test("watchConfig reloads once for a burst of writes", async () => {
  await withWatch(singleFile, async ({ dir, calls, until }) => {
    for (let i = 0; i < 5; i++) {
      await Deno.writeTextFile(join(dir, "gateway.hcl"), `# ${i}\n`, { append: true });
    }
    await until(1);
    await sleep(QUIET_MS);
    equal(calls(), 1);
  }, 150);
});

Deno.test("watchConfig keeps seeing edits after editors' rename-on-save", async () => {
  await withWatch(singleFile, async ({ dir, until }) => {
    const config = join(dir, "gateway.hcl");
    for (let i = 1; i <= 3; i++) {
      await Deno.writeTextFile(`${config}.swp`, `schema_version = 1\n# save ${i}\n`);
      await Deno.rename(`${config}.swp`, config);
      await until(i);
      await sleep(DEBOUNCE_MS * 2);
    }
  });
});

Deno.test("watchConfig ignores other files beside a single-file config", async () => {
  await withWatch(singleFile, async ({ dir, calls }) => {
    await Deno.writeTextFile(join(dir, "notes.txt"), "x");
    await Deno.writeTextFile(join(dir, "other.hcl"), "x");
    await Deno.mkdir(join(dir, "state"));
    await Deno.writeTextFile(join(dir, "state", "receipts.db"), "x");
    await sleep(QUIET_MS);
    equal(calls(), 0);
  });
});

Deno.test("watchConfig on a config directory sees new and removed .hcl files, not dotfiles", async () => {
  const setup = async (dir: string) => {
    const conf = join(dir, "conf");
    await Deno.mkdir(conf);
    await Deno.writeTextFile(join(conf, "a.hcl"), "schema_version = 1\n");
    return { files: [join(conf, "a.hcl")], configPath: conf };
  };
  await withWatch(setup, async ({ dir, calls, until }) => {
    const conf = join(dir, "conf");
    await Deno.writeTextFile(join(conf, ".#a.hcl"), "lock");
    await Deno.writeTextFile(join(conf, "README.md"), "x");
    await sleep(QUIET_MS);
    equal(calls(), 0, "dotfiles and non-.hcl files are ignored");
    await Deno.writeTextFile(join(conf, "b.hcl"), "# new\n");
    await until(1);
    await sleep(DEBOUNCE_MS * 2);
    await Deno.remove(join(conf, "b.hcl"));
    await until(2);
  });
});

Deno.test("watchConfig stops calling back once stopped", async () => {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_reload_" });
  try {
    const { files, configPath } = await singleFile(dir);
    let count = 0;
    const stop = watchConfig(files, configPath, DEBOUNCE_MS, () => {
      count++;
      return Promise.resolve();
    });
    await Deno.writeTextFile(configPath, "# edit\n", { append: true });
    stop(); // before the debounce fires: the pending reload is cancelled too
    await Deno.writeTextFile(configPath, "# edit\n", { append: true });
    await sleep(QUIET_MS);
    equal(count, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The parts of a config restartOnlySettings() reads. */
function listeners(
  gateway: Partial<Config["gateway"]>,
  endpoints: { name: string; protocol: string; listen?: string }[],
): Config {
  return {
    gateway: { stateDir: "./state", adminListen: "a:1", proxyListen: "p:1", ...gateway },
    endpoints: new Map(endpoints.map((e) => [e.name, e])),
  } as unknown as Config;
}

Deno.test("restartOnlySettings() names the gateway's own listeners and state dir, not endpoint listeners", () => {
  const before = listeners({}, [
    { name: "pg", protocol: "postgres", listen: "127.0.0.1:15432" },
    { name: "gh", protocol: "https" },
  ]);
  deepEqual(restartOnlySettings(before, before), []);
  const after = listeners({ adminListen: "a:2", proxyListen: "p:2" }, [
    { name: "pg", protocol: "postgres", listen: "127.0.0.1:15433" },
    { name: "gh", protocol: "https" },
    { name: "k8s", protocol: "kubernetes", listen: "127.0.0.1:16443" },
  ]);
  deepEqual(restartOnlySettings(before, after), ["gateway.admin_listen", "gateway.proxy_listen"]);
  // A reload opens, moves and closes endpoint listeners itself (_listener_set.ts).
  const moved = listeners({}, [{ name: "pg", protocol: "postgres", listen: "127.0.0.1:15433" }]);
  deepEqual(restartOnlySettings(before, moved), []);
  deepEqual(restartOnlySettings(before, listeners({ stateDir: "./other" }, [])), [
    "gateway.state_dir",
  ]);
});
