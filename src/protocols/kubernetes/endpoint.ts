/**
 * The config schema of the kubernetes family: what `endpoint "kubernetes" NAME { … }` takes, and
 * the credential kinds that authenticate to such endpoints. Config reads blocks through it (see
 * `core/protocol.ts`); the gateway and the CLI read the typed endpoint.
 *
 * @example
 * ```ts
 * import { isKubernetesEndpoint } from "./src/protocols/kubernetes/mod.ts";
 *
 * const clusters = [...config.endpoints.values()].filter(isKubernetesEndpoint);
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

/** `endpoint "kubernetes" NAME`. */
export interface KubernetesEndpoint extends Endpoint {
  protocol: "kubernetes";
  /** The API server, `https://host[:port]`. */
  server: string;
  /** Where the endpoint's own TLS listener takes kubectl, `host:port`; absent: the proxy only. */
  listen?: string;
  /**
   * `host:port` to dial instead of the server's (a name only the agents' resolver knows); TLS
   * still verifies the server's name.
   */
  upstream?: string;
  caCert?: string;
  /** As on https endpoints; the API server's port is the only one claimed for CONNECT. */
  unknownPlaceholders: UnknownPlaceholders;
  /** An EKS cluster's name: an `aws_credential` bound here mints its bearer tokens for it. */
  eksCluster?: string;
}

/** Whether `endpoint` is a kubernetes endpoint. */
export function isKubernetesEndpoint(endpoint: Endpoint): endpoint is KubernetesEndpoint {
  return endpoint.protocol === "kubernetes";
}

/** Reads `endpoint "kubernetes" NAME { server = "https://…" … }`. */
export const KUBERNETES_ENDPOINT: EndpointSchema = Object.freeze({
  read(name: string, body: BodyReader): KubernetesEndpoint {
    const server = body.required("server") ?? "";
    if (server && !/^https:\/\/[^/\s]+\/?$/.test(server)) {
      body.problem(
        `'server' must be an https:// URL such as https://10.0.0.1:6443, got "${server}"`,
        "server",
      );
    }
    return {
      protocol: "kubernetes",
      name,
      source: body.source,
      server,
      listen: body.hostPort("listen"),
      upstream: body.hostPort("upstream"),
      caCert: body.pem("ca_cert"),
      unknownPlaceholders: body.oneOf("unknown_placeholders", ["deny", "allow"], "deny"),
      eksCluster: eksCluster(body),
    };
  },
});

/** `eks_cluster = "prod"`: EKS cluster names are 1-100 letters, digits, `-` and `_`. */
function eksCluster(body: BodyReader): string | undefined {
  const name = body.string("eks_cluster");
  if (name !== undefined && !/^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/.test(name)) {
    body.problem(`'eks_cluster' must be an EKS cluster name, got "${name}"`, "eks_cluster");
  }
  return name;
}

/** Credential kinds that authenticate the gateway to the API server. */
export const KUBERNETES_CREDENTIALS: Readonly<Record<string, CredentialSchema>> = Object.freeze({
  k8s_bearer_token: { settings: [] },
  // A client certificate is TLS, not HTTP: https upstreams that require one take it too.
  mtls_credential: { settings: [], alsoFamilies: ["https"] },
});
