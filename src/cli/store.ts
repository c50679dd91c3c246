/**
 * `clawpatrol store init | status [--json] | log [...] | verify`: the shared store of
 * `gateway.store`. `init` creates or upgrades its schema (what `serve` also does at start);
 * `status` reads its schema version and counts without changing anything, exit 1 when this build
 * cannot run against it as it is; `log` and `verify` read every gateway's receipts there.
 *
 * @module
 */

import { loadAndCompile } from "../gateway/mod.ts";
import { parseCommand, UsageError } from "./_args.ts";
import { out } from "./_io.ts";
import { storeLog, storeVerify } from "./_store_receipts.ts";

const SUBCOMMANDS = ["init", "status", "log", "verify"];

/**
 * Runs `clawpatrol store SUBCOMMAND`.
 *
 * @example
 * ```ts
 * await storeCommand(["status"]);
 * ```
 */
export async function storeCommand(args: string[]): Promise<number> {
  const { values, positionals, global } = parseCommand(args, {
    json: { type: "boolean" },
    limit: { type: "string" },
    gateway: { type: "string" },
    agent: { type: "string" },
    verdict: { type: "string" },
  });
  const [sub, ...rest] = positionals;
  if (sub === undefined || !SUBCOMMANDS.includes(sub)) {
    throw new UsageError(
      sub === undefined
        ? `store needs a subcommand: ${SUBCOMMANDS.join(", ")}`
        : `unknown store subcommand '${sub}': use ${SUBCOMMANDS.join(", ")}`,
    );
  }
  if (rest.length > 0) throw new UsageError(`store ${sub} takes no arguments`);
  if (values.json !== undefined && sub !== "status" && sub !== "log") {
    throw new UsageError(`--json is for 'store status' and 'store log', not 'store ${sub}'`);
  }
  for (const option of ["limit", "gateway", "agent", "verdict"]) {
    if (values[option] !== undefined && sub !== "log") {
      throw new UsageError(`--${option} is for 'store log', not 'store ${sub}'`);
    }
  }
  const { config } = await loadAndCompile(global.config);
  const settings = config.gateway.store;
  if (!settings) {
    throw new UsageError(
      "the config sets no gateway.store: state lives in state_dir (SQLite and files)",
    );
  }
  if (sub === "log") {
    const { limit, gateway, agent, verdict } = values as Record<string, string | undefined>;
    return await storeLog(settings, { json: values.json === true, limit, gateway, agent, verdict });
  }
  if (sub === "verify") return await storeVerify(settings);
  // Loaded here: every other command (serve among them) runs without the PostgreSQL client.
  const { openStore, SCHEMA_VERSION, storeStatus } = await import("../store/mod.ts");
  if (sub === "init") {
    const store = await openStore(settings);
    await store.close();
    const { from, to, applied } = store.migration;
    out(
      applied.length === 0
        ? `Store ${store.display}: schema already at version ${to}`
        : `Store ${store.display}: schema migrated from version ${from} to ${to} (${
          applied.map((m) => m.what).join(", ")
        })`,
    );
    return 0;
  }
  const status = await storeStatus(settings);
  if (values.json === true) {
    out(JSON.stringify(status, null, 2));
  } else {
    out(`store: ${status.display}`);
    out(`schema: version ${status.schema} (this clawpatrol: ${SCHEMA_VERSION})`);
    out(`agents: ${status.agents.active} active, ${status.agents.revoked} revoked`);
    out(`approvals waiting: ${status.pendingApprovals}`);
    for (const g of status.gateways) {
      out(`gateway ${g.id}: ${g.alive ? "up" : "not seen"} (last heartbeat ${g.seenAt})`);
    }
  }
  if (status.schema > SCHEMA_VERSION) {
    out("The store's schema is newer than this clawpatrol: upgrade it before serving");
    return 1;
  }
  if (status.schema < SCHEMA_VERSION) {
    out("The schema is behind: run 'clawpatrol store init' (serve also migrates at start)");
    return 1;
  }
  return 0;
}
