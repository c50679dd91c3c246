/**
 * "Block requests like this": a deny rule generated from a receipt, on its endpoint, with the
 * conditions that identify the action (HTTP method and path; SQL statement kind and tables;
 * Kubernetes verb, resource and namespace). The operator edits it before it is checked and
 * written, so it is a starting point, not a guess the gateway applies on its own.
 *
 * @module
 */

import type { Receipt } from "../core/mod.ts";

/** What the generated rule needs besides the receipt. */
export interface BlockRuleOptions {
  /** Above every rule on the endpoint, so no allow rule decides first. */
  priority: number;
}

type FactsRecord = Record<string, Record<string, unknown> | undefined>;

/**
 * The rule's HCL text, or `null` when the receipt has no facts a condition can be built from
 * (the gateway refused it before any rule, or its protocol has no generator here).
 *
 * @example
 * ```ts
 * blockRuleText(receipt, { priority: 101 });
 * // rule "block-api-6q2k1z" {\n  endpoint  = https.api\n  condition = "http.method == 'delete' && …"
 * ```
 */
export function blockRuleText(receipt: Receipt, options: BlockRuleOptions): string | null {
  if (receipt.endpoint === null || receipt.protocol === "gateway") return null;
  const facts = (receipt.facts ?? {}) as FactsRecord;
  const conditions = kubernetesConditions(facts.k8s) ?? sqlConditions(facts.sql) ??
    httpConditions(facts.http);
  if (conditions === null) return null;
  const name = `block-${receipt.endpoint}-${receipt.id.slice(-6).toLowerCase()}`
    .replace(/[^a-z0-9_-]/gi, "-");
  return [
    `rule ${hclString(name)} {`,
    `  endpoint  = ${receipt.protocol}.${receipt.endpoint}`,
    `  priority  = ${options.priority}`,
    `  condition = ${hclString(conditions.join(" && "))}`,
    `  verdict   = "deny"`,
    `  reason    = ${hclString(`Blocked from the dashboard (like receipt ${receipt.id})`)}`,
    `}`,
  ].join("\n");
}

function kubernetesConditions(k8s: Record<string, unknown> | undefined): string[] | null {
  if (!k8s || typeof k8s.verb !== "string" || typeof k8s.resource !== "string") return null;
  if (!k8s.verb || !k8s.resource) return null;
  const found = [
    `k8s.verb == ${celString(k8s.verb)}`,
    `k8s.resource == ${celString(k8s.resource)}`,
  ];
  if (typeof k8s.subresource === "string" && k8s.subresource) {
    found.push(`k8s.subresource == ${celString(k8s.subresource)}`);
  }
  if (typeof k8s.namespace === "string" && k8s.namespace) {
    found.push(`k8s.namespace == ${celString(k8s.namespace)}`);
  }
  return found;
}

function sqlConditions(sql: Record<string, unknown> | undefined): string[] | null {
  if (!sql || typeof sql.verb !== "string" || !sql.verb) return null;
  const found = [`sql.verb == ${celString(sql.verb)}`];
  const tables = Array.isArray(sql.tables) ? sql.tables.filter((t) => typeof t === "string") : [];
  if (tables.length > 0) {
    found.push(`sets.contains(sql.tables, [${tables.map(celString).join(", ")}])`);
  }
  return found;
}

function httpConditions(http: Record<string, unknown> | undefined): string[] | null {
  if (!http || typeof http.method !== "string" || typeof http.path !== "string") return null;
  return [`http.method == ${celString(http.method)}`, `http.path == ${celString(http.path)}`];
}

/**
 * A CEL string literal (single quotes) for any text: backslash and quote escaped, control
 * characters as `\u` escapes, so an agent's path cannot end the literal or the condition.
 */
export function celString(text: string): string {
  let escaped = "";
  for (const c of text) {
    const code = c.codePointAt(0)!;
    if (c === "\\" || c === "'") escaped += `\\${c}`;
    else if (code < 0x20 || code === 0x7f) escaped += `\\u${code.toString(16).padStart(4, "0")}`;
    else escaped += c;
  }
  return `'${escaped}'`;
}

/**
 * An HCL quoted string for any text: backslash and double quote escaped, and `${` / `%{`
 * doubled so HCL reads them as text rather than as a template.
 */
export function hclString(text: string): string {
  const escaped = text.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, "\\n")
    .replace(/([$%])\{/g, (_, mark) => `${mark}${mark}{`);
  return `"${escaped}"`;
}
