/**
 * A client pool towards the store, from the parsed `gateway.store`: TLS as its `sslmode` says,
 * short timeouts (a slow store must turn into denials, not hung actions), and the password from
 * the URL or `CLAWPATROL_STORE_PASSWORD`, never echoed.
 *
 * @module
 */

import type postgres from "postgres";
import { isIP } from "node:net";
import type { StoreConfig } from "../config/mod.ts";

/** The environment variable holding the store's password when the URL carries none. */
export const STORE_PASSWORD_ENV = "CLAWPATROL_STORE_PASSWORD";

/** The client type the store's modules share. */
export type Sql = postgres.Sql;
/** What runs a query: the pool, or one transaction of it. */
export type Query = postgres.Sql | postgres.TransactionSql;

/** Options for {@linkcode connectStore}. */
export interface ConnectStoreOptions {
  /** Connections in the pool (one more is opened for LISTEN). @default {4} */
  max?: number;
  /** Server-side limit on one statement, so a stuck query ends. @default {5_000} */
  statementTimeoutMs?: number;
  /** Seconds to wait for a connection. @default {5} */
  connectTimeoutS?: number;
}

/**
 * The driver, imported on first use: a gateway without `gateway.store` never pays for it
 * (~5 MB of RSS measured).
 */
let driver: Promise<typeof postgres> | undefined;

/**
 * Opens a pool (lazily: the first query connects).
 *
 * @example
 * ```ts
 * const sql = await connectStore(config.gateway.store!);
 * await sql`SELECT 1`;
 * ```
 */
export async function connectStore(
  store: StoreConfig,
  options: ConnectStoreOptions = {},
): Promise<Sql> {
  const connect = await (driver ??= import("postgres").then((m) => m.default));
  return connect({
    host: store.host,
    port: store.port,
    database: store.database,
    username: store.user,
    // A function: the driver then never falls back to PGPASSWORD, and the value is read only
    // when a connection authenticates instead of sitting in the options it may print.
    pass: () => store.password ?? Deno.env.get(STORE_PASSWORD_ENV) ?? "",
    ssl: sslOption(store),
    max: options.max ?? 4,
    connect_timeout: options.connectTimeoutS ?? 5,
    idle_timeout: 60,
    // Every option the driver would otherwise take from a PG* variable is given, so a
    // developer's environment cannot change how the store is reached (it still reads PGAPPNAME).
    max_lifetime: null,
    keep_alive: 30,
    prepare: true,
    debug: false,
    fetch_types: false,
    publications: "alltables",
    // A primary only: a store that is a read-only standby refuses the connection.
    target_session_attrs: "read-write",
    // Reconnect backoff after a failure: up to 1 s, so a returning store is used again soon.
    backoff: (attempt: number) => Math.min(0.1 * 2 ** attempt, 1),
    ...{ max_pipeline: 100, sslnegotiation: null },
    // Notices (e.g. "relation already exists, skipping") are not the operator's business.
    onnotice: () => {},
    connection: {
      application_name: "clawpatrol",
      statement_timeout: options.statementTimeoutMs ?? 5_000,
    },
  });
}

function sslOption(store: StoreConfig): boolean | "prefer" | "require" | object {
  switch (store.sslmode) {
    case "disable":
      return false;
    case "prefer":
      return "prefer";
    case "require":
      // libpq's require: encrypted, certificate not checked.
      return "require";
    case "verify-full": {
      const ca = store.sslRootCert === null ? undefined : Deno.readTextFileSync(store.sslRootCert);
      // SNI carries names only; an IP host is checked against the certificate's IP SANs.
      return {
        rejectUnauthorized: true,
        ca,
        ...isIP(store.host) ? {} : { servername: store.host },
      };
    }
  }
}

/**
 * Waits for `work` to settle, at most `ms`: a stopping gateway must not hang on a store that
 * stopped answering (what was not written then is lost with the connection, as on a crash).
 */
export async function settledWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => timer = setTimeout(resolve, ms));
  await Promise.race([work.then(() => {}, () => {}), late]);
  clearTimeout(timer);
}
