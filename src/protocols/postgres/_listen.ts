/**
 * `POSTGRES_PROTOCOL.listen`: the gateway's protocol-agnostic services adapted to the narrow
 * {@linkcode PostgresContext}, and which credential an agent logs in with (profile →
 * `postgres_credential` on the endpoint whose `user` the agent asked for), its password from
 * the vault.
 *
 * @module
 */

import {
  type AgentFacts,
  type Endpoint,
  type Interceptor,
  type ProtocolListener,
  type ProtocolServices,
  splitHostPort,
} from "../../core/mod.ts";
import type { LoginRefusal, PostgresContext, PostgresLogin, PostgresRoute } from "./context.ts";
import { isPostgresEndpoint, type PostgresEndpoint } from "./endpoint.ts";
import { PostgresListener } from "./listener.ts";
import { loadSqlParser, SqlAnalyzer } from "./sql_facts.ts";

/**
 * One analyzer (and its caches) per gateway: the listeners of one gateway share its services.
 * The parser is WASM, loaded only once some endpoint needs it.
 */
const analyzers = new WeakMap<ProtocolServices, Promise<SqlAnalyzer>>();

function analyzerOf(services: ProtocolServices): Promise<SqlAnalyzer> {
  let analyzer = analyzers.get(services);
  if (!analyzer) {
    analyzer = loadSqlParser().then(() => new SqlAnalyzer());
    analyzers.set(services, analyzer);
  }
  return analyzer;
}

/** Starts the listener of a `postgres` endpoint. */
export async function listenPostgres(
  endpoint: Endpoint,
  services: ProtocolServices,
): Promise<ProtocolListener> {
  if (!isPostgresEndpoint(endpoint)) {
    throw new TypeError(`Cannot listen for endpoint '${endpoint.name}': not a postgres endpoint`);
  }
  const [host, port] = splitHostPort(endpoint.listen);
  const listener = await PostgresListener.listen(endpoint.name, {
    host,
    port,
    ctx: postgresContext(services),
    analyzer: await analyzerOf(services),
  });
  return {
    endpoint: listener.endpoint,
    get address() {
      return listener.address;
    },
    get url() {
      return `${listener.address.hostname}:${listener.address.port}`;
    },
    close: (reason) => listener.close(reason),
    endRevokedSessions: () => listener.endRevokedSessions(),
  };
}

/** The port agents dial a `postgres` endpoint's database server on: its `host`'s. */
export function postgresPorts(endpoint: Endpoint): number[] {
  return isPostgresEndpoint(endpoint) ? [splitHostPort(endpoint.host)[1]] : [];
}

/**
 * The interceptor of the family: one listening-nowhere listener per endpoint, made when its
 * first connection arrives, each with its own cancel keys (a cancel request arrives the way its
 * session did).
 */
export async function interceptPostgres(services: ProtocolServices): Promise<Interceptor> {
  const ctx = postgresContext(services);
  const analyzer = await analyzerOf(services);
  const byEndpoint = new Map<string, PostgresListener>();
  return {
    serve: async ({ socket, endpoint, agent, host }) => {
      let listener = byEndpoint.get(endpoint);
      if (!listener) {
        listener = PostgresListener.intercepting(endpoint, ctx, analyzer);
        byEndpoint.set(endpoint, listener);
      }
      await listener.serveIntercepted(socket, { agent, host });
    },
    close: async (reason) => {
      await Promise.all([...byEndpoint.values()].map((listener) => listener.close(reason)));
    },
    endRevokedSessions: () => {
      for (const listener of byEndpoint.values()) listener.endRevokedSessions();
    },
  };
}

function postgresContext(services: ProtocolServices): PostgresContext {
  const { agents, metrics } = services;
  return {
    guard: services.guard,
    authenticate: (token) => agents.authenticateToken(token),
    scramVerifiers: () => agents.scramVerifiers(),
    route: (name) => {
      const endpoint = services.endpoint(name);
      return endpoint && isPostgresEndpoint(endpoint) ? routeOf(endpoint) : null;
    },
    login: (agent, endpoint, user, database) =>
      login(services, agent, { endpoint, user, database }),
    leaf: (host) => services.leaf(host),
    net: services.net,
    limits: () => {
      const l = services.limits();
      return {
        maxMessageBytes: l.bodyBufferBytes,
        startupTimeoutMs: l.headerTimeoutMs,
        connectTimeoutMs: l.headerTimeoutMs,
      };
    },
    readsParams: (endpoint) => services.reads(endpoint, "sql.params"),
    log: (level, message, fields) => services.log(level, message, fields),
    connections: (delta) => metrics.connections(delta),
    agentStanding: (agent) => agents.standing(agent),
    sessionEnded: (cause) => metrics.sessionEnded(cause),
    listenerHooks: (endpoint) => services.listenerHooks(endpoint),
  };
}

/** Resolves an agent's login; never throws. */
async function login(
  services: ProtocolServices,
  agent: AgentFacts,
  asked: { endpoint: string; user: string; database: string },
): Promise<PostgresLogin | LoginRefusal> {
  const { endpoint, user, database } = asked;
  const held = services.heldCredentials(agent, endpoint, "postgres_credential");
  if (held.length === 0) {
    return {
      code: "28000",
      reason:
        `agent '${agent.name}' (profile '${agent.profile}') holds no credential for endpoint '${endpoint}'`,
    };
  }
  const credential = held.find((c) => c.settings.user === user);
  if (!credential) {
    const users = held.map((c) => c.settings.user).join(", ");
    return {
      code: "28000",
      reason:
        `user "${user}" is not a credential of this agent on endpoint '${endpoint}' (use: ${users})`,
    };
  }
  const only = credential.settings.database;
  if (typeof only === "string" && only !== "" && only !== database) {
    return {
      code: "28000",
      reason: `credential '${credential.name}' only connects to database "${only}"`,
    };
  }
  let password: string | null;
  try {
    password = await services.secret(credential.name);
  } catch {
    // A vault row that fails authentication is an operator problem, not the agent's.
    return {
      code: "28000",
      reason: `credential '${credential.name}' is unavailable`,
      fix: `the vault entry for '${credential.name}' cannot be decrypted: set it again`,
    };
  }
  if (password === null) {
    return {
      code: "28000",
      reason: `credential '${credential.name}' has no value in the gateway's vault`,
      fix: `clawpatrol vault set ${credential.name}`,
    };
  }
  return { credential: credential.ref, user, password, database };
}

function routeOf(e: PostgresEndpoint): PostgresRoute {
  const [upstreamHost, upstreamPort] = splitHostPort(e.host);
  const dial = e.upstream === undefined ? undefined : splitHostPort(e.upstream);
  return {
    name: e.name,
    upstreamHost,
    upstreamPort,
    ...dial ? { dial: { host: dial[0], port: dial[1] } } : {},
    sslmode: e.sslmode,
    caCert: e.caCert,
    listenTls: e.listenTls,
  };
}
