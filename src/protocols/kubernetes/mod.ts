/**
 * Kubernetes: the API gateway kubectl talks to (a TLS listener per endpoint, or the forward
 * proxy by the API server's host), with facts derived as the apiserver's RequestInfo does.
 *
 * @example
 * ```ts
 * import { KubernetesListener } from "./src/protocols/kubernetes/mod.ts";
 *
 * const listener = await KubernetesListener.listen("k8s", "127.0.0.1", 16443, context);
 * await listener.close();
 * ```
 *
 * @module
 */

export { K8S_FACET } from "./facet.ts";
export { KUBERNETES_PROTOCOL } from "./protocol.ts";
export { isKubernetesEndpoint, type KubernetesEndpoint } from "./endpoint.ts";
export type { KubernetesContext, KubernetesRoute } from "./context.ts";
export { KUBERNETES_FLAVOR, kubernetesFacts, summarize } from "./facts.ts";
export { KubernetesListener, TOKEN_REQUIRED } from "./listener.ts";
export { type KubernetesTarget, kubernetesTarget, normaliseHost } from "./_listen.ts";
export { requestInfo, type RequestInfoInput } from "./request_info.ts";
