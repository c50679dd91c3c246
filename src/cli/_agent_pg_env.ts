/**
 * The Postgres part of an agent's environment: libpq's `PG*` variables, so `psql` (and npm:pg,
 * pgx, psycopg, asyncpg…) reach the gateway's Postgres listener as the agent with no flags.
 *
 * @module
 */

import type { Config, Credential, Profile } from "../config/mod.ts";
import { isPostgresEndpoint, type PostgresEndpoint } from "../protocols/postgres/mod.ts";
import { err } from "./_io.ts";

/** The credential kind that logs agents in at a Postgres listener. */
const POSTGRES_CREDENTIAL = "postgres_credential";

/** A Postgres credential of a profile and the endpoint whose listener it logs in at. */
export interface AgentPostgres {
  credential: Credential;
  endpoint: PostgresEndpoint;
}

/**
 * The Postgres credentials of `profile` with their endpoints, in profile order. The `PG*`
 * variables name one login only: the agent's environment takes the first.
 *
 * @example
 * ```ts
 * const [first] = agentPostgres(config, config.profiles.get("analyst")!);
 * ```
 */
export function agentPostgres(config: Config, profile: Profile): AgentPostgres[] {
  const found: AgentPostgres[] = [];
  for (const key of profile.credentials) {
    const credential = config.credentials.get(key);
    if (credential?.kind !== POSTGRES_CREDENTIAL) continue;
    for (const name of credential.endpoints) {
      const endpoint = config.endpoints.get(name);
      if (endpoint && isPostgresEndpoint(endpoint)) found.push({ credential, endpoint });
    }
  }
  return found;
}

/**
 * Splits `host:port` (as `proxyAddress` gives it) into the host, IPv6 without brackets as libpq
 * and `NO_PROXY` take it, and the port.
 *
 * @example
 * ```ts
 * hostAndPort("[::1]:15432"); // ["::1", "15432"]
 * ```
 */
export function hostAndPort(address: string): [string, string] {
  const at = address.lastIndexOf(":");
  return [address.slice(0, at).replace(/^\[(.*)\]$/, "$1"), address.slice(at + 1)];
}

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
 * const [first] = agentPostgres(config, profile);
 * postgresEnvironment(first, "127.0.0.1:15432", token, "/srv/gw/state/ca.pem");
 * // [["PGHOST", "127.0.0.1"], ["PGPORT", "15432"], ["PGUSER", "agent_ro"], …]
 * ```
 */
export function postgresEnvironment(
  target: AgentPostgres,
  address: string,
  token: string,
  caPath: string,
): [string, string][] {
  const { credential, endpoint } = target;
  const [host, port] = hostAndPort(address);
  const user = credential.settings.user;
  if (typeof user !== "string") return []; // Required by the credential's schema.
  if (port === "0") {
    err(
      `Warning: postgres endpoint '${endpoint.name}' listens on a port picked at start (:0): ` +
        "PGHOST, PGPORT, PGUSER and PGPASSWORD not set",
    );
    return [];
  }
  const vars: [string, string][] = [["PGHOST", host], ["PGPORT", port], ["PGUSER", user]];
  const database = credential.settings.database;
  if (typeof database === "string") vars.push(["PGDATABASE", database]);
  vars.push(["PGPASSWORD", token]);
  if (endpoint.listenTls) vars.push(["PGSSLMODE", "verify-ca"], ["PGSSLROOTCERT", caPath]);
  else vars.push(["PGSSLMODE", "disable"]);
  return vars;
}
