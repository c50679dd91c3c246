/**
 * `gateway { store = "postgres://…" }`: the PostgreSQL that several gateways share (DESIGN.md §10).
 * The URL is parsed here, once; its password (if it carries one) is kept apart from everything
 * that may be printed, and never appears in a problem message.
 *
 * @module
 */

import type { BlockReader } from "./_fields.ts";
import type { StoreConfig, StoreSslMode } from "./types.ts";

const SSL_MODES: readonly StoreSslMode[] = ["disable", "prefer", "require", "verify-full"];
/** Query parameters the store URL understands; anything else is a typo to report. */
const PARAMS = new Set(["sslmode", "sslrootcert"]);

/**
 * Reads `store` (and `store_vault`) of the gateway block; `undefined` without a store (the
 * embedded SQLite default).
 */
export function readStore(r: BlockReader): StoreConfig | undefined {
  const vault = r.has("store_vault") && r.boolean("store_vault", false);
  if (!r.has("store")) {
    if (vault) {
      r.problem(
        "'store_vault' keeps the vault in the shared store: set 'store' too",
        "store_vault",
      );
    }
    return undefined;
  }
  const text = r.string("store");
  if (text === undefined) return undefined;
  const parsed = parseStoreUrl(text);
  if (typeof parsed === "string") {
    r.problem(`'store' ${parsed}`, "store");
    return undefined;
  }
  return vault ? { ...parsed, vault } : parsed;
}

/**
 * Parses `postgres://user[:password]@host[:port]/database[?sslmode=…&sslrootcert=…]`. Returns
 * the config, or why not as a phrase that never repeats the URL (it may hold a password).
 *
 * @example
 * ```ts
 * parseStoreUrl("postgres://cp@db.internal/clawpatrol?sslmode=verify-full");
 * ```
 */
export function parseStoreUrl(text: string): StoreConfig | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `must be a URL such as "postgres://clawpatrol@db.internal:5432/clawpatrol"`;
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    return `must start with postgres://, got '${url.protocol}//'`;
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (host === "") return "needs a host";
  const user = decodeURIComponent(url.username);
  if (user === "") return "needs a user (postgres://USER@HOST/DATABASE)";
  const database = decodeURIComponent(url.pathname.replace(/^\//, ""));
  if (database === "" || database.includes("/")) return "needs one database name after the host";
  for (const key of url.searchParams.keys()) {
    if (!PARAMS.has(key)) {
      return `has unknown parameter '${key}' (known: ${[...PARAMS].join(", ")})`;
    }
  }
  const mode = url.searchParams.get("sslmode") ?? "prefer";
  if (!(SSL_MODES as readonly string[]).includes(mode)) {
    return `sslmode must be one of ${SSL_MODES.join(", ")}, got '${mode}'`;
  }
  const rootCert = url.searchParams.get("sslrootcert");
  if (rootCert !== null && !rootCert.startsWith("/")) return "sslrootcert must be an absolute path";
  const port = url.port === "" ? 5432 : Number(url.port);
  const password = url.password === "" ? null : decodeURIComponent(url.password);
  return {
    host,
    port,
    database,
    user,
    sslmode: mode as StoreSslMode,
    sslRootCert: rootCert,
    // Printable: the URL without its password.
    display: `postgres://${encodeURIComponent(user)}@${url.host}/${encodeURIComponent(database)}`,
    password,
  };
}
