/**
 * What `clawpatrol test` derives from a Kubernetes fixture case: the `http` facts an https case
 * gets, then the `k8s` facts of the request with the gateway's own apiserver RequestInfo logic.
 * `k8s` fields the case gives win, field by field.
 *
 * @module
 */

import type { DerivedFacts, FixtureDeriver } from "../../core/mod.ts";
import { withHttpDerived } from "../http/mod.ts";
import { requestInfo } from "./request_info.ts";

/** Derives the kubernetes fixture facts (see the module doc). */
export const kubernetesFixtureFacts: FixtureDeriver = (facts) => {
  const http = withHttpDerived(facts);
  const derived = kubernetesDerived(http.facts) ?? { facts: http.facts };
  return [http.unknown ? { ...derived, unknown: http.unknown } : derived];
};

/**
 * The `k8s` facts of the request in the case's `http` facts, as the gateway derives them, under
 * any `k8s` fields the case gives. `null` (facts as given) when there is no request, or when its
 * fields are ill-typed: completing the facts then reports them.
 */
function kubernetesDerived(facts: Record<string, Record<string, unknown>>): DerivedFacts | null {
  const http = facts.http;
  if (typeof http?.method !== "string" || typeof http.path !== "string") return null;
  const query: Record<string, string[]> = Object.create(null);
  const given = http.query ?? {};
  if (given === null || typeof given !== "object" || Array.isArray(given)) return null;
  for (const [name, value] of Object.entries(given)) {
    const values: unknown[] = Array.isArray(value) ? value : [value];
    if (values.some((v) => typeof v !== "string")) return null;
    query[name] = values as string[];
  }
  const k8s = requestInfo({ method: http.method, path: http.path, query });
  return { facts: { ...facts, k8s: { ...k8s, ...facts.k8s } } };
}
