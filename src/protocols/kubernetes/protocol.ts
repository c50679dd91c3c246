/**
 * What the kubernetes protocol declares to config, policy, audit and `clawpatrol test` (see
 * `core/protocol.ts`), and how the gateway starts a listener per endpoint with `listen`.
 *
 * @module
 */

import { isIP } from "node:net";
import type { Endpoint, Protocol } from "../../core/mod.ts";
import { GRAPHQL, HTTP_FACET } from "../http/mod.ts";
import { K8S_FACET } from "./facet.ts";
import { isKubernetesEndpoint, KUBERNETES_CREDENTIALS, KUBERNETES_ENDPOINT } from "./endpoint.ts";
import { kubernetesFixtureFacts } from "./fixture.ts";
import { kubernetesTarget, listenKubernetes } from "./_listen.ts";

/**
 * `endpoint "kubernetes" NAME`: its rules read `k8s`, and `http` as well (its facts compose
 * http's).
 */
export const KUBERNETES_PROTOCOL: Protocol = Object.freeze({
  family: "kubernetes",
  facets: Object.freeze([K8S_FACET, HTTP_FACET]),
  fixtureFacts: () => GRAPHQL.ready().then(() => kubernetesFixtureFacts),
  endpoint: KUBERNETES_ENDPOINT,
  credentials: KUBERNETES_CREDENTIALS,
  listen: listenKubernetes,
  upstreams: (endpoint: Endpoint) => {
    if (!isKubernetesEndpoint(endpoint)) return [];
    if (endpoint.upstream !== undefined) return [endpoint.upstream];
    const { host, port } = kubernetesTarget(endpoint).server;
    return [`${host.includes(":") ? `[${host}]` : host}:${port}`];
  },
  // Served by the forward proxy, which routes the API server's name to the endpoint.
  intercept: {
    via: "proxy" as const,
    ports: (endpoint: Endpoint) =>
      isKubernetesEndpoint(endpoint) ? [kubernetesTarget(endpoint).server.port] : [],
  },
  // kubectl dials the API server's name from the kubeconfig; an IP literal is none.
  names: (endpoint: Endpoint) => {
    if (!isKubernetesEndpoint(endpoint)) return [];
    const { host } = kubernetesTarget(endpoint).server;
    return isIP(host.replace(/^\[(.*)\]$/, "$1")) !== 0 ? [] : [host];
  },
});
