/**
 * The command line. The only module that writes to stdout/stderr.
 *
 * @module
 */
import { versionCommand } from "./version.ts";

/** Runs one CLI invocation and returns the process exit code (0 ok, 1 failure, 2 usage/config). */
export async function runCli(args: string[]): Promise<number> {
  const [command] = args;
  if (command === "version" || command === "--version") return await Promise.resolve(versionCommand());
  console.error(`Unknown command '${command ?? ""}': run 'clawpatrol help'`);
  return 2;
}
