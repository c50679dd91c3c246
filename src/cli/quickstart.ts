/**
 * `clawpatrol quickstart [--dir DIR] [--postgres URL]`: a whole demo on one machine, offline.
 * A throwaway PostgreSQL with a `users` table (or the database `--postgres` names), a local
 * HTTPS demo API, a gateway in front of both with a demo agent enrolled, and the exact commands
 * to try next. Runs until Ctrl-C or SIGTERM, then stops and removes what it started.
 * `clawpatrol quickstart env` prints the demo agent's exports once it is ready.
 *
 * @module
 */

import { join } from "node:path";
import { DEFAULT_SLOT, openVault } from "../credentials/mod.ts";
import { commandName, createState, Gateway, type Logger } from "../gateway/mod.ts";
import { parseCommand, UsageError } from "./_args.ts";
import { agentEnvironment, openAgents, shellQuote } from "./_agent_env.ts";
import { err, out } from "./_io.ts";
import { readSecret } from "./_secret_input.ts";
import { startDemoApi } from "./_quickstart_api.ts";
import {
  DEMO_API_HOST,
  parsePostgresUrl,
  quickstartConfig,
  quickstartDir,
  quickstartFiles,
  quickstartVipRange,
  readEnv,
} from "./_quickstart_config.ts";
import { quickstartEnv, readyFile } from "./_quickstart_env.ts";
import { type DemoDatabase, findPostgresBin, startDemoPostgres } from "./_quickstart_pg.ts";
import { refuseStateInGitWorkTree } from "./init.ts";
import { VERSION } from "./version.ts";

/** `quickstart`'s options. */
export const QUICKSTART_OPTIONS = {
  dir: { type: "string" },
  postgres: { type: "string" },
} as const;

/** The demo agent and its profile. */
const AGENT = { name: "demo", profile: "demo" };

/** Runs `clawpatrol quickstart` (or `quickstart env`). */
export async function quickstartCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand(args, QUICKSTART_OPTIONS);
  const dir = quickstartDir(values.dir as string | undefined);
  if (positionals[0] === "env" && positionals.length === 1) return await quickstartEnv(dir);
  if (positionals.length > 0) throw new UsageError("quickstart takes no arguments but 'env'");
  return await quickstart(dir, values.postgres as string | undefined);
}

/** What to undo, last first, whatever ends the quickstart. */
class Cleanup {
  #steps: (() => Promise<void> | void)[] = [];
  add(step: () => Promise<void> | void): void {
    this.#steps.push(step);
  }
  async run(): Promise<void> {
    for (const step of this.#steps.reverse()) {
      try {
        await step();
      } catch (e) {
        err(`Warning: cleanup: ${(e as Error).message}`);
      }
    }
    this.#steps = [];
  }
}

/** Ctrl-C or SIGTERM: asked once, checked between the slow steps and awaited at the end. */
class StopSignal {
  stopped = false;
  readonly promise: Promise<void>;
  #remove: () => void = () => {};
  constructor() {
    this.promise = new Promise((resolve) => {
      const stop = () => {
        this.stopped = true;
        resolve();
      };
      Deno.addSignalListener("SIGINT", stop);
      Deno.addSignalListener("SIGTERM", stop);
      this.#remove = () => {
        Deno.removeSignalListener("SIGINT", stop);
        Deno.removeSignalListener("SIGTERM", stop);
      };
    });
  }
  check(): void {
    if (this.stopped) throw new Error("Stopped before the quickstart was ready");
  }
  dispose(): void {
    this.#remove();
  }
}

async function quickstart(dir: string, postgresUrl: string | undefined): Promise<number> {
  const target = postgresUrl === undefined ? undefined : parsePostgresUrl(postgresUrl);
  const bin = target === undefined ? findPostgresBin() : null;
  if (target === undefined && bin === null) {
    throw new UsageError(
      "PostgreSQL's server binaries are not installed (/usr/lib/postgresql/*/bin/initdb): " +
        "install them (apt-get install postgresql), or point the quickstart at a database " +
        "with --postgres postgres://USER@HOST:5432/DB",
    );
  }
  // Asked before anything starts, so a refusal leaves nothing behind.
  const password = target === undefined ? undefined : await databasePassword();
  const signal = new StopSignal();
  const cleanup = new Cleanup();
  try {
    await prepareDir(dir, cleanup);
    const database = target === undefined
      ? await timed("Throwaway PostgreSQL", (say) => startDemoPostgres(bin!, say))
      : { ...target, password: password!, stop: () => Promise.resolve() };
    cleanup.add(() => database.stop());
    signal.check();
    const ready = await startGateway(dir, database, cleanup);
    signal.check();
    await Deno.writeTextFile(readyFile(dir), JSON.stringify({ pid: Deno.pid, ...ready }));
    cleanup.add(() => Deno.remove(readyFile(dir)).catch(() => {}));
    for (const line of nextCommands(dir, database)) out(line);
    await signal.promise;
    err("Stopping the quickstart…");
    return 0;
  } finally {
    signal.dispose();
    await cleanup.run();
    err(`Stopped. Receipts and config stay in ${dir} until the next quickstart.`);
  }
}

/** The password for `--postgres`: `$PGPASSWORD`, else typed at a prompt (never argv). */
async function databasePassword(): Promise<string> {
  const fromEnv = readEnv("PGPASSWORD");
  if (fromEnv) return fromEnv;
  return await readSecret("Database password: ", {
    what: "the database password",
    hint: "set PGPASSWORD",
  });
}

/**
 * Takes the quickstart's lock and gives it a fresh directory: one it made before is wiped,
 * anything else is refused (the quickstart only ever deletes its own).
 */
async function prepareDir(dir: string, cleanup: Cleanup): Promise<void> {
  const files = quickstartFiles(dir);
  await refuseStateInGitWorkTree(join(dir, "state"), dir);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const entries = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n !== ".lock");
  if (entries.length > 0 && !entries.includes(".clawpatrol-quickstart")) {
    throw new UsageError(`'${dir}' exists and was not made by the quickstart: pass --dir NEW_DIR`);
  }
  // The lock is an flock on an open file: the kernel drops it however the holder dies.
  const lock = await Deno.open(files.lock, { read: true, write: true, create: true, mode: 0o600 });
  if (!await lock.tryLock(true)) {
    lock.close();
    throw new Error(`A quickstart is already running in '${dir}': stop it first (Ctrl-C)`);
  }
  cleanup.add(() => lock.close());
  // The marker is never removed: a directory half wiped by a crash is still ours to wipe.
  for (const name of entries.filter((n) => n !== ".clawpatrol-quickstart")) {
    await Deno.remove(join(dir, name), { recursive: true });
  }
  await Deno.writeTextFile(files.marker, "made by clawpatrol quickstart; wiped by the next\n");
}

/** Runs a slow step, saying what it does and how long it took. */
async function timed<T>(what: string, step: (say: (s: string) => void) => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await step((s) => err(`quickstart: ${s}…`));
  err(`quickstart: ${what} ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

function freeAddress(): string {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return `127.0.0.1:${port}`;
}

/**
 * The demo API, the config, the state with the database password in the vault, the demo agent,
 * the gateway, and the agent's exports. Returns where the admin API answers.
 */
async function startGateway(
  dir: string,
  database: DemoDatabase,
  cleanup: Cleanup,
): Promise<{ adminUrl: string }> {
  const files = quickstartFiles(dir);
  const api = await startDemoApi(DEMO_API_HOST, files.apiCa);
  cleanup.add(() => api.stop());
  const [proxyListen, adminListen, postgresListen] = [freeAddress(), freeAddress(), freeAddress()];
  const plan = {
    proxyListen,
    adminListen,
    postgresListen,
    database,
    apiAddress: api.address,
    vipRange: quickstartVipRange(),
  };
  await Deno.writeTextFile(files.config, quickstartConfig(plan));
  const stateDir = join(dir, "state");
  return await timed("Gateway", async (say) => {
    say("creating the gateway's state (CA, vault) and enrolling agent 'demo'");
    await createState(stateDir, false, {});
    const vault = await openVault(stateDir, { create: true });
    try {
      await vault.set("demo_db_login", DEFAULT_SLOT, database.password);
    } finally {
      vault.close();
    }
    const opened = await openAgents({ config: files.config, configGiven: true, debug: false });
    const token = opened.registry.add(AGENT.name, AGENT.profile);
    say(`starting the gateway (its log: ${join(dir, "gateway.log")})`);
    const gateway = await Gateway.start(files.config, {
      log: fileLogger(join(dir, "gateway.log")),
      version: VERSION,
    });
    cleanup.add(() => gateway.stop());
    const vars = await agentEnvironment(opened, AGENT, token);
    // The token too, for `run --isolate` (the proxy URL and PGPASSWORD hold it already).
    const lines = [["CLAWPATROL_CONFIG", files.config], ["CLAWPATROL_AGENT_TOKEN", token], ...vars]
      .map(([name, value]) => `export ${name}=${shellQuote(value)}`);
    // The exports hold the agent's token: private, and written whole or not at all.
    await Deno.writeTextFile(`${files.env}.tmp`, `${lines.join("\n")}\n`, { mode: 0o600 });
    await Deno.rename(`${files.env}.tmp`, files.env);
    cleanup.add(() => Deno.remove(files.env).catch(() => {}));
    return { adminUrl: `http://${adminListen}` };
  });
}

/**
 * The gateway's log goes to a file: the quickstart usually runs in the background of the
 * shell the user types in, where a line per decision would bury psql's output.
 */
function fileLogger(path: string): Logger {
  const file = Deno.openSync(path, { append: true, create: true, mode: 0o600 });
  const encoder = new TextEncoder();
  return {
    log(level, message, fields) {
      const extra = Object.entries(fields ?? {}).filter(([, v]) => v !== undefined && v !== null)
        .map(([k, v]) => ` ${k}=${typeof v === "string" ? JSON.stringify(v) : String(v)}`);
      const line = `${new Date().toISOString()} ${level} ${message}${extra.join("")}\n`;
      try {
        file.writeSync(encoder.encode(line));
      } catch {
        // A full disk must not stop the demo; the receipts are what counts.
      }
    },
  };
}

/** What to type next, runnable as printed. */
export function nextCommands(dir: string, database: { user: string }): string[] {
  const cli = commandName();
  const dirFlag = dir === quickstartDir(undefined) ? "" : ` --dir ${shellQuote(dir)}`;
  return [
    "",
    `Ready: a gateway in front of a PostgreSQL database (as '${database.user}') and an HTTPS`,
    `demo API (${DEMO_API_HOST}), with agent 'demo' enrolled. Try, in this shell or another:`,
    "",
    `  eval "$(${cli} quickstart env${dirFlag})"   # this shell now acts as agent 'demo'`,
    `  psql -c 'SELECT * FROM users'                   # allowed, with a receipt`,
    `  psql -c 'DROP TABLE users'                      # denied by rule pg-no-ddl, with a receipt`,
    `  curl -s -X POST -d '{"title":"flaky test"}' https://${DEMO_API_HOST}/issues &   # held`,
    `  ${cli} approvals list                           # the held POST and its ID`,
    `  ${cli} approvals approve ID                     # curl gets its answer`,
    `  ${cli} log                                      # every decision with its receipt`,
    `  ${cli} run --isolate --agent demo -- sh         # no way around the gateway (asks sudo)`,
    "",
    "Ctrl-C (or kill %1 when it runs in the background) stops it and removes the database.",
  ];
}
