/**
 * `clawpatrol serve` and `clawpatrol start` (init when no config exists, then serve).
 *
 * @module
 */

import { basename, dirname, join, resolve } from "node:path";
import { Gateway } from "../gateway/mod.ts";
import { parseCommand, UsageError } from "./_args.ts";
import { err, StderrLogger } from "./_io.ts";
import { initialise, LISTEN_OPTIONS, nextSteps, starterListen } from "./init.ts";
import { vaultUnlock } from "./_vault_unlock.ts";
import { type OpenVaultOptions, VaultKeyMismatchError } from "../credentials/mod.ts";
import { VERSION } from "./version.ts";

/** Runs `clawpatrol serve`: until SIGINT/SIGTERM, then stops cleanly. */
export async function serveCommand(args: string[]): Promise<number> {
  const { values, positionals, global } = parseCommand(args, UNLOCK_OPTIONS);
  if (positionals.length > 0) throw new UsageError("serve takes no arguments (use -c CONFIG)");
  const vault = vaultUnlock({ passphraseStdin: values["passphrase-stdin"] === true });
  return await serve(global.config, global.debug, vault);
}

const UNLOCK_OPTIONS = { "passphrase-stdin": { type: "boolean" } } as const;

/**
 * Runs `clawpatrol start`: `init` beside the config when it does not exist yet, then serve.
 * `--proxy-listen`/`--admin-listen` go into the config it writes; an existing one keeps its own.
 */
export async function startCommand(args: string[]): Promise<number> {
  const { values, positionals, global } = parseCommand(args, {
    ...UNLOCK_OPTIONS,
    ...LISTEN_OPTIONS,
  });
  if (positionals.length > 0) throw new UsageError("start takes no arguments (use -c CONFIG)");
  const passphraseStdin = values["passphrase-stdin"] === true;
  const listen = starterListen(values);
  try {
    await Deno.stat(global.config);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    const dir = dirname(resolve(global.config));
    // Refuse before writing anything: init always names the file gateway.hcl.
    if (basename(global.config) !== "gateway.hcl") {
      throw new UsageError(
        `No config at ${global.config}, and init writes gateway.hcl: start with -c ${
          join(dir, "gateway.hcl")
        }`,
      );
    }
    err(`No config at ${global.config}: running 'clawpatrol init ${dir}' first`);
    const created = vaultUnlock({ passphraseStdin, createWithPassphrase: passphraseStdin });
    const configPath = await initialise(dir, { vault: created, ...listen });
    for (const line of nextSteps(configPath, "enrol")) err(line);
    return await serve(global.config, global.debug, created);
  }
  if (Object.keys(listen).length > 0) {
    // The config is the one source of listen addresses: a flag that silently lost would mislead.
    err(
      `Note: ${global.config} exists; its own proxy_listen and admin_listen apply, not the flags`,
    );
  }
  return await serve(global.config, global.debug, vaultUnlock({ passphraseStdin }));
}

async function serve(
  configPath: string,
  debug: boolean,
  vault: OpenVaultOptions,
): Promise<number> {
  const log = new StderrLogger(debug);
  // Listen for signals before anything says "serving": a SIGTERM sent as soon as that line
  // appears must stop the gateway cleanly, not kill it with the default action.
  const stopped = new Promise<void>((resolveStop) => {
    const stop = () => resolveStop();
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
  });
  let gateway: Gateway;
  try {
    gateway = await Gateway.start(configPath, { log, version: VERSION, vault });
  } catch (e) {
    // The shared vault's key differs on this host: refused like a config problem, nothing served.
    if (!(e instanceof VaultKeyMismatchError)) throw e;
    err(`Error: ${e.message}`);
    return 2;
  }
  await stopped;
  log.log("info", "shutting down");
  await gateway.stop();
  return 0;
}
