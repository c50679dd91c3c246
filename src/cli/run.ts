/**
 * `clawpatrol run --agent NAME [--token T] -- COMMAND [ARGS...]`: runs a command with the agent's
 * environment (the one `clawpatrol env` prints) and exits with its exit code.
 *
 * @module
 */

import { parseCommand, UsageError } from "./_args.ts";
import { agentEnvironment, openAgents } from "./_agent_env.ts";
import { authenticateAgent, readToken, TOKEN_ENV } from "./_agent_token.ts";
import { err } from "./_io.ts";
import { IsolateError, runIsolated } from "./_isolate.ts";
import { whileForwarding } from "./_child.ts";

const USAGE =
  "clawpatrol run --agent NAME [--token T] [--isolate [--as USER]] -- COMMAND [ARGS...]";

/**
 * Runs `clawpatrol run`. Everything after `--` goes to the command untouched. The token comes
 * from `--token`, `$CLAWPATROL_AGENT_TOKEN` or a prompt that does not echo, never from stdin
 * (that belongs to the command), and `CLAWPATROL_AGENT_TOKEN` is removed from the command's
 * environment. Exit code: the command's; 128+N when a signal N ended it; 127 when it was not found.
 *
 * @example
 * ```ts
 * const code = await runCommand(["--agent", "oncall-bot", "--", "curl", "https://api.github.com"]);
 * ```
 */
export async function runCommand(args: string[]): Promise<number> {
  const separator = args.indexOf("--");
  const own = separator === -1 ? args : args.slice(0, separator);
  const command = separator === -1 ? [] : args.slice(separator + 1);
  const { values, positionals, global } = parseCommand(own, {
    agent: { type: "string", short: "a" },
    token: { type: "string" },
    isolate: { type: "boolean" },
    as: { type: "string" },
  });
  if (positionals.length > 0 || command.length === 0) {
    throw new UsageError(`run needs the command after '--': ${USAGE}`);
  }
  const name = values.agent;
  if (typeof name !== "string" || name === "") {
    throw new UsageError(`run needs --agent NAME: ${USAGE}`);
  }
  const opened = await openAgents(global);
  const token = await readToken(name, {
    given: values.token as string | undefined,
    fromStdin: false,
  });
  if (token === null) {
    err("Interrupted");
    return 130;
  }
  const agent = authenticateAgent(opened.registry, name, token);
  // Checked: a shared store's connections need not stay open for as long as COMMAND runs.
  await opened.close();
  if (values.isolate) {
    Deno.env.delete(TOKEN_ENV);
    try {
      return await runIsolated({ opened, agent, command, as: values.as as string | undefined });
    } catch (e) {
      if (!(e instanceof IsolateError)) throw e;
      err(`Error: ${e.message}`);
      return 2;
    }
  }
  if (values.as !== undefined) throw new UsageError(`--as goes with --isolate: ${USAGE}`);
  const env = Object.fromEntries(await agentEnvironment(opened, agent, token));
  // The child inherits this process's environment; the token already travels in the proxy URL
  // (and the kubeconfig, and PGPASSWORD, when the profile has them).
  Deno.env.delete(TOKEN_ENV);
  return await spawn(command, env);
}

async function spawn(command: string[], env: Record<string, string>): Promise<number> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(command[0], {
      args: command.slice(1),
      env,
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      err(`Error: Command not found: '${command[0]}'`);
      return 127;
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      err(`Error: Cannot run '${command[0]}': permission denied`);
      return 126;
    }
    throw e;
  }
  // Deno reports a signal death as code 128+N already, like a shell.
  return (await whileForwarding(child, () => child.status)).code;
}
