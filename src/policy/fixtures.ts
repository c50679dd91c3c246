/**
 * Rule fixtures: an action's facts plus the expected verdict and rule, replayed against a policy
 * (`clawpatrol test`). Pure: parsing YAML and printing are the CLI's job.
 *
 * @module
 */

import type { Action, DerivedFacts, Outcome, ProtocolFamily } from "../core/mod.ts";
import type { Config } from "../config/mod.ts";
import { completeFacts } from "./complete.ts";
import type { Policy } from "./policy.ts";

/** What a fixture expects: `approve` means the rule holds the action for approval. */
export type ExpectedVerdict = "allow" | "deny" | "approve";

/**
 * Derives facts the way a protocol would, from what a fixture gives (the SQL facts of each
 * statement in `sql.statement`, the `k8s` facts of an API request's `http` facts): one entry per
 * action, or `null` to use the facts as given. A deriver that throws fails the case with the
 * error's message.
 */
export type FactsDeriver = (
  family: ProtocolFamily,
  facts: Record<string, Record<string, unknown>>,
) => DerivedFacts[] | null;

/** One replayed fixture case. */
export interface FixtureResult {
  name: string;
  ok: boolean;
  /** Rule that decided (null: no rule matched). */
  rule: string | null;
  /** Why it failed: a mismatch or a malformed case. */
  problem?: string;
}

const CASE_FIELDS = new Set([
  "name",
  "endpoint",
  "agent",
  "credential",
  "facts",
  "unknown",
  "expect",
  "request",
]);

const REQUEST_FIELDS = new Set(["method", "path", "query", "body"]);

// RFC 9110 §5.6.2 token: what the gateway accepts as a method.
const METHOD_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Replays one fixture case (a parsed YAML mapping) against the policy.
 *
 * A case for an endpoint that sees `http` facts (https, kubernetes) may give the request instead
 * of facts: `request: {method, path, query, body}` becomes `http.method`, `path`, `raw_path`,
 * `query`, and `body_json` (with `body` its JSON text). `facts.http` fields, where given, win.
 *
 * @example
 * ```ts
 * replayCase(config, policy, {
 *   name: "drop is denied", endpoint: "db",
 *   facts: { sql: { verbs: ["drop"] } }, expect: { verdict: "deny", rule: "pg-no-ddl" },
 * }).ok;
 * ```
 */
export function replayCase(
  config: Config,
  policy: Policy,
  raw: unknown,
  index = 0,
  derive?: FactsDeriver,
): FixtureResult {
  const fallbackName = `case ${index + 1}`;
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    return { name: fallbackName, ok: false, rule: null, problem: "a case must be a mapping" };
  }
  const c = raw as Record<string, unknown>;
  const name = typeof c.name === "string" ? c.name : fallbackName;
  const bad = (problem: string): FixtureResult => ({ name, ok: false, rule: null, problem });
  for (const key of Object.keys(c)) {
    if (!CASE_FIELDS.has(key)) return bad(`unknown field '${key}'`);
  }
  if (typeof c.endpoint !== "string") return bad("'endpoint' (an endpoint name) is required");
  const endpoint = config.endpoints.get(c.endpoint);
  if (!endpoint) return bad(`no endpoint named '${c.endpoint}' in the config`);
  const expect = c.expect as Record<string, unknown> | undefined;
  if (!expect || typeof expect !== "object") return bad("'expect: {verdict, rule}' is required");
  const verdict = expect.verdict;
  if (verdict !== "allow" && verdict !== "deny" && verdict !== "approve") {
    return bad("'expect.verdict' must be allow, deny or approve");
  }
  if ("rule" in expect && expect.rule !== null && typeof expect.rule !== "string") {
    return bad("'expect.rule' must be a rule name or null");
  }
  const agentRaw = (c.agent ?? {}) as Record<string, unknown>;
  const agent = {
    name: typeof agentRaw.name === "string" ? agentRaw.name : "fixture-agent",
    profile: typeof agentRaw.profile === "string" ? agentRaw.profile : "fixture-profile",
  };
  const family: ProtocolFamily = endpoint.protocol;
  const protocol = policy.protocolOf(family);
  if (!protocol) return bad(`endpoint '${endpoint.name}' is of unregistered protocol ${family}`);
  let given = (c.facts ?? {}) as Record<string, Record<string, unknown>>;
  if ("request" in c) {
    if (!protocol.facets.some((f) => f.variable === "http")) {
      return bad(`'request' needs an endpoint with http facts: '${endpoint.name}' is ${family}`);
    }
    const request = requestFacts(c.request);
    if (typeof request === "string") return bad(request);
    given = { ...given, http: { ...request, ...given.http } };
  }
  let derived: DerivedFacts[];
  try {
    derived = derive?.(family, given) ?? [{ facts: given }];
  } catch (err) {
    return bad((err as Error).message);
  }
  const caseUnknown = Array.isArray(c.unknown) ? c.unknown.map(String) : [];
  // A message of several statements is decided statement by statement; the first deny wins,
  // then the first hold for approval, as the gateway does.
  let outcome: Outcome | undefined;
  for (const { facts, unknown, refusal } of derived) {
    if (refusal !== undefined) {
      outcome = { kind: "deny", rule: null, reason: refusal };
      break;
    }
    const allUnknown = [...caseUnknown, ...(unknown ?? [])];
    let action: Action;
    try {
      action = {
        protocol: endpoint.protocol,
        endpoint: endpoint.name,
        agent,
        credential: typeof c.credential === "string" ? c.credential : undefined,
        facts: completeFacts(protocol, facts),
        unknown: allUnknown.length > 0 ? allUnknown : undefined,
        summary: name,
      };
    } catch (err) {
      return bad((err as Error).message);
    }
    const next = policy.evaluate(action).outcome;
    if (!outcome || rank(next) > rank(outcome)) outcome = next;
    if (next.kind === "deny") break;
  }
  outcome ??= { kind: "allow", rule: null };
  const got: ExpectedVerdict = outcome.kind;
  const problems: string[] = [];
  if (got !== verdict) problems.push(`expected ${verdict}, got ${got}`);
  if ("rule" in expect && (expect.rule ?? null) !== outcome.rule) {
    problems.push(`expected rule ${expect.rule ?? "(none)"}, got ${outcome.rule ?? "(none)"}`);
  }
  if (problems.length > 0) {
    const detail = outcome.kind === "deny" && outcome.detail ? ` [${outcome.detail}]` : "";
    return { name, ok: false, rule: outcome.rule, problem: problems.join("; ") + detail };
  }
  return { name, ok: true, rule: outcome.rule };
}

/**
 * The `http` facts of a fixture's `request:`, or what is wrong with it. Strict, like the facts:
 * a misspelt field or a number where a string belongs would otherwise test another request.
 */
function requestFacts(raw: unknown): Record<string, unknown> | string {
  if (!isMapping(raw)) return "'request' must be a mapping: {method, path, query, body}";
  for (const key of Object.keys(raw)) {
    if (!REQUEST_FIELDS.has(key)) {
      return `unknown field 'request.${key}' (fields: method, path, query, body)`;
    }
  }
  const { method, path, query, body } = raw;
  if (typeof method !== "string" || !METHOD_TOKEN.test(method)) {
    return "'request.method' (an HTTP method such as GET) is required";
  }
  if (typeof path !== "string" || !path.startsWith("/")) {
    return "'request.path' (an absolute path such as /api/v1/pods) is required";
  }
  if (/[?#]/.test(path)) return "'request.path' must not hold a query: give it as 'request.query'";
  // A null prototype, so a parameter named `__proto__` stays a parameter.
  const params: Record<string, string[]> = Object.create(null);
  if (query !== undefined) {
    if (!isMapping(query)) {
      return "'request.query' must map each parameter to a string or a list of strings";
    }
    for (const [name, value] of Object.entries(query)) {
      const values = Array.isArray(value) ? value : [value];
      if (values.some((v) => typeof v !== "string")) {
        return `'request.query.${name}' must be a string or a list of strings, got ${
          JSON.stringify(value)
        } (quote it)`;
      }
      params[name] = values as string[];
    }
  }
  const facts: Record<string, unknown> = { method, path, raw_path: path, query: params };
  if (body !== undefined) {
    if (body === null || typeof body !== "object") {
      return "'request.body' must be a mapping or a list: the JSON document the client sends";
    }
    facts.body = JSON.stringify(body);
    facts.body_json = body;
  }
  return facts;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function rank(o: Outcome): number {
  return o.kind === "deny" ? 2 : o.kind === "approve" ? 1 : 0;
}
