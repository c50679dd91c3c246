/**
 * Reads `rule NAME { … }` blocks.
 *
 * @module
 */

import type { ProtocolFamily } from "../core/mod.ts";
import type { BlockReader } from "./_fields.ts";
import type { FoundBlock } from "./_blocks.ts";
import type { EndpointOf } from "./_endpoints.ts";
import { APPROVER_KINDS } from "./_approvers.ts";
import type { Approver, Credential, Rule, Source } from "./types.ts";

/** What a rule may refer to: the config's endpoints, approvers and credentials. */
export interface RuleScope {
  /** The registered protocol families, which are also the kinds of endpoint references. */
  endpointKinds: readonly ProtocolFamily[];
  endpointOf: EndpointOf;
  approvers: Map<string, Approver>;
  credentials: Map<string, Credential>;
  /** Every credential kind, which are also the kinds of credential references. */
  credentialKinds: readonly string[];
}

/**
 * Reads every rule block in declaration order. Names are checked before validity so a duplicate
 * of a broken rule is still reported.
 */
export function readRules(blocks: readonly FoundBlock[], scope: RuleScope): Rule[] {
  const rules: Rule[] = [];
  const ruleNames = new Map<string, Source>();
  for (const b of blocks) {
    const name = b.labels[0];
    const existing = ruleNames.get(name);
    const rule = readRule(name, b.reader, rules.length, scope);
    if (existing) {
      b.reader.problem(
        `duplicate rule name '${name}' (first defined at ${existing.file}:${existing.line})`,
      );
      continue;
    }
    ruleNames.set(name, b.reader.source);
    if (rule) rules.push(rule);
  }
  return rules;
}

/**
 * Reads one rule. Returns `undefined` when it has no usable endpoint or mixes protocol families;
 * every problem is reported either way.
 */
function readRule(
  name: string,
  r: BlockReader,
  order: number,
  scope: RuleScope,
): Rule | undefined {
  const { endpointOf, approvers, credentials } = scope;
  const single = r.ref("endpoint", scope.endpointKinds);
  const many = r.refList("endpoints", scope.endpointKinds);
  if (single && many) r.problem("set 'endpoint' or 'endpoints', not both", "endpoints");
  const refs = single ? [single] : many ?? [];
  if (!single && !many) r.problem("missing required attribute 'endpoint'");
  const field = single ? "endpoint" : "endpoints";
  const found = refs.map((ref) => endpointOf(r, field, ref.kind, ref.name)).filter((e) =>
    e !== undefined
  );
  const families = [...new Set(found.map((e) => e.protocol))];
  if (families.length > 1) {
    r.problem(
      `rule mixes protocol families (${
        families.join(", ")
      }): facts differ per family, so write one rule per family`,
      field,
    );
  }
  const priority = r.integer("priority", 0);
  const condition = r.string("condition", "true") ?? "true";
  const verdictRaw = r.has("verdict") ? r.oneOf("verdict", ["allow", "deny"], "deny") : null;
  const approveRefs = r.refList("approve", APPROVER_KINDS);
  const approve: string[] = [];
  for (const ref of approveRefs ?? []) {
    const key = `${ref.kind}.${ref.name}`;
    if (approvers.has(key)) approve.push(key);
    else r.problem(`'approve' refers to undefined approver '${key}'`, "approve");
  }
  if (verdictRaw && approveRefs) r.problem("set 'verdict' or 'approve', not both", "approve");
  if (!verdictRaw && !approveRefs) r.problem("needs 'verdict = \"allow\"|\"deny\"' or 'approve'");
  // Only an empty list: entries of the wrong kind were already reported.
  const approveRaw = r.raw("approve");
  if (Array.isArray(approveRaw) && approveRaw.length === 0) {
    r.problem("'approve' needs at least one approver", "approve");
  }
  const credRef = r.ref("credential", scope.credentialKinds);
  let credential: string | null = null;
  if (credRef) {
    credential = `${credRef.kind}.${credRef.name}`;
    const cred = credentials.get(credential);
    if (!cred) {
      r.problem(`'credential' refers to undefined credential '${credential}'`, "credential");
    } else if (found.length > 0 && !found.some((e) => cred.endpoints.includes(e.name))) {
      r.problem(`credential '${credential}' is not bound to this rule's endpoint`, "credential");
    }
  }
  const mode = r.has("mode") ? r.oneOf("mode", ["enforce", "observe"], "enforce") : null;
  const reason = r.string("reason", "") ?? "";
  r.reportUnknown();
  if (found.length === 0 || families.length !== 1) return undefined;
  return {
    name,
    endpoints: found.map((e) => e.name),
    family: families[0],
    priority,
    condition,
    conditionSource: r.sourceOf("condition"),
    verdict: verdictRaw,
    approve,
    reason: reason || (verdictRaw === "allow" ? "allowed by rule" : `denied by rule '${name}'`),
    mode,
    credential,
    order,
    source: r.source,
  };
}
