/**
 * The config schema of the https family: what `endpoint "https" NAME { … }` takes, and the
 * credential kinds that inject into such endpoints. Config reads blocks through it (see
 * `core/protocol.ts`); the gateway reads the typed endpoint.
 *
 * @example
 * ```ts
 * import { isHttpsEndpoint } from "./src/protocols/http/mod.ts";
 *
 * const https = [...config.endpoints.values()].filter(isHttpsEndpoint);
 * ```
 *
 * @module
 */

import type {
  BodyReader,
  CredentialSchema,
  Endpoint,
  EndpointSchema,
  UnknownPlaceholders,
} from "../../core/mod.ts";

/** `endpoint "https" NAME`. */
export interface HttpsEndpoint extends Endpoint {
  protocol: "https";
  hosts: string[];
  /** `host:port` to dial instead of the request's host; SNI and Host stay the request's. */
  upstream?: string;
  /** PEM roots for verifying the upstream, instead of the system roots. */
  caCert?: string;
  /**
   * Pass `%2F`/`%5C` in paths through (still encoded) instead of rejecting them. Off by default:
   * servers disagree on whether an encoded slash separates segments, which lets paths evade rules.
   */
  allowEncodedSlash: boolean;
  /**
   * Forward paths with double-encoded escapes (`%2561`) instead of refusing them. Off by
   * default: a server that decodes twice routes `/%2561dmin` to `/admin`.
   */
  allowDoubleEncoding: boolean;
  /**
   * Forward paths with `;` path parameters instead of refusing them. Off by default: Tomcat and
   * Spring strip them, so `/;/admin` and `/x;a=1/../admin` reach another path than rules saw.
   */
  allowPathParams: boolean;
  /**
   * Forward requests whose `X-HTTP-Method-Override`-style header or `_method` parameter names
   * another method. Off by default: Rails, Express and ASP.NET run the named method; with it on,
   * rules must read `http.effective_method`.
   */
  allowMethodOverride: boolean;
  /**
   * Ports the endpoint claims its hosts on (sorted, unique; default `[443]`). A CONNECT (or
   * absolute-form request) to one of its hosts on another port is refused: without `upstream`
   * the gateway would dial that port, so a host claim must not open every service on the host.
   */
  ports: number[];
  /** What a `{{…}}`-shaped text naming no credential does: refused, or forwarded as text. */
  unknownPlaceholders: UnknownPlaceholders;
}

/** Whether `endpoint` is an https endpoint. */
export function isHttpsEndpoint(endpoint: Endpoint): endpoint is HttpsEndpoint {
  return endpoint.protocol === "https";
}

const HOST_PATTERN = /^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i;

/** Default `ports`: the port HTTPS clients use when a URL names none. */
const HTTPS_PORTS = [443];

/** Reads `endpoint "https" NAME { hosts = […] … }`. */
export const HTTPS_ENDPOINT: EndpointSchema = Object.freeze({
  read(name: string, body: BodyReader): HttpsEndpoint {
    return {
      protocol: "https",
      name,
      source: body.source,
      hosts: hosts(body),
      upstream: body.hostPort("upstream"),
      caCert: body.pem("ca_cert"),
      allowEncodedSlash: body.boolean("allow_encoded_slash", false),
      allowDoubleEncoding: body.boolean("allow_double_encoding", false),
      allowPathParams: body.boolean("allow_path_params", false),
      allowMethodOverride: body.boolean("allow_method_override", false),
      ports: ports(body),
      unknownPlaceholders: body.oneOf("unknown_placeholders", ["deny", "allow"], "deny"),
    };
  },
});

/** `hosts = ["api.github.com", "*.githubusercontent.com"]`: at least one, lower-cased. */
function hosts(body: BodyReader): string[] {
  const list = body.stringList("hosts") ?? [];
  if (!body.has("hosts")) body.problem("missing required attribute 'hosts'");
  else if (list.length === 0) body.problem("'hosts' needs at least one host", "hosts");
  for (const h of list) {
    if (!HOST_PATTERN.test(h)) {
      body.problem(`'hosts' entry "${h}" is not a host name or *.suffix wildcard`, "hosts");
    }
  }
  return list.map((h) => h.toLowerCase());
}

/** `ports = [443, 8443]`: each 1-65535, at least one; sorted and deduplicated. */
function ports(body: BodyReader): number[] {
  const list = body.integerList("ports");
  if (list === undefined) return [...HTTPS_PORTS];
  if (list.length === 0) body.problem("'ports' needs at least one port", "ports");
  const bad = list.find((p) => p < 1 || p > 65535);
  if (bad !== undefined) body.problem(`'ports' entry ${bad} is not a port (1-65535)`, "ports");
  if (list.length === 0 || bad !== undefined) return [...HTTPS_PORTS];
  return [...new Set(list)].sort((a, b) => a - b);
}

/** Credential kinds injected into https endpoints, and the settings each takes. */
export const HTTPS_CREDENTIALS: Readonly<Record<string, CredentialSchema>> = Object.freeze({
  bearer_token: { settings: [] },
  header_token: { settings: ["header", "prefix"], required: ["header"] },
  basic_auth: { settings: ["username"], required: ["username"] },
  query_token: { settings: ["param"], required: ["param"] },
  // The vault holds a service account key (JSON); the gateway injects an access token minted
  // from it. Also for GKE clusters (kubernetes endpoints).
  gcp_service_account: { settings: ["scopes"], alsoFamilies: ["kubernetes"] },
  // The vault holds a refresh token (and, in slot client_secret, the client's secret).
  oauth_refresh: {
    settings: ["token_url", "client_id", "client_auth", "scope"],
    required: ["token_url"],
    alsoFamilies: ["kubernetes"],
    check: (settings, problem) => {
      const url = settings.token_url;
      if (typeof url === "string" && !tokenUrlShape(url)) {
        problem(
          `'token_url' must be an https:// URL (or http:// to a loopback address), got "${url}"`,
          "token_url",
        );
      }
      const auth = settings.client_auth;
      if (typeof auth === "string" && auth !== "form" && auth !== "basic") {
        problem(`'client_auth' must be "form" or "basic", got "${auth}"`, "client_auth");
      }
    },
  },
});

/** A token endpoint's URL: https, or plain http only to a loopback address. */
function tokenUrlShape(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === "https:" ||
      (u.protocol === "http:" && ["127.0.0.1", "[::1]", "localhost"].includes(u.hostname));
  } catch {
    return false;
  }
}

/**
 * What an https endpoint dials: its `upstream` when set (the request's host stays the SNI and
 * `Host`), else each of its hosts on each of its ports.
 */
export function httpsUpstreams(endpoint: Endpoint): string[] {
  if (!isHttpsEndpoint(endpoint)) return [];
  if (endpoint.upstream) return [endpoint.upstream];
  return endpoint.hosts.flatMap((host) => endpoint.ports.map((port) => `${host}:${port}`));
}

/** The names agents dial for an https endpoint: its hosts (wildcards included). */
export function httpsNames(endpoint: Endpoint): string[] {
  return isHttpsEndpoint(endpoint) ? [...endpoint.hosts] : [];
}
