/**
 * Opening the shared store: connect, bring the schema up to date (or refuse a newer one), and
 * the readings `store status` prints.
 *
 * @module
 */

import type { StoreConfig } from "../config/mod.ts";
import { connectStore, type ConnectStoreOptions, type Sql } from "./_connect.ts";
import { migrate, type MigrationResult, SCHEMA_VERSION, schemaVersion } from "./migrations.ts";

/** An open store: its pool, and where it is (without the password). */
export interface Store {
  sql: Sql;
  /** The URL without its password. */
  display: string;
  /** What opening it migrated (`applied` empty when the schema was current). */
  migration: MigrationResult;
  /** Ends the pool, waiting up to a second for queries in flight. */
  close(): Promise<void>;
}

/**
 * Connects and migrates. Errors name the store by its URL without the password.
 *
 * @throws {StoreSchemaError} when the store's schema is newer than this build.
 * @example
 * ```ts
 * const store = await openStore(config.gateway.store!);
 * await store.close();
 * ```
 */
export async function openStore(
  config: StoreConfig,
  options: ConnectStoreOptions = {},
): Promise<Store> {
  const sql = await connectStore(config, options);
  try {
    const migration = await migrate(sql);
    return {
      sql,
      display: config.display,
      migration,
      close: () => sql.end({ timeout: 1 }),
    };
  } catch (err) {
    await sql.end({ timeout: 0 }).catch(() => {});
    throw storeError(config, err);
  }
}

/** What `store status` reports. */
export interface StoreStatus {
  display: string;
  schema: number;
  known: number;
  agents: { active: number; revoked: number };
  /** Gateways that used the store: id, last heartbeat, and whether it is recent. */
  gateways: { id: string; seenAt: string; alive: boolean }[];
  /** Requests held for approval on some gateway now. */
  pendingApprovals: number;
}

/**
 * Reads the store's schema version and counts, changing nothing.
 *
 * @example
 * ```ts
 * const status = await storeStatus(config.gateway.store!);
 * ```
 */
export async function storeStatus(config: StoreConfig): Promise<StoreStatus> {
  const sql = await connectStore(config);
  try {
    const schema = await schemaVersion(sql);
    let agents = { active: 0, revoked: 0 };
    if (schema >= 1) {
      const [row] = await sql`SELECT count(*) FILTER (WHERE revoked_at IS NULL)::int AS active,
        count(*) FILTER (WHERE revoked_at IS NOT NULL)::int AS revoked FROM clawpatrol_agents`;
      agents = { active: row.active, revoked: row.revoked };
    }
    const gateways: StoreStatus["gateways"] = [];
    let pendingApprovals = 0;
    if (schema >= 2) {
      for (
        const g of await sql`SELECT id, seen_at, seen_at > now() - interval '10 seconds' AS alive
          FROM clawpatrol_gateways ORDER BY id`
      ) {
        gateways.push({ id: g.id, seenAt: new Date(g.seen_at).toISOString(), alive: g.alive });
      }
      [{ pendingApprovals }] = await sql`SELECT count(*)::int AS "pendingApprovals"
        FROM clawpatrol_approvals WHERE state = 'pending'`;
    }
    return {
      ...{ display: config.display, schema, known: SCHEMA_VERSION, agents },
      ...{ gateways, pendingApprovals },
    };
  } catch (err) {
    throw storeError(config, err);
  } finally {
    await sql.end({ timeout: 0 }).catch(() => {});
  }
}

/** Prefixes the store's printable URL; the driver's messages carry no password. */
function storeError(config: StoreConfig, err: unknown): Error {
  if (err instanceof Error && err.name === "StoreSchemaError") return err;
  const message = err instanceof Error ? err.message : String(err);
  return new Error(`Cannot use the store ${config.display}: ${message}`, { cause: err });
}
