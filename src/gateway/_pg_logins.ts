/**
 * The Postgres listeners' view of one loaded config: endpoint routes, and which credential an
 * agent logs in with (profile → `postgres_credential` on the endpoint whose `user` the agent
 * asked for) with its password from the vault.
 *
 * @module
 */

import type { Config } from "../config/mod.ts";
import type { AgentFacts } from "../core/mod.ts";
import {
  isPostgresEndpoint,
  type LoginRefusal,
  type PostgresEndpoint,
  type PostgresLogin,
  type PostgresRoute,
} from "../protocols/postgres/mod.ts";
import type { Policy } from "../policy/mod.ts";
import type { SecretCache } from "./_secrets.ts";

/** Postgres routing and logins under one config. */
export class PostgresLogins {
  readonly #config: Config;
  readonly #secrets: SecretCache;
  readonly #routes = new Map<string, PostgresRoute>();
  readonly #readsParams = new Set<string>();

  constructor(config: Config, policy: Policy, secrets: SecretCache) {
    this.#config = config;
    this.#secrets = secrets;
    for (const e of config.endpoints.values()) {
      if (!isPostgresEndpoint(e)) continue;
      this.#routes.set(e.name, routeOf(e));
      if (policy.reads(e.name, "sql.params")) this.#readsParams.add(e.name);
    }
  }

  /** Whether a rule on the endpoint reads `sql.params` (decisions then wait for Bind). */
  readsParams(endpoint: string): boolean {
    return this.#readsParams.has(endpoint);
  }

  /** The `postgres` endpoints of this config. */
  endpoints(): PostgresEndpoint[] {
    return [...this.#config.endpoints.values()].filter(isPostgresEndpoint);
  }

  /** The endpoint's route, or `null` when this config has no such postgres endpoint. */
  route(endpoint: string): PostgresRoute | null {
    return this.#routes.get(endpoint) ?? null;
  }

  /** Resolves an agent's login; never throws. */
  async login(
    agent: AgentFacts,
    endpoint: string,
    user: string,
    database: string,
  ): Promise<PostgresLogin | LoginRefusal> {
    const profile = this.#config.profiles.get(agent.profile);
    const held = (profile?.credentials ?? [])
      .map((ref) => ({ ref, c: this.#config.credentials.get(ref) }))
      .filter(({ c }) => c?.kind === "postgres_credential" && c.endpoints.includes(endpoint));
    if (held.length === 0) {
      return {
        code: "28000",
        reason:
          `agent '${agent.name}' (profile '${agent.profile}') holds no credential for endpoint '${endpoint}'`,
      };
    }
    const match = held.find(({ c }) => c!.settings.user === user);
    if (!match) {
      const users = held.map(({ c }) => c!.settings.user).join(", ");
      return {
        code: "28000",
        reason:
          `user "${user}" is not a credential of this agent on endpoint '${endpoint}' (use: ${users})`,
      };
    }
    const credential = match.c!;
    const only = credential.settings.database;
    if (typeof only === "string" && only !== "" && only !== database) {
      return {
        code: "28000",
        reason: `credential '${credential.name}' only connects to database "${only}"`,
      };
    }
    let password: string | null;
    try {
      password = await this.#secrets.get(credential.name);
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
    return { credential: match.ref, user, password, database };
  }
}

function routeOf(e: PostgresEndpoint): PostgresRoute {
  const at = e.host.lastIndexOf(":");
  return {
    name: e.name,
    upstreamHost: e.host.slice(0, at).replace(/^\[(.*)\]$/, "$1"),
    upstreamPort: Number(e.host.slice(at + 1)),
    sslmode: e.sslmode,
    caCert: e.caCert,
    listenTls: e.listenTls,
  };
}
