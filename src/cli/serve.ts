/**
 * `clawpatrol serve` and `clawpatrol start` (init when no config exists, then serve).
 *
 * @module
 */

import { basename, dirname, join, resolve } from "node:path";
import { Gateway } from "../gateway/mod.ts";
import { parseCommand, UsageError } from "./_args.ts";
import { err, StderrLogger } from "./_io.ts";
import { initialise } from "./init.ts";
import { VERSION } from "./version.ts";

/** Runs `clawpatrol serve`: until SIGINT/SIGTERM, then stops cleanly. */
export async function serveCommand(args: string[]): Promise<number> {
  const { positionals, global } = parseCommand(args, {});
  if (positionals.length > 0) throw new UsageError("serve takes no arguments (use -c CONFIG)");
  return await serve(global.config, global.debug);
}

/** Runs `clawpatrol start`: `init` beside the config when it does not exist yet, then serve. */
export async function startCommand(args: string[]): Promise<number> {
  const { positionals, global } = parseCommand(args, {});
  if (positionals.length > 0) throw new UsageError("start takes no arguments (use -c CONFIG)");
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
    await initialise(dir, false);
  }
  return await serve(global.config, global.debug);
}

async function serve(configPath: string, debug: boolean): Promise<number> {
  const log = new StderrLogger(debug);
  const gateway = await Gateway.start(configPath, { log, version: VERSION });
  const stopped = new Promise<void>((resolveStop) => {
    const stop = () => resolveStop();
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
  });
  await stopped;
  log.log("info", "shutting down");
  await gateway.stop();
  return 0;
}
