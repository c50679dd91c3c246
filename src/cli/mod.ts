/**
 * The command line. The only module that writes to stdout/stderr.
 *
 * @module
 */

import { ConfigError } from "../core/mod.ts";
import { beforeSeparator, findCommand, UsageError } from "./_args.ts";
import { err } from "./_io.ts";
import { agentCommand } from "./agent.ts";
import { approvalsCommand } from "./approvals.ts";
import { checkCommand } from "./check.ts";
import { dashboardCommand } from "./dashboard.ts";
import { envCommand } from "./env.ts";
import { helpCommand } from "./help.ts";
import { initCommand } from "./init.ts";
import { kubeconfigCommand } from "./kubeconfig.ts";
import { logCommand } from "./log.ts";
import { permissionsCommand } from "./permissions.ts";
import { quickstartCommand } from "./quickstart.ts";
import { statusCommand } from "./status.ts";
import { storeCommand } from "./store.ts";
import { systemdUnitCommand } from "./systemd_unit.ts";
import { replayCommand } from "./replay.ts";
import { reportCommand } from "./report.ts";
import { runCommand } from "./run.ts";
import { serveCommand, startCommand } from "./serve.ts";
import { testCommand } from "./test.ts";
import { tunnelCommand } from "./tunnel.ts";
import { vaultCommand } from "./vault.ts";
import { versionCommand } from "./version.ts";

const COMMANDS: Record<string, (args: string[]) => Promise<number> | number> = {
  init: initCommand,
  serve: serveCommand,
  start: startCommand,
  quickstart: quickstartCommand,
  check: checkCommand,
  test: testCommand,
  log: logCommand,
  replay: replayCommand,
  report: reportCommand,
  agent: agentCommand,
  approvals: approvalsCommand,
  dashboard: dashboardCommand,
  vault: vaultCommand,
  env: envCommand,
  run: runCommand,
  kubeconfig: kubeconfigCommand,
  permissions: permissionsCommand,
  status: statusCommand,
  store: storeCommand,
  "systemd-unit": systemdUnitCommand,
  tunnel: tunnelCommand,
  version: versionCommand,
  help: helpCommand,
};

/**
 * Runs one CLI invocation and returns the process exit code (0 ok, 1 failure, 2 usage/config).
 * Errors print as one line; `--debug` adds the stack.
 *
 * @example
 * ```ts
 * Deno.exit(await runCli(Deno.args));
 * ```
 */
export async function runCli(args: string[]): Promise<number> {
  // Everything after `--` belongs to a child command (`clawpatrol run … -- CMD --help`): options
  // and the command word are only looked for before it.
  const own = beforeSeparator(args);
  const debug = own.includes("--debug");
  const index = own.findIndex((a) => !a.startsWith("-"));
  // Global options may come before the command: `clawpatrol -c x.hcl check`.
  const commandAt = findCommand(own);
  const name = commandAt === -1 ? undefined : args[commandAt];
  const rest = commandAt === -1
    ? args
    : [...args.slice(0, commandAt), ...args.slice(commandAt + 1)];
  if (name === undefined) {
    if (own.includes("--version")) return versionCommand();
    if (index === -1 && (args.length === 0 || own.includes("-h") || own.includes("--help"))) {
      helpCommand();
      return args.length === 0 ? 2 : 0;
    }
  }
  const command = name ? COMMANDS[name] : undefined;
  if (!command) {
    err(`Unknown command '${name ?? args.join(" ")}': run 'clawpatrol help'`);
    return 2;
  }
  const restOwn = beforeSeparator(rest);
  if (restOwn.includes("-h") || restOwn.includes("--help")) return helpCommand();
  try {
    return await command(rest);
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const line of e.message.split("\n")) err(line);
      err(`${e.problems.length} problem${e.problems.length === 1 ? "" : "s"} found`);
      return 2;
    }
    if (e instanceof UsageError) {
      err(`Usage error: ${e.message}`);
      return 2;
    }
    err(`Error: ${(e as Error).message ?? String(e)}`);
    if (debug && e instanceof Error && e.stack) err(e.stack);
    return 1;
  }
}
