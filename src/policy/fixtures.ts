/**
 * Rule fixtures: an action's facts plus the expected verdict and rule, replayed against a policy
 * (`clawpatrol test`). Pure: parsing YAML and printing are the CLI's job.
 *
 * @module
 */

import type {
  Action,
  DerivedFacts,
  Facts,
  Outcome,
  Protocol,
  ProtocolFamily,
} from "../core/mod.ts";
import type { Config, Endpoint } from "../config/mod.ts";
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

/** What {@linkcode replayCase} replays a case against. */
export interface ReplayCaseOptions {
  /** The config whose endpoints the case names. */
  config: Config;
  policy: Policy;
  /** The case's position in its file, for the name of an unnamed case. @default 0 */
  index?: number;
  /** Turns given facts into the actions a protocol would derive. @default the facts as given */
  derive?: FactsDeriver;
}

/**
 * Replays one fixture case (a parsed YAML mapping) against the policy.
 *
 * A case for an endpoint that sees `http` facts (https, kubernetes) may give the request instead
 * of facts: `request: {method, path, query, body}` becomes `http.method`, `path`, `raw_path`,
 * `query`, and `body_json` (with `body` its JSON text). `facts.http` fields, where given, win.
 *
 * @example
 * ```ts
 * replayCase({
 *   name: "drop is denied", endpoint: "db",
 *   facts: { sql: { verbs: ["drop"] } }, expect: { verdict: "deny", rule: "pg-no-ddl" },
 * }, { config, policy }).ok;
 * ```
 */
export function replayCase(
  raw: unknown,
  { config, policy, index = 0, derive }: ReplayCaseOptions,
): FixtureResult {
  const fallbackName = `case ${index + 1}`;
  if (!isMapping(raw)) {
    return { name: fallbackName, ok: false, rule: null, problem: "a case must be a mapping" };
  }
  const c = raw;
  const name = typeof c.name === "string" ? c.name : fallbackName;
  const bad = (problem: string): FixtureResult => ({ name, ok: false, rule: null, problem });
  for (const key of Object.keys(c)) {
    if (!CASE_FIELDS.has(key)) return bad(`unknown field '${key}'`);
  }
  if (typeof c.endpoint !== "string") return bad("'endpoint' (an endpoint name) is required");
  const endpoint = config.endpoints.get(c.endpoint);
  if (!endpoint) return bad(`no endpoint named '${c.endpoint}' in the config`);
  const expected = expectation(c.expect);
  if (typeof expected === "string") return bad(expected);
  const family: ProtocolFamily = endpoint.protocol;
  const protocol = policy.protocolOf(family);
  if (!protocol) return bad(`endpoint '${endpoint.name}' is of unregistered protocol ${family}`);
  const given = givenFacts(c, endpoint, protocol);
  if (typeof given === "string") return bad(given);
  let derived: DerivedFacts[];
  try {
    derived = derive?.(family, given) ?? [{ facts: given }];
  } catch (err) {
    return bad((err as Error).message);
  }
  const agent = caseAgent(c.agent);
  const caseUnknown = Array.isArray(c.unknown) ? c.unknown.map(String) : [];
  const outcome = decideActions(policy, derived, ({ facts, unknown }) => {
    const allUnknown = [...caseUnknown, ...(unknown ?? [])];
    let complete: Facts;
    try {
      complete = completeFacts(protocol, facts);
    } catch (err) {
      return (err as Error).message;
    }
    return {
      protocol: endpoint.protocol,
      endpoint: endpoint.name,
      agent,
      credential: typeof c.credential === "string" ? c.credential : undefined,
      facts: complete,
      unknown: allUnknown.length > 0 ? allUnknown : undefined,
      summary: name,
    };
  });
  if (typeof outcome === "string") return bad(outcome);
  return caseResult(name, expected, outcome);
}

/** The agent a case acts as: `agent: {name, profile}`, each with a default. */
function caseAgent(raw: unknown): { name: string; profile: string } {
  const agent = (raw ?? {}) as Record<string, unknown>;
  return {
    name: typeof agent.name === "string" ? agent.name : "fixture-agent",
    profile: typeof agent.profile === "string" ? agent.profile : "fixture-profile",
  };
}

/** What a case expects: a verdict, and the deciding rule when `rule` is given (null: none). */
interface Expectation {
  verdict: ExpectedVerdict;
  rule?: string | null;
}

/** A case's `expect: {verdict, rule}`, or what is wrong with it. */
function expectation(raw: unknown): Expectation | string {
  const expect = raw as Record<string, unknown> | undefined;
  if (!expect || typeof expect !== "object") return "'expect: {verdict, rule}' is required";
  const verdict = expect.verdict;
  if (verdict !== "allow" && verdict !== "deny" && verdict !== "approve") {
    return "'expect.verdict' must be allow, deny or approve";
  }
  if (!("rule" in expect)) return { verdict };
  if (expect.rule !== null && typeof expect.rule !== "string") {
    return "'expect.rule' must be a rule name or null";
  }
  return { verdict, rule: expect.rule };
}

/**
 * The facts a case gives, its `request:` turned into `http` facts (its `facts.http` fields win),
 * or what is wrong with them.
 */
function givenFacts(
  c: Record<string, unknown>,
  endpoint: Endpoint,
  protocol: Protocol,
): Record<string, Record<string, unknown>> | string {
  const given = (c.facts ?? {}) as Record<string, Record<string, unknown>>;
  if (!("request" in c)) return given;
  if (!protocol.facets.some((f) => f.variable === "http")) {
    const { name, protocol: family } = endpoint;
    return `'request' needs an endpoint with http facts: '${name}' is ${family}`;
  }
  const request = requestFacts(c.request);
  if (typeof request === "string") return request;
  return { ...given, http: { ...request, ...given.http } };
}

/**
 * The outcome of a case's actions, one per derived statement, decided as the gateway decides a
 * message: the first deny wins, then the first hold for approval. Or why an action could not be
 * built (what `action` returns instead of one).
 */
function decideActions(
  policy: Policy,
  derived: DerivedFacts[],
  action: (derived: DerivedFacts) => Action | string,
): Outcome | string {
  let outcome: Outcome | undefined;
  for (const d of derived) {
    if (d.refusal !== undefined) {
      outcome = { kind: "deny", rule: null, reason: d.refusal };
      break;
    }
    const next = action(d);
    if (typeof next === "string") return next;
    const decided = policy.evaluate(next).outcome;
    if (!outcome || rank(decided) > rank(outcome)) outcome = decided;
    if (decided.kind === "deny") break;
  }
  return outcome ?? { kind: "allow", rule: null };
}

/** The case's result: passed, or every way `outcome` differs from what it expected. */
function caseResult(name: string, expected: Expectation, outcome: Outcome): FixtureResult {
  const got: ExpectedVerdict = outcome.kind;
  const problems: string[] = [];
  if (got !== expected.verdict) problems.push(`expected ${expected.verdict}, got ${got}`);
  if ("rule" in expected && (expected.rule ?? null) !== outcome.rule) {
    problems.push(`expected rule ${expected.rule ?? "(none)"}, got ${outcome.rule ?? "(none)"}`);
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
