/**
 * `clawpatrol help`.
 *
 * @module
 */

import { out } from "./_io.ts";

/** The usage text. */
export const USAGE = `clawpatrol: a security firewall for AI agents

Usage: clawpatrol COMMAND [options]

Commands:
  init [DIR] [--force]   write a starter gateway.hcl, rule packs and state/ (CA, vault key)
  serve                  run the gateway; reloads the config when it changes
  start                  init when no config exists, then serve
  check                  validate the config: a summary, or every problem with file:line
  test FIXTURE...        replay rule fixtures; [--require-coverage] fails on unexercised rules
  log                    recent receipts: [--follow] [--json] [--verdict allow|deny]
                         [--agent NAME] [--since 10m|ISO-TIME] [--limit N]
  log verify             check the receipts' hash chain; reports the first broken row
  agent add NAME --profile PROFILE
                         enrol an agent; prints its token once, as the last line of stdout
  agent list [--json]    enrolled agents: name, profile, created, rotated, status (never tokens)
  agent revoke NAME      the agent's token stops working; the name is never reused
  agent rotate NAME      a new token, printed once as the last line; the old one stops working
  env --agent NAME [--token T]
                         shell exports for the agent (proxy with its credentials, CA bundle,
                         credential placeholders): eval "$(clawpatrol env --agent NAME)"
  run --agent NAME [--token T] -- COMMAND [ARGS...]
                         run COMMAND with that environment; exits with its exit code
                         token: --token, else $CLAWPATROL_AGENT_TOKEN, else a prompt (env also
                         reads one line of stdin when it is not a terminal)
  version                print the version

Global options:
  -c, --config PATH      config file or directory (default ./gateway.hcl, env CLAWPATROL_CONFIG)
  --debug                show stack traces and debug logs
  -h, --help             this help

Exit codes: 0 ok, 1 failure, 2 usage or config error.`;

/** Prints usage. */
export function helpCommand(): number {
  out(USAGE);
  return 0;
}
