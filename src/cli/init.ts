/**
 * `clawpatrol init [DIR] [--force]`: writes a starter config, copies the starter packs, creates
 * the state directory with the gateway CA and the vault key.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { commandName, loadAndCompile } from "../gateway/mod.ts";
import { createState, stateDirOf } from "../gateway/mod.ts";
import { pathExists } from "../core/mod.ts";
import { parseCommand, UsageError } from "./_args.ts";
import { err, out } from "./_io.ts";
import { vaultUnlock } from "./_vault_unlock.ts";
import { gitIgnores, gitWorkTreeOf } from "./_git_work_tree.ts";
import type { OpenVaultOptions } from "../credentials/mod.ts";
import { isHostPort } from "../config/mod.ts";
import {
  PACKS_DIR,
  readPacks,
  SERVICE_STATE_DIR,
  STARTER_PACKS,
  starterConfig,
  type StarterListen,
} from "./_starter.ts";

/** Options for {@linkcode initialise}. */
export interface InitialiseOptions extends StarterListen {
  /**
   * Overwrite an existing config (and starter packs), and create the state directory even inside
   * a git work tree that does not visibly ignore it. @default {false}
   */
  force?: boolean;
  /** How to create the vault. @default {{}} (a master.key file) */
  vault?: OpenVaultOptions;
}

/**
 * Writes the starter config into `dir`; returns the config path. Used by `init` and `start`.
 *
 * @example
 * ```ts
 * const config = await initialise("./gw", { adminListen: "127.0.0.1:9081" });
 * ```
 */
export async function initialise(dir: string, options: InitialiseOptions = {}): Promise<string> {
  const { force = false, vault = {} } = options;
  const configPath = join(dir, "gateway.hcl");
  if (!force && await pathExists(configPath)) {
    throw new UsageError(`'${configPath}' already exists: pass --force to overwrite it`);
  }
  const stateSetting = options.stateDir ?? starterStateDir(dir);
  // Before anything is written: a refusal leaves nothing behind to trip the next attempt.
  if (!force) await refuseStateInGitWorkTree(resolve(dir, stateSetting), dir);
  await Deno.mkdir(dir, { recursive: true });
  const packs = await readPacks(STARTER_PACKS);
  await Deno.writeTextFile(
    configPath,
    starterConfig(packs, { ...options, stateDir: stateSetting }),
  );
  const rulesDir = join(dir, "rules");
  await Deno.mkdir(rulesDir, { recursive: true });
  for await (const entry of Deno.readDir(PACKS_DIR)) {
    if (!entry.isFile || !entry.name.endsWith(".hcl")) continue;
    const target = join(rulesDir, entry.name);
    if (force || !(await pathExists(target))) {
      await Deno.writeTextFile(target, await Deno.readTextFile(new URL(entry.name, PACKS_DIR)));
    }
  }
  // The starter config must load as written; fail loudly here rather than at first serve.
  const { config } = await loadAndCompile(configPath);
  const stateDir = await stateDirOf(config);
  if (!force && stateDir !== resolve(dir, stateSetting)) {
    await refuseStateInGitWorkTree(stateDir, dir);
  }
  // --force rewrites the config and packs only: a new CA would break every agent's trust in it,
  // and a new vault key would make stored credentials undecryptable. Missing files are created.
  await createState(stateDir, false, vault);
  return configPath;
}

/**
 * The starter config's `state_dir`: beside the config, except for a config under `/etc/`, whose
 * state goes where a systemd service keeps it (`/var/lib/clawpatrol`, its StateDirectory).
 */
export function starterStateDir(dir: string): string {
  return resolve(dir).startsWith("/etc/") ? SERVICE_STATE_DIR : "./state";
}

/**
 * Refuses a state directory inside a git work tree whose .gitignore files do not ignore it:
 * `master.key`, `admin.token` and the agents' verifiers would be one `git add -A` from a
 * commit. Checked without git (the CLI starts no programs): see `_git_work_tree.ts`.
 *
 * @throws {UsageError} naming the work tree and the two ways out.
 */
export async function refuseStateInGitWorkTree(stateDir: string, dir: string): Promise<void> {
  const tree = await gitWorkTreeOf(stateDir);
  if (tree === null || await gitIgnores(tree.root, stateDir)) return;
  throw new UsageError(
    `State directory '${stateDir}' would be inside the git work tree '${tree.root}', and no .gitignore there ignores it: one 'git add -A' would commit the vault with its key (master.key) and the admin token: put the gateway directory outside the checkout (clawpatrol init ~/clawpatrol-gateway), or, if git ignores it another way, run 'clawpatrol init --force ${dir}'`,
  );
}

/** `--proxy-listen` and `--admin-listen`: where the config `init` or `start` writes listens. */
export const LISTEN_OPTIONS = {
  "proxy-listen": { type: "string" },
  "admin-listen": { type: "string" },
} as const;

/** `init`'s own options. */
export const INIT_OPTIONS = {
  force: { type: "boolean" },
  passphrase: { type: "boolean" },
  "passphrase-stdin": { type: "boolean" },
  "state-dir": { type: "string" },
  ...LISTEN_OPTIONS,
} as const;

/**
 * The starter listen addresses given on the command line. Checked before anything is written:
 * they go into the config text as is.
 *
 * @throws {UsageError} when one is not `host:port`.
 */
export function starterListen(values: Record<string, unknown>): StarterListen {
  const listen: StarterListen = {};
  for (
    const [flag, key] of [["proxy-listen", "proxyListen"], ["admin-listen", "adminListen"]] as const
  ) {
    const value = values[flag];
    if (value === undefined) continue;
    if (typeof value !== "string" || !isHostPort(value)) {
      throw new UsageError(`--${flag} must be host:port, got '${value}'`);
    }
    listen[key] = value;
  }
  return listen;
}

/** Runs `clawpatrol init`. */
export async function initCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand(args, INIT_OPTIONS);
  if (positionals.length > 1) throw new UsageError("init takes at most one directory");
  const listen = starterListen(values);
  const dir = resolve(positionals[0] ?? ".");
  const passphraseStdin = values["passphrase-stdin"] === true;
  const vault = vaultUnlock({
    passphraseStdin,
    createWithPassphrase: passphraseStdin || values.passphrase === true,
  });
  const stateDir = values["state-dir"] as string | undefined;
  if (stateDir !== undefined && (stateDir === "" || /["\\\n$]/.test(stateDir))) {
    throw new UsageError(`--state-dir must be a plain path, got '${stateDir}'`);
  }
  const configPath = await initialise(dir, {
    force: values.force === true,
    vault,
    ...listen,
    stateDir,
  });
  for (const retired of await retiredPacks(join(dir, "rules"))) {
    err(
      `Warning: ${retired.file} is a starter pack from an earlier release; its rules now live in ${retired.now}: remove it (loading rules/ with both fails on duplicate rule names)`,
    );
  }
  out(
    `Created ${configPath}, starter packs in ${join(dir, "rules")}/, state in ${
      resolve(dir, stateDir ?? starterStateDir(dir))
    }/`,
  );
  out("");
  for (const line of nextSteps(configPath, "serve")) out(line);
  return 0;
}

/**
 * What to do after init, as commands that run as printed (`clawpatrol`, or `deno task cli` from
 * a checkout). `start` has already started serving, so it suggests enrolling an agent instead.
 */
export function nextSteps(configPath: string, then: "serve" | "enrol"): string[] {
  const cli = commandName();
  const c = `-c ${configPath}`;
  const second = then === "serve"
    ? `  2. Start the gateway:             ${cli} serve ${c}`
    : `  2. Enrol an agent:                ${cli} agent add my-agent --profile default ${c}`;
  return [
    "Next steps:",
    `  1. Review ${configPath}, then run: ${cli} check ${c}`,
    second,
    `  3. Watch decisions as they land:  ${cli} log --follow ${c}`,
  ];
}

/** Starter packs earlier releases wrote and where their rules went. */
const RETIRED_PACKS: Record<string, string> = {
  "k8s_secrets.hcl": "kubernetes.hcl",
  "k8s_workloads.hcl": "kubernetes.hcl",
};

/**
 * Retired packs still in `rulesDir`. They are the user's files now (perhaps edited), so init
 * points at them instead of deleting them.
 */
export async function retiredPacks(rulesDir: string): Promise<{ file: string; now: string }[]> {
  const found: { file: string; now: string }[] = [];
  for (const [name, now] of Object.entries(RETIRED_PACKS)) {
    if (await pathExists(join(rulesDir, name))) found.push({ file: join(rulesDir, name), now });
  }
  return found;
}
