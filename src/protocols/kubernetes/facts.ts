/**
 * Kubernetes facts: the apiserver's request info (`k8s.*`) composed with the request's http
 * facts, and the flavor that turns the HTTP exchange into a Kubernetes one (Status-shaped
 * denials, exec/attach/port-forward upgrades, the agent's token never forwarded).
 *
 * @module
 */

import type { Facts, HttpFacts, K8sFacts } from "../../core/mod.ts";
import { Lazy } from "../../core/lazy.ts";
import type { ExchangeFlavor } from "../http/mod.ts";
import { requestInfo } from "./request_info.ts";

/**
 * The YAML parser, loaded by the first YAML body: until then {@linkcode kubernetesFacts} throws
 * `NotLoaded` for one (see `core/lazy.ts`).
 */
export const YAML = new Lazy("yaml", () => import("yaml"));

/** YAML media types the apiserver decodes: `application/yaml` and server-side apply's. */
const YAML_TYPES = new Set(["application/yaml", "application/apply-patch+yaml"]);

/**
 * The facts and receipt summary of one Kubernetes API request.
 *
 * `http.body_json` also holds a YAML body (`kubectl apply --server-side`, `application/yaml`),
 * so a rule such as "no privileged pods" reads `http.body_json.spec` whatever form kubectl sent
 * the object in; a body in any other form (protobuf) leaves it unknown, so such a rule denies.
 *
 * @example
 * ```ts
 * const { facts, summary } = kubernetesFacts(http);
 * facts.k8s!.verb; // "delete"
 * summary; // "delete namespaces prod"
 * ```
 * @throws {NotLoaded} for a YAML body before {@linkcode YAML} is loaded (`http` is unchanged).
 */
export function kubernetesFacts(
  http: HttpFacts,
): { facts: Facts; unknown?: string[]; summary: string } {
  const k8s = requestInfo({ method: http.method, path: http.path, query: http.query });
  const unknown: string[] = [];
  if (http.body_json === null && http.body !== "" && !http.body_truncated) {
    if (YAML_TYPES.has(mediaType(http.headers))) {
      const { parse } = YAML.get();
      try {
        // A bounded alias count keeps a YAML "billion laughs" body from expanding.
        http.body_json = parse(http.body, { maxAliasCount: 50 }) ?? null;
      } catch {
        unknown.push("http.body_json");
      }
    } else {
      // The apiserver also takes protobuf (kubectl sends it for `create namespace`, `create
      // deployment`…): an object the gateway cannot read must not pass a rule as "no spec".
      unknown.push("http.body_json");
    }
  }
  return { facts: { http, k8s }, unknown, summary: summarize(k8s, http) };
}

/** `kubectl`-like one-liner: `delete namespaces prod`, `exec pods/exec web-1 -n default`. */
export function summarize(k8s: K8sFacts, http: Pick<HttpFacts, "method" | "path">): string {
  if (!k8s.is_resource_request) return `${http.method.toUpperCase()} ${http.path.slice(0, 200)}`;
  const resource = k8s.subresource ? `${k8s.resource}/${k8s.subresource}` : k8s.resource;
  const group = k8s.api_group ? `.${k8s.api_group}` : "";
  const parts = [k8s.verb, `${resource}${group}`];
  if (k8s.name) parts.push(k8s.name);
  if (k8s.namespace && !(k8s.resource === "namespaces" && k8s.name === k8s.namespace)) {
    parts.push(`-n ${k8s.namespace}`);
  }
  const command = k8s.verb === "exec" ? k8s.params.command ?? [] : [];
  if (command.length > 0) parts.push("--", ...command);
  return parts.join(" ").slice(0, 300);
}

function mediaType(headers: Record<string, string[]>): string {
  return headers["content-type"]?.[0]?.split(";")[0].trim().toLowerCase() ?? "";
}

/** The exchange flavor for Kubernetes endpoints, on their own listener or reached by CONNECT. */
export const KUBERNETES_FLAVOR: ExchangeFlavor = Object.freeze({
  protocol: "kubernetes",
  facts: kubernetesFacts,
  replyShape: "k8s_status",
  // kubectl exec/attach/port-forward: WebSocket (kubectl ≥ 1.30) or SPDY/3.1 (older, and the
  // fallback). Both are decided at the upgrade request, then relayed.
  upgrades: Object.freeze(["websocket", "spdy/3.1"]),
  // The agent's bearer token is its clawpatrol token: never the cluster's business.
  dropHeaders: Object.freeze(["authorization"]),
});
