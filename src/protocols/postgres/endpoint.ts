/**
 * The config schema of the postgres family: what `endpoint "postgres" NAME { … }` takes, and the
 * credential kind that logs in to such endpoints. Config reads blocks through it (see
 * `core/protocol.ts`); the gateway reads the typed endpoint.
 *
 * @example
 * ```ts
 * import { isPostgresEndpoint } from "./src/protocols/postgres/mod.ts";
 *
 * const listeners = [...config.endpoints.values()].filter(isPostgresEndpoint);
 * ```
 *
 * @module
 */

import type { BodyReader, CredentialSchema, Endpoint, EndpointSchema } from "../../core/mod.ts";

/** `endpoint "postgres" NAME`. */
export interface PostgresEndpoint extends Endpoint {
  protocol: "postgres";
  /** The upstream server, `host:port`: the name agents dial when intercepted, and TLS checks. */
  host: string;
  /**
   * `host:port` to dial instead of `host` (a name only the agents' resolver knows); TLS still
   * verifies `host`'s name.
   */
  upstream?: string;
  /** Where agents connect, `host:port`. */
  listen: string;
  sslmode: "disable" | "prefer" | "require" | "verify-full";
  caCert?: string;
  /** Answer agents' SSLRequest with TLS (a gateway-minted certificate); `false` answers `N`. */
  listenTls: boolean;
}

/** Whether `endpoint` is a postgres endpoint. */
export function isPostgresEndpoint(endpoint: Endpoint): endpoint is PostgresEndpoint {
  return endpoint.protocol === "postgres";
}

/** Reads `endpoint "postgres" NAME { host = "…" listen = "…" … }`. */
export const POSTGRES_ENDPOINT: EndpointSchema = Object.freeze({
  read(name: string, body: BodyReader): PostgresEndpoint {
    const host = body.hostPort("host") ?? "";
    if (!body.has("host")) body.problem("missing required attribute 'host' (host:port)");
    const listen = body.hostPort("listen") ?? "";
    if (!body.has("listen")) body.problem("missing required attribute 'listen' (host:port)");
    return {
      protocol: "postgres",
      name,
      source: body.source,
      host,
      upstream: body.hostPort("upstream"),
      listen,
      sslmode: body.oneOf("sslmode", ["disable", "prefer", "require", "verify-full"], "prefer"),
      caCert: body.pem("ca_cert"),
      listenTls: body.boolean("listen_tls", true),
    };
  },
});

/** The credential kind that logs agents in upstream as a database user. */
export const POSTGRES_CREDENTIALS: Readonly<Record<string, CredentialSchema>> = Object.freeze({
  postgres_credential: { settings: ["user", "database"], required: ["user"] },
});
