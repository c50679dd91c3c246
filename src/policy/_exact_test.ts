// Property: an exact evaluator's answer, whenever it gives one, is CEL's answer; and over
// well-formed facts it always gives one, so rules of its shape never reach CEL.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import type { Protocol } from "../core/mod.ts";
import { environmentFor, factsContext } from "./_facts.ts";
import type { FactsView } from "./_analyze.ts";
import { exactEvaluator } from "./_exact.ts";
import { SeededRng } from "../../tests/_rng.ts";
import { protocolOf } from "../protocols/registry.ts";

const K8S = protocolOf("kubernetes")!;
const PG = protocolOf("postgres")!;

const WORDS = ["get", "list", "delete", "pods", "secrets", "prod", "a", "", "x-token", "Get"];
const STRINGS: Record<string, string[]> = {
  kubernetes: [
    "k8s.verb",
    "k8s.resource",
    "k8s.namespace",
    "http.method",
    "http.path",
    "agent.name",
  ],
  postgres: ["sql.verb", "sql.statement", "sql.user", "agent.profile"],
};
const LISTS: Record<string, string[]> = {
  kubernetes: ["http.path_anomalies", "http.placeholders"],
  postgres: ["sql.verbs", "sql.tables", "sql.settings"],
};
const MAPS: Record<string, string[]> = {
  kubernetes: ["http.headers", "http.query", "k8s.params"],
  postgres: [],
};
const BOOLS: Record<string, string[]> = {
  kubernetes: ["k8s.is_resource_request", "http.body_truncated"],
  postgres: ["sql.dynamic", "sql.read_only"],
};

/** A well-typed condition of the exact subset over `family`'s facts. */
function condition(rng: SeededRng, family: string, depth: number, variable?: string): string {
  const lit = () => `'${rng.pick(WORDS)}'`;
  const str = () => variable && rng.float() < 0.5 ? variable : rng.pick(STRINGS[family]);
  const lits = () => `[${Array.from({ length: 1 + rng.int(3) }, lit).join(", ")}]`;
  const r = rng.float();
  if (depth > 0 && r < 0.3) {
    const op = rng.pick(["&&", "||"]);
    return `(${condition(rng, family, depth - 1, variable)} ${op} ${
      condition(rng, family, depth - 1, variable)
    })`;
  }
  if (depth > 0 && r < 0.38) return `!(${condition(rng, family, depth - 1, variable)})`;
  if (!variable && r < 0.5) {
    const collections = [...LISTS[family], ...MAPS[family]];
    const v = rng.pick(["v", "k"]);
    return `${rng.pick(collections)}.${rng.pick(["exists", "all"])}(${v}, ${
      condition(rng, family, Math.min(depth, 1), v)
    })`;
  }
  switch (rng.int(10)) {
    case 0:
      return `${str()} == ${rng.float() < 0.5 ? lit() : str()}`;
    case 1:
      return `${str()} != ${lit()}`;
    case 2:
      return `${str()} in ${lits()}`;
    case 3: {
      const collections = [...LISTS[family], ...MAPS[family]];
      return `${lit()} in ${rng.pick(collections)}`;
    }
    case 4:
      return `${str()}.${rng.pick(["startsWith", "endsWith", "contains"])}(${lit()})`;
    case 5:
      return `${str()}.re_match('^${rng.pick(["get", "p[a-z]+s$", "(a|x)", "$"])}')`;
    case 6:
      return rng.pick(BOOLS[family]);
    case 7:
      return `${rng.pick(BOOLS[family])} == ${rng.pick(["true", "false"])}`;
    case 8:
      return rng.pick(["true", "false"]);
    default:
      return `${str()} == ${lit()}`;
  }
}

/** Facts with every declared field of the right kind, drawn from small pools so tests match. */
function wellFormed(rng: SeededRng, family: string): FactsView {
  const word = () => rng.pick(WORDS);
  const list = () => Array.from({ length: rng.int(4) }, word);
  const map = () => Object.fromEntries(list().map((k) => [k, [word()]]));
  const facts: FactsView = { agent: { name: word(), profile: word() } };
  const facets: Record<string, Record<string, unknown>> = {};
  for (const field of [...STRINGS[family], ...LISTS[family], ...MAPS[family], ...BOOLS[family]]) {
    const [facet, name] = field.split(".");
    if (facet === "agent") continue;
    facets[facet] ??= {};
    facets[facet][name] = STRINGS[family].includes(field)
      ? word()
      : LISTS[family].includes(field)
      ? list()
      : MAPS[family].includes(field)
      ? map()
      : rng.float() < 0.5;
  }
  return { ...facts, ...facets };
}

/** One way a buggy or partial protocol could get facts wrong; the evaluator must defer to CEL. */
function malformed(rng: SeededRng, family: string, facts: FactsView, source: string): string {
  const all = [...STRINGS[family], ...LISTS[family], ...MAPS[family], ...BOOLS[family]]
    .filter((f) => !f.startsWith("agent."));
  // Mostly a field the condition reads, where a wrong answer would show.
  const read = all.filter((f) => source.includes(f));
  const [facet, field] = rng.pick(read.length > 0 && rng.chance(0.8) ? read : all).split(".");
  const target = facts[facet]!;
  const bad: [string, () => void][] = [
    ["missing field", () => delete target[field]],
    ["number", () => target[field] = 7],
    ["bigint", () => target[field] = 7n],
    ["string", () => target[field] = "get"],
    ["list holding a number", () => target[field] = ["get", 7]],
    ["list", () => target[field] = ["get", "x-token"]],
    ["map", () => target[field] = { get: ["1"], "x-token": ["1"] }],
    ["Map", () => target[field] = new Map([["get", ["1"]]])],
    ["inherited map", () => target[field] = Object.create({ get: ["1"], "x-token": ["1"] })],
    ["key without a value", () => target[field] = { get: undefined, "x-token": undefined }],
    ["hidden field", () => Object.defineProperty(target, field, { enumerable: false })],
    ["inherited field", () => {
      const value = target[field];
      delete target[field];
      facts[facet] = Object.assign(Object.create({ [field]: value }), target);
    }],
    ["missing facet", () => delete facts[facet]],
    ["facet not an object", () => facts[facet] = "get" as unknown as Record<string, unknown>],
    ["null", () => target[field] = null],
  ];
  const [name, apply] = rng.pick(bad);
  apply();
  return `${name} at ${facet}.${field}`;
}

/** CEL's verdict on the facts: the boolean, or "error" when evaluation throws. */
function celVerdict(protocol: Protocol, source: string, facts: FactsView): boolean | "error" {
  const parsed = environmentFor(protocol).parse(source);
  const { agent, ...rest } = facts;
  try {
    const ctx = factsContext(protocol, rest, agent as { name: string; profile: string });
    const result = parsed(ctx);
    return typeof result === "boolean" ? result : "error";
  } catch {
    return "error";
  }
}

function check(protocol: Protocol, seed: number, cases: number) {
  const rng = new SeededRng(seed);
  const env = environmentFor(protocol);
  const tally = { decided: 0, deferred: 0, errors: 0, true: 0, false: 0 };
  for (let i = 0; i < cases; i++) {
    const source = condition(rng, protocol.family, 3);
    const checked = env.check(source);
    assert(checked.valid, `${source}: ${checked.error?.message}`);
    const exact = exactEvaluator(env.parse(source).ast, protocol);
    assert(exact, `no exact evaluator for a condition of the subset: ${source}`);
    const facts = wellFormed(rng, protocol.family);
    const broken = rng.float() < 0.5 ? malformed(rng, protocol.family, facts, source) : null;
    const want = celVerdict(protocol, source, facts);
    const got = exact(facts);
    // A well-formed action is always decided; a malformed one may be left to CEL.
    if (got !== want && (broken === null || got !== undefined)) {
      const shown = JSON.stringify(facts, (_, v) => typeof v === "bigint" ? `${v}n` : v);
      assert(
        false,
        `${source}\nfacts (${broken ?? "well-formed"}): ${shown}\n` +
          `exact: ${got}, CEL: ${want}`,
      );
    }
    if (got === undefined) tally.deferred++;
    else tally.decided++;
    if (want === "error") tally.errors++;
    else tally[`${want}`]++;
  }
  return tally;
}

Deno.test("exact evaluators agree with CEL on Kubernetes facts, well-formed or not (property)", () => {
  const tally = check(K8S, 21, 3000);
  // Both verdicts and CEL errors must be common, or the comparison proves little.
  assert(tally.true > 500 && tally.false > 500, JSON.stringify(tally));
  assert(tally.errors > 500, JSON.stringify(tally));
  assert(tally.deferred > 500 && tally.decided > 1800, JSON.stringify(tally));
});

Deno.test("exact evaluators agree with CEL on Postgres facts, well-formed or not (property)", () => {
  const tally = check(PG, 22, 3000);
  assert(tally.true > 500 && tally.false > 500, JSON.stringify(tally));
  assert(tally.errors > 500, JSON.stringify(tally));
  assert(tally.deferred > 500 && tally.decided > 1800, JSON.stringify(tally));
});

Deno.test("exactEvaluator leaves conditions outside its subset to CEL", () => {
  const outside = [
    "http.port == 443",
    "size(http.path) > 3",
    "http.headers['x-token'][0] == 'a'",
    "http.path.matches(k8s.name)",
    "http.path_anomalies.exists(a, http.placeholders.exists(b, a == b))",
    "http.body_json.kind == 'Pod'",
    "http.graphql.operation_types.all(t, t == 'query')",
    "k8s.params.exists_one(k, k == 'watch')",
    "http.method + 'x' == 'getx'",
    "http.path_anomalies == ['a']",
    "http.port == http.port",
    "http.body_json == http.body_json",
    "http.method == 'get' && k8s.verb.lowerAscii() == 'get'",
    "http.method == 'get' || size(http.placeholders) == 0",
  ];
  const env = environmentFor(K8S);
  for (const source of outside) {
    assert(env.check(source).valid, source);
    assertEquals(exactEvaluator(env.parse(source).ast, K8S), null, source);
  }
  // A comprehension variable named like a facet is the variable, never the facet. (These do not
  // type-check, so no rule holds them; the evaluator must not misread them all the same.)
  const pg = environmentFor(PG);
  for (
    const source of [
      "sql.verbs.exists(sql, sql.verb == 'x')",
      "sql.verbs.exists(sql, sql.tables.exists(t, t == 'x'))",
    ]
  ) {
    assertEquals(exactEvaluator(pg.parse(source).ast, PG), null, source);
  }
});

Deno.test("exact evaluators on the edges CEL's own reading draws", () => {
  const env = environmentFor(PG);
  const verbs = (list: unknown[]) => ({ sql: { verbs: list, verb: "select" } });
  const cases: [string, FactsView, boolean | undefined][] = [
    // A list holding another type: membership and quantifiers are left to CEL.
    ["'x' in sql.verbs", verbs([7, "x"]), undefined],
    ["'x' in sql.verbs", verbs(["x", 7]), undefined],
    ["sql.verbs.exists(v, true)", verbs(["x", 7]), undefined],
    ["sql.verbs.all(v, v == 'x')", verbs(["x", 7]), undefined],
    ["'x' in sql.verbs", verbs(["y", "x"]), true],
    ["'x' in sql.verbs", verbs([]), false],
    ["sql.verbs.all(v, v in ['x', 'y'])", verbs([]), true],
    ["sql.verbs.exists(v, v in ['x', 'y'])", verbs([]), false],
    // A predicate reading a missing fact leaves the quantifier to CEL.
    ["sql.verbs.exists(v, v == sql.user)", verbs(["x"]), undefined],
    ["sql.verbs.exists(v, v == sql.verb)", verbs(["x", "select"]), true],
    ["sql.verbs.exists(v, sql.verbs.all(w, w != 'y'))", verbs(["x", "select"]), true],
    ["sql.verbs.all(v, sql.verbs.exists(v, v == 'y'))", verbs(["x", "select"]), false],
    ["sql.verbs.all(v, sql.verbs.exists(w, w == 'y'))", verbs([]), true],
    // `&&` and `||` decide past an undecided side, on either side.
    ["sql.user == 'a' && sql.verb == 'insert'", verbs([]), false],
    ["sql.verb == 'insert' && sql.user == 'a'", verbs([]), false],
    ["sql.user == 'a' || sql.verb == 'select'", verbs([]), true],
    ["sql.user == 'a' || sql.verb == 'insert'", verbs([]), undefined],
    ["!(sql.user == 'a')", verbs([]), undefined],
  ];
  for (const [source, facts, expected] of cases) {
    const exact = exactEvaluator(env.parse(source).ast, PG)!;
    const got = exact(facts);
    assertEquals(got, expected, source);
    const cel = celVerdict(PG, source, facts);
    if (got !== undefined) assertEquals(got, cel, source);
  }
  const k8s = environmentFor(K8S);
  const headers = (value: unknown) => ({ http: { headers: value } });
  const mapCases: [string, FactsView, boolean | undefined][] = [
    // CEL's map membership wants the key's value defined.
    ["'x-token' in http.headers", headers({ "x-token": undefined }), false],
    ["'x-token' in http.headers", headers({ "x-token": ["1"] }), true],
    ["'toString' in http.headers", headers({}), false],
    ["http.headers.exists(k, k == 'x-token')", headers({ "x-token": undefined }), true],
    ["'x-token' in http.headers", headers(Object.create({ "x-token": ["1"] })), undefined],
    ["'x-token' in http.headers", headers(new Map([["x-token", ["1"]]])), undefined],
    ["'x-token' in http.headers", headers(["x-token"]), undefined],
  ];
  for (const [source, facts, expected] of mapCases) {
    const exact = exactEvaluator(k8s.parse(source).ast, K8S)!;
    const got = exact(facts);
    assertEquals(got, expected, source);
    if (got !== undefined) assertEquals(got, celVerdict(K8S, source, facts), source);
  }
});
