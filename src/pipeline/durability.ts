/**
 * Which allowed actions wait for their receipt to be on disk before being forwarded. An action
 * that could change state must never run without a durable record of the decision; a provable
 * read may be group-committed (a crash can lose at most one commit interval of reads).
 *
 * @module
 */

import type { Action } from "../core/mod.ts";

/** `gateway.limits.receipt_durability`. */
export type ReceiptDurability = "writes" | "all";

const READ_METHODS = new Set(["get", "head"]);
const K8S_READ_VERBS = new Set(["get", "list", "watch"]);
// Reached with GET but not reads: a shell, a port, a proxied request of any method.
const K8S_CONNECT_SUBRESOURCES = new Set(["exec", "attach", "portforward", "proxy"]);

/**
 * Whether `action` provably only reads: a SQL plain read (`sql.read_only`), a Kubernetes
 * get/list/watch that is not a connect subresource, an HTTP GET or HEAD that names no other
 * method and asks for no protocol upgrade. Anything else, including what no fact describes,
 * counts as a write.
 */
export function provablyReads(action: Action): boolean {
  const { sql, k8s, http } = action.facts;
  if (sql) return sql.read_only === true;
  if (k8s) {
    return K8S_READ_VERBS.has(k8s.verb) && !K8S_CONNECT_SUBRESOURCES.has(k8s.subresource) &&
      (http === undefined || httpReads(http));
  }
  if (http) return httpReads(http);
  return false;
}

function httpReads(http: NonNullable<Action["facts"]["http"]>): boolean {
  return READ_METHODS.has(http.method) && http.effective_method === http.method &&
    http.headers["upgrade"] === undefined;
}

/** Whether an allowed `action` waits for its receipt's commit under `policy`. */
export function waitsForDurableReceipt(action: Action, policy: ReceiptDurability): boolean {
  return policy === "all" || !provablyReads(action);
}
