/**
 * The Postgres part of an agent's environment: libpq's `PG*` variables, so `psql` (and npm:pg,
 * pgx, psycopg, asyncpg…) reach the gateway's Postgres listener as the agent with no flags.
 *
 * @module
 */

import {
  type AgentEnvironmentContext,
  type Endpoint,
  type HeldCredential,
  splitHostPort,
} from "../../core/mod.ts";
import { isPostgresEndpoint } from "./endpoint.ts";

/**
 * `PGHOST`, `PGPORT`, `PGUSER`, `PGDATABASE` (when the credential names one), `PGPASSWORD` (the
 * agent's token: the listener asks for it by SCRAM, so it never crosses the wire) and the TLS
 * settings for `target`, whose listener the agent reaches at `address` (its `listen`, a wildcard
 * bind as loopback). Empty, with a warning, when that port is only picked at start (`:0`).
 *
 * TLS: with `listen_tls` (the default) the listener answers SSLRequest with a leaf from the gateway
 * CA naming the address dialled (on loopback also `localhost`, `127.0.0.1`, `::1`), so
 * `PGSSLROOTCERT` is the gateway CA alone and `PGSSLMODE=verify-ca`: the chain must lead to that
 * CA, whose key never leaves the gateway, which proves the peer is the gateway as well as a name
 * check would. Not `verify-full`: libpq before 15 matches no IP address in subjectAltName (libpq 14
 * compares `127.0.0.1` with the loopback leaf's `DNS:localhost` and fails), and a `listen` host
 * name other than `localhost` is not in the leaf at all; with libpq 15+ and an address,
 * `verify-full` works too. npm:pg takes any of these modes as "TLS, verified" and checks the name
 * itself (Node matches IP SANs) against `NODE_EXTRA_CA_CERTS`, the same CA. Without `listen_tls`
 * the listener answers `N`: `PGSSLMODE=disable`, as npm:pg fails on `N` under `prefer`.
 *
 * @example
 * ```ts
 * postgresAgentEnvironment(endpoint, credential, {
 *   token, caPath: "/srv/gw/state/ca.pem", address: "127.0.0.1:15432", warn: console.warn,
 * });
 * // [["PGHOST", "127.0.0.1"], ["PGPORT", "15432"], ["PGUSER", "agent_ro"], …]
 * ```
 */
export function postgresAgentEnvironment(
  endpoint: Endpoint,
  credential: HeldCredential,
  context: AgentEnvironmentContext,
): [string, string][] {
  if (!isPostgresEndpoint(endpoint)) return [];
  const { token, caPath } = context;
  const [host, portNumber] = splitHostPort(context.address);
  const port = String(portNumber);
  const user = credential.settings.user;
  if (typeof user !== "string") return []; // Required by the credential's schema.
  if (port === "0") {
    context.warn(
      `postgres endpoint '${endpoint.name}' listens on a port picked at start (:0): ` +
        "PGHOST, PGPORT, PGUSER and PGPASSWORD not set",
    );
    return [];
  }
  const vars: [string, string][] = [["PGHOST", host], ["PGPORT", port], ["PGUSER", user]];
  const database = credential.settings.database;
  if (typeof database === "string") vars.push(["PGDATABASE", database]);
  if (context.transparent) {
    // Intercepted: no password is asked, and TLS is always offered with a leaf for the name.
    vars.push(["PGSSLMODE", "verify-full"], ["PGSSLROOTCERT", caPath]);
    return vars;
  }
  vars.push(["PGPASSWORD", token]);
  if (endpoint.listenTls) vars.push(["PGSSLMODE", "verify-ca"], ["PGSSLROOTCERT", caPath]);
  else vars.push(["PGSSLMODE", "disable"]);
  return vars;
}
