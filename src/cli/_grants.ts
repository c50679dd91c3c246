/**
 * The grant each CLI command runs with, worked out before it runs (by `clawpatrol permissions`,
 * which the launcher calls): `serve` gets exactly what its config needs (gateway/grant.ts);
 * the others get the config and state they work on, and only `run` may start a program.
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { pathExists, splitHostPort } from "../core/mod.ts";
import { type Config, loadConfig, loadConfigText } from "../config/mod.ts";
import {
  APP_ENV,
  CA_BUNDLE_DIRS,
  configDirOf,
  type Grant,
  serveGrant,
  stateDirOf,
  storeGrant,
} from "../gateway/mod.ts";
import { PROTOCOLS } from "../protocols/registry.ts";
import { beforeSeparator, findCommand, type GlobalOptions, parseCommand } from "./_args.ts";
import { INIT_OPTIONS, LISTEN_OPTIONS, starterListen, starterStateDir } from "./init.ts";
import { readPacks, STARTER_PACKS, starterConfig } from "./_starter.ts";
import { gitProbePaths } from "./_git_work_tree.ts";
import { QUICKSTART_OPTIONS } from "./quickstart.ts";
import { KEPT } from "./_isolate_env.ts";
import { SUDO_PATHS } from "./_privileged.ts";
import {
  parsePostgresUrl,
  QUICKSTART_LINK_RANGE,
  QUICKSTART_VIP_RANGE,
  quickstartDir,
  readEnv,
} from "./_quickstart_config.ts";
import { findPostgresBin, POSTGRES_LIB, RUNUSER_PATHS } from "./_quickstart_pg.ts";

/** Commands that work on the config and its state directory (the vault, agents, receipts). */
const STATE_COMMANDS = new Set([
  "vault",
  "agent",
  "env",
  "kubeconfig",
  "approvals",
  "dashboard",
  "status",
  "run",
  "tunnel",
  "store",
]);
/** sudo where it is installed: a grant naming a missing program makes Deno complain. */
function sudo(): string[] {
  return SUDO_PATHS.filter((p) => pathExistsSync(p)).slice(0, 1);
}

/** Commands that may run a privileged step (`tunnel.sh`): as root, or through `sudo -n`. */
const PRIVILEGED = new Set(["agent", "tunnel"]);
/** Commands that talk to the running gateway's admin API. */
const ADMIN_COMMANDS = new Set(["approvals", "dashboard", "status"]);

/**
 * The grant for the CLI invocation `argv` (as `clawpatrol` would receive it). Reads the config
 * when the command's grant depends on it; its problems throw as they would for the command.
 *
 * @example
 * ```ts
 * const grant = await commandGrant(["serve", "-c", "gw/gateway.hcl"], "/opt/clawpatrol");
 * ```
 */
export async function commandGrant(argv: string[], app: string): Promise<Grant> {
  const at = findCommand(beforeSeparator(argv));
  const name = at === -1 ? undefined : argv[at];
  const rest = at === -1 ? argv : [...argv.slice(0, at), ...argv.slice(at + 1)];
  switch (name) {
    case "serve":
      return await serveFor(rest, app);
    case "start":
      return await startFor(rest, app);
    case "init":
      return initFor(rest, app);
    case "check":
    case "test":
      return readOnlyFor(rest, app);
    case "systemd-unit":
      return await unitFor(rest, app);
    case "permissions":
      // What the launcher's own grant step has: it reads the config, and nothing else.
      return plannerGrant(rest, app);
    case "log":
      return await logFor(rest, app);
    case "replay":
    case "report":
      return await replayFor(rest, app);
    case "quickstart":
      return quickstartFor(rest, app);
    default:
      if (name !== undefined && STATE_COMMANDS.has(name)) return await stateFor(name, argv, app);
      // help, version, and mistakes the command itself reports.
      return grantOf({ read: [app] });
  }
}

/** A grant with nothing but what is given (and the app's environment variables). */
function grantOf(parts: Partial<Grant>): Grant {
  return {
    read: [],
    write: [],
    net: [],
    env: [...APP_ENV],
    run: [],
    sys: ["osRelease"],
    warnings: [],
    ...parts,
  };
}

/** Parses a command's own options leniently: unknown ones are the command's to report. */
function globals(rest: string[]): GlobalOptions {
  const own = beforeSeparator(rest);
  let config: string | undefined;
  for (let i = 0; i < own.length; i++) {
    if (own[i] === "-c" || own[i] === "--config") config = own[++i];
    else if (own[i].startsWith("--config=")) config = own[i].slice("--config=".length);
  }
  config ??= Deno.env.get("CLAWPATROL_CONFIG") || undefined;
  return { config: config ?? "./gateway.hcl", configGiven: config !== undefined, debug: false };
}

async function load(path: string): Promise<Config> {
  return await loadConfig(path, { protocols: PROTOCOLS });
}

async function serveFor(rest: string[], app: string): Promise<Grant> {
  const config = await load(globals(rest).config);
  return serveGrant(config, PROTOCOLS, { app, configDir: await configDirOf(config) });
}

/**
 * `start` serves the config; without one it first writes the starter config beside where it
 * was looked for, so the grant is the starter's serve grant plus writing that directory (and,
 * like `init`, looking for a git work tree above it).
 */
async function startFor(rest: string[], app: string): Promise<Grant> {
  const { config } = globals(rest);
  if (await pathExists(config)) return await serveFor(rest, app);
  const { values } = parseCommand(rest, {
    "passphrase-stdin": { type: "boolean" },
    ...LISTEN_OPTIONS,
  });
  const configDir = dirname(resolve(config));
  const text = starterConfig(await readPacks(STARTER_PACKS), starterListen(values));
  const starter = await loadConfigText(resolve(config), text, {
    protocols: PROTOCOLS,
    baseDir: configDir,
  });
  const grant = serveGrant(starter, PROTOCOLS, { app, configDir });
  return {
    ...grant,
    read: [...grant.read, configDir, ...gitProbePaths(configDir)],
    write: [configDir],
  };
}

/**
 * `init [DIR]` writes DIR; it reads only the app (the rule packs), the CA bundles, and the `.git`
 * and `.gitignore` entries above DIR, to refuse a state directory `git add -A` would commit.
 * Those entries, not the directories holding them: a grant on `~` would open every file there.
 * (A `.git` directory's grant covers its contents too; Deno has no stat-only grant.)
 */
function initFor(rest: string[], app: string): Grant {
  const { positionals, values } = parseCommand(rest, INIT_OPTIONS);
  const target = resolve(positionals[0] ?? ".");
  // The state directory may sit elsewhere (--state-dir, or /var/lib for a config under /etc).
  const state = resolve(
    target,
    (values["state-dir"] as string | undefined) ?? starterStateDir(target),
  );
  const dirs = state.startsWith(`${target}/`) ? [target] : [target, state];
  const read = [app, ...dirs, ...dirs.flatMap(gitProbePaths), ...CA_BUNDLE_DIRS];
  return grantOf({ read, write: dirs });
}

/**
 * `quickstart` serves a gateway whose listeners and upstreams are all on loopback ports it picks
 * as it starts, so it gets loopback, not named ports (plus the `--postgres` host); it writes its
 * own directory only, plus, for a local PostgreSQL, the temporary directory the cluster lives in
 * (as root the server runs as `postgres`, which cannot reach a home directory) and runs only
 * initdb, pg_ctl, psql and runuser. `quickstart env` reads the directory and asks the gateway's
 * /healthz.
 */
function quickstartFor(rest: string[], app: string): Grant {
  const { values, positionals } = parseCommand(rest, QUICKSTART_OPTIONS);
  const dir = quickstartDir(values.dir as string | undefined);
  const env = [...APP_ENV, ...QUICKSTART_ENV];
  if (positionals[0] === "env") return grantOf({ read: [app, dir], net: ["127.0.0.1"], env });
  const bin = values.postgres === undefined ? findPostgresBin() : null;
  // Loopback, and the virtual IPs its gateway intercepts on for `run --isolate`.
  const net = ["127.0.0.1", QUICKSTART_VIP_RANGE, QUICKSTART_LINK_RANGE];
  if (typeof values.postgres === "string") net.push(parsePostgresUrl(values.postgres).address);
  const temp = bin === null ? [] : [resolve(readEnv("TMPDIR") || "/tmp")];
  const programs = bin === null ? [] : ["initdb", "pg_ctl", "psql"].map((p) => join(bin, p));
  const runuser = bin === null ? [] : RUNUSER_PATHS.filter((p) => pathExistsSync(p));
  return grantOf({
    read: [
      app,
      dir,
      ...gitProbePaths(dir),
      ...CA_BUNDLE_DIRS,
      ...temp,
      POSTGRES_LIB,
      ...RUNUSER_PATHS,
      "/etc/passwd",
    ],
    write: [dir, ...temp],
    net,
    env,
    run: [...programs, ...runuser],
    sys: ["osRelease", "uid"],
  });
}

/** What `quickstart` reads beyond the app's variables: where the user's state lives. */
const QUICKSTART_ENV = ["HOME", "XDG_STATE_HOME", "TMPDIR", "PGPASSWORD"];

function pathExistsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The launcher's grant step: it reads the app, the config and the CA bundles, nothing else. */
function plannerGrant(rest: string[], app: string): Grant {
  const configPath = resolve(globals(beforeSeparator(rest.slice(rest.indexOf("--") + 1))).config);
  const read = [app, Deno.cwd(), configPath, dirname(configPath), ...CA_BUNDLE_DIRS];
  return grantOf({ read });
}

/** `check` and `test` read the config's directory and the fixtures named; they write nothing. */
function readOnlyFor(rest: string[], app: string): Grant {
  const { config } = globals(rest);
  const configPath = resolve(config);
  const fixtures = beforeSeparator(rest).filter((a) => !a.startsWith("-") && a !== config)
    .map((a) => resolve(a));
  return grantOf({ read: [app, configPath, dirname(configPath), ...fixtures] });
}

/** `systemd-unit` reads the config; with `--output` it writes that file. */
async function unitFor(rest: string[], app: string): Promise<Grant> {
  const { config } = globals(rest);
  const loaded = await load(config);
  const output = optionValue(beforeSeparator(rest), "--output");
  const elsewhere = output === undefined ? [] : [dirname(resolve(output))];
  return grantOf({ read: [app, ...configReads(loaded, config), ...elsewhere], write: elsewhere });
}

/** `log` reads the receipts in the state directory. */
async function logFor(rest: string[], app: string): Promise<Grant> {
  const { config } = globals(rest);
  const loaded = await load(config);
  const state = await stateDirOf(loaded);
  return grantOf({ read: [app, ...configReads(loaded, config), state] });
}

/**
 * `replay` and `report` read the config (the candidate's, for replay), and the receipts: its
 * state directory's, or the directory of `--receipts PATH` (SQLite reads its journal beside it).
 */
async function replayFor(rest: string[], app: string): Promise<Grant> {
  const grant = await logFor(rest, app);
  const receipts = optionValue(beforeSeparator(rest), "--receipts");
  if (receipts !== undefined) grant.read.push(dirname(resolve(receipts)));
  return grant;
}

/** The vault, agents, env, kubeconfig, approvals and run work on the state directory. */
async function stateFor(name: string, argv: string[], app: string): Promise<Grant> {
  const { config } = globals(argv);
  const loaded = await load(config);
  const state = await stateDirOf(loaded);
  // The admin API where the config says, or where `--admin-url` points.
  const adminUrl = optionValue(beforeSeparator(argv), "--admin-url");
  const admin = adminUrl === undefined ? loaded.gateway.adminListen : urlHostPort(adminUrl);
  // `run --isolate` asks the gateway's DNS responder whether it is up before the command runs.
  const responder = loaded.gateway.transparent?.dnsListen;
  const store = storeGrant(loaded);
  const net = ADMIN_COMMANDS.has(name)
    ? [admin]
    : name === "run" && beforeSeparator(argv).includes("--isolate") && responder
    ? [splitHostPort(responder)[0]]
    : [];
  // With `gateway.store`, the agents (and the store command's schema) are there.
  net.push(...store.net);
  const separator = argv.indexOf("--");
  const program = name === "run" && separator !== -1 ? argv[separator + 1] : undefined;
  // Isolated, the command runs in a namespace the privileged step builds; this process starts
  // only that step (as root, or through sudo), and reads the variables it passes on.
  const isolate = name === "run" && beforeSeparator(argv).includes("--isolate");
  // `kubeconfig --output PATH` writes there (through a temporary file beside it), as does
  // `agent add --wireguard --output PATH` (the agent host's wg-quick file).
  const output = name === "kubeconfig" || name === "agent"
    ? optionValue(beforeSeparator(argv), "--output")
    : undefined;
  const elsewhere = output === undefined ? [] : [dirname(resolve(output))];
  return grantOf({
    read: [
      app,
      ...configReads(loaded, config),
      state,
      ...CA_BUNDLE_DIRS,
      ...elsewhere,
      ...store.read,
      // Whether a left-behind lease's run and namespace are gone.
      ...isolate ? ["/proc", "/run/netns"] : [],
    ],
    write: [state, ...elsewhere],
    net,
    run: isolate
      ? ["sh", ...sudo(), "id"]
      : program
      ? [program]
      : PRIVILEGED.has(name)
      ? ["sh", ...sudo()]
      : [],
    ...isolate ? { env: [...APP_ENV, ...KEPT], sys: ["osRelease", "uid", "gid"] } : {},
    // Enrolling a WireGuard peer and bringing a tunnel up run the privileged tunnel.sh step.
    ...PRIVILEGED.has(name) ? { sys: ["osRelease", "uid"] } : {},
  });
}

/** `host:port` of a URL (the scheme's port when it names none); the text itself if unparsable. */
function urlHostPort(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || (u.protocol === "https:" ? "443" : "80")}`;
  } catch {
    return url; // The command reports the bad URL itself.
  }
}

/** The value of `--name VALUE` or `--name=VALUE`, the last one given. */
function optionValue(args: string[], name: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === name) value = args[i + 1];
    else if (args[i].startsWith(`${name}=`)) value = args[i].slice(name.length + 1);
  }
  return value;
}

function configReads(config: Config, path: string): string[] {
  const resolved = resolve(path);
  return [resolved, dirname(resolved), ...config.files];
}
