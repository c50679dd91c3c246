/**
 * A receipt as one line an operator reads: who did what, where, and what came of it
 * ("agent oncall-bot: DELETE deployment web in namespace prod").
 *
 * @module
 */

import type { Receipt } from "../core/mod.ts";

/**
 * The action of `receipt` in words. Kubernetes requests are phrased from their facts; other
 * protocols' summaries already read as words (`DROP TABLE users`, `POST api.test/write`).
 *
 * @example
 * ```ts
 * actionInWords(receipt); // "agent bot: POST api.test/echo"
 * ```
 */
export function actionInWords(receipt: Pick<Receipt, "agent" | "summary" | "facts">): string {
  const who = receipt.agent === null ? "unidentified client" : `agent ${receipt.agent}`;
  return `${who}: ${kubernetesWords(receipt.facts) ?? receipt.summary}`;
}

function kubernetesWords(facts: unknown): string | undefined {
  const k8s = (facts as { k8s?: Record<string, unknown> } | null)?.k8s;
  if (!k8s || typeof k8s.verb !== "string" || typeof k8s.resource !== "string") return undefined;
  if (!k8s.resource) return undefined;
  const resource = k8s.subresource ? `${k8s.resource}/${k8s.subresource}` : k8s.resource;
  const parts = [k8s.verb.toUpperCase(), resource];
  if (typeof k8s.name === "string" && k8s.name) parts.push(k8s.name);
  if (typeof k8s.namespace === "string" && k8s.namespace) {
    parts.push(`in namespace ${k8s.namespace}`);
  }
  return parts.join(" ");
}
