/**
 * An agent's token on the command line of `env`, `run` and `kubeconfig`: read without echoing it
 * (never from argv unless `--token` is given), and checked against the agent registry.
 *
 * @module
 */

import type { AgentRegistry } from "../agents/mod.ts";
import type { AgentFacts } from "../core/mod.ts";
import { UsageError } from "./_args.ts";

/** Environment variable `env` and `run` read the token from when `--token` is not given. */
export const TOKEN_ENV = "CLAWPATROL_AGENT_TOKEN";

/** Options for {@linkcode readToken}. */
export interface ReadTokenOptions {
  /** `--token`, when given. */
  given?: string;
  /** Read one line from stdin when it is not a terminal (`env`; never `run`: stdin is the child's). */
  fromStdin: boolean;
  /**
   * Read stdin before looking at `$CLAWPATROL_AGENT_TOKEN` (`kubeconfig --token-stdin`, an
   * explicit choice); a terminal still gets the prompt that does not echo.
   * @default {false}
   */
  stdinFirst?: boolean;
  /**
   * How to supply a token, for the error when there is none and no terminal to prompt on.
   * @default {"pass --token or set CLAWPATROL_AGENT_TOKEN"}
   */
  howToPass?: string;
}

/**
 * The agent's token: `--token`, else `$CLAWPATROL_AGENT_TOKEN`, else one line of stdin when it is
 * not a terminal (if allowed), else a prompt on the terminal that does not echo. `null` when the
 * prompt was interrupted (Ctrl-C). An empty token is a usage error.
 *
 * @example
 * ```ts
 * const token = await readToken("oncall-bot", { given: values.token, fromStdin: false });
 * ```
 */
export async function readToken(agent: string, options: ReadTokenOptions): Promise<string | null> {
  let token = options.given ??
    (options.stdinFirst ? undefined : Deno.env.get(TOKEN_ENV) || undefined);
  if (token === undefined) {
    if (!Deno.stdin.isTerminal()) {
      if (!options.fromStdin && !options.stdinFirst) {
        const how = options.howToPass ?? `pass --token or set ${TOKEN_ENV}`;
        throw new UsageError(
          `no token for agent '${agent}': ${how} (stdin is not a terminal to prompt on)`,
        );
      }
      token = await readLine();
    } else {
      const typed = await promptNoEcho(`Token for agent '${agent}': `);
      if (typed === null) return null;
      token = typed;
    }
  }
  token = token.trim();
  if (token === "") throw new UsageError(`empty token for agent '${agent}'`);
  return token;
}

/** One line of stdin, read byte by byte so nothing past the newline is consumed. */
async function readLine(): Promise<string> {
  const bytes: number[] = [];
  const buf = new Uint8Array(1);
  while (bytes.length < 4096) {
    const n = await Deno.stdin.read(buf);
    if (n === null || buf[0] === 0x0a) break;
    if (n === 1) bytes.push(buf[0]);
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** Reads a line from the terminal in raw mode, echoing nothing; `null` on Ctrl-C. */
async function promptNoEcho(prompt: string): Promise<string | null> {
  const encoder = new TextEncoder();
  Deno.stderr.writeSync(encoder.encode(prompt));
  const bytes: number[] = [];
  const buf = new Uint8Array(1);
  Deno.stdin.setRaw(true);
  try {
    while (bytes.length < 4096) {
      const n = await Deno.stdin.read(buf);
      if (n === null) break;
      const b = buf[0];
      if (b === 0x0d || b === 0x0a) break;
      if (b === 0x03) return null; // Ctrl-C
      if (b === 0x04) { // Ctrl-D
        if (bytes.length === 0) break;
        continue;
      }
      if (b === 0x7f || b === 0x08) bytes.pop();
      else if (b === 0x15) bytes.length = 0; // Ctrl-U
      else bytes.push(b);
    }
  } finally {
    Deno.stdin.setRaw(false);
    Deno.stderr.writeSync(encoder.encode("\n"));
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/**
 * The agent's facts when `token` is its current token; otherwise throws an error saying why
 * (unknown, revoked, or the token does not match), never repeating the token.
 *
 * @example
 * ```ts
 * const agent = authenticateAgent(registry, "oncall-bot", token);
 * ```
 */
export function authenticateAgent(
  registry: AgentRegistry,
  name: string,
  token: string,
): AgentFacts {
  const agent = registry.authenticate(name, token);
  if (agent) return agent;
  const record = registry.list().find((r) => r.name === name);
  if (!record) throw new Error(`Unknown agent '${name}': see 'clawpatrol agent list'`);
  if (record.revokedAt !== null) {
    throw new Error(`Agent '${name}' is revoked (since ${record.revokedAt})`);
  }
  throw new Error(`Token does not match agent '${name}'`);
}
