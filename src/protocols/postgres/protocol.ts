/**
 * What the postgres protocol declares to config, policy, audit and `clawpatrol test` (see
 * `core/protocol.ts`), and how the gateway starts a listener per endpoint.
 *
 * @module
 */

import { isIP } from "node:net";
import { type Endpoint, type Protocol, splitHostPort } from "../../core/mod.ts";
import { SQL_FACET } from "./facet.ts";
import { isPostgresEndpoint, POSTGRES_CREDENTIALS, POSTGRES_ENDPOINT } from "./endpoint.ts";
import { sqlFixtureFacts } from "./fixture.ts";
import { interceptPostgres, listenPostgres, postgresPorts } from "./_listen.ts";
import { postgresAgentEnvironment } from "./agent_env.ts";

/** `endpoint "postgres" NAME`: its rules read `sql`. */
export const POSTGRES_PROTOCOL: Protocol = Object.freeze({
  family: "postgres",
  facets: Object.freeze([SQL_FACET]),
  fixtureFacts: sqlFixtureFacts,
  endpoint: POSTGRES_ENDPOINT,
  credentials: POSTGRES_CREDENTIALS,
  listen: listenPostgres,
  // Its own listener is the gateway's; upstream, the database server.
  upstreams: (endpoint: Endpoint) =>
    isPostgresEndpoint(endpoint) ? [endpoint.upstream ?? endpoint.host] : [],
  agentEnvironment: postgresAgentEnvironment,
  intercept: { via: "own" as const, ports: postgresPorts, open: interceptPostgres },
  // Agents dial the database server's own name (`psql -h db.internal`); an IP literal is none.
  names: (endpoint: Endpoint) => {
    if (!isPostgresEndpoint(endpoint)) return [];
    const host = splitHostPort(endpoint.host)[0].toLowerCase();
    return isIP(host.replace(/^\[(.*)\]$/, "$1")) !== 0 ? [] : [host];
  },
});
