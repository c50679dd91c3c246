/**
 * `clawpatrol store init | status [--json]`: the shared store of `gateway.store`. `init` creates
 * or upgrades its schema (what `serve` also does at start); `status` reads its schema version and
 * counts without changing anything, exit 1 when this build cannot run against it as it is.
 *
 * @module
 */

import { loadAndCompile } from "../gateway/mod.ts";
import { parseCommand, UsageError } from "./_args.ts";
import { out } from "./_io.ts";

/**
 * Runs `clawpatrol store SUBCOMMAND`.
 *
 * @example
 * ```ts
 * await storeCommand(["status"]);
 * ```
 */
export async function storeCommand(args: string[]): Promise<number> {
  const { values, positionals, global } = parseCommand(args, { json: { type: "boolean" } });
  const [sub, ...rest] = positionals;
  if (sub !== "init" && sub !== "status") {
    throw new UsageError(
      sub === undefined
        ? "store needs a subcommand: init or status"
        : `unknown store subcommand '${sub}': use init or status`,
    );
  }
  if (rest.length > 0) throw new UsageError(`store ${sub} takes no arguments`);
  if (values.json !== undefined && sub !== "status") {
    throw new UsageError("--json is for 'store status', not 'store init'");
  }
  const { config } = await loadAndCompile(global.config);
  const settings = config.gateway.store;
  if (!settings) {
    throw new UsageError(
      "the config sets no gateway.store: state lives in state_dir (SQLite and files)",
    );
  }
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
