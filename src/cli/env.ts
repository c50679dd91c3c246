/**
 * `clawpatrol env --agent NAME [--token T]`: POSIX shell `export` lines that point a shell's tools
 * at the gateway as that agent (`eval "$(clawpatrol env --agent NAME)"`), kubectl included
 * (`KUBECONFIG`) when its profile reaches a kubernetes endpoint.
 *
 * @module
 */

import { parseCommand, UsageError } from "./_args.ts";
import { agentEnvironment, openAgents, shellQuote } from "./_agent_env.ts";
import { authenticateAgent, readToken } from "./_agent_token.ts";
import { err, out } from "./_io.ts";

/**
 * Runs `clawpatrol env`. The token comes from `--token`, `$CLAWPATROL_AGENT_TOKEN`, a line of
 * stdin when it is not a terminal, or a prompt that does not echo; it is checked before anything
 * is printed.
 *
 * @example
 * ```ts
 * await envCommand(["--agent", "oncall-bot"]); // export HTTPS_PROXY='http://oncall-bot:…@127.0.0.1:8080' …
 * ```
 */
export async function envCommand(args: string[]): Promise<number> {
  const { values, positionals, global } = parseCommand(args, {
    agent: { type: "string", short: "a" },
    token: { type: "string" },
  });
  if (positionals.length > 0) throw new UsageError("env takes no arguments (use --agent NAME)");
  const name = values.agent;
  if (typeof name !== "string" || name === "") throw new UsageError("env needs --agent NAME");
  const opened = await openAgents(global);
  const token = await readToken(name, {
    given: values.token as string | undefined,
    fromStdin: true,
  });
  if (token === null) {
    err("Interrupted");
    return 130;
  }
  const agent = authenticateAgent(opened.registry, name, token);
  const vars = await agentEnvironment(opened, agent, token);
  for (const [key, value] of vars) out(`export ${key}=${shellQuote(value)}`);
  return 0;
}
