/**
 * clawpatrol entry point: hands argv to the CLI and exits with its code.
 *
 * @module
 */
import { runCli } from "./src/cli/mod.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
