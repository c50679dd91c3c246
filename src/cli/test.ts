/**
 * `clawpatrol test FIXTURE...`: replays rule fixtures (YAML) against the config, prints
 * mismatches and the rules no fixture exercised. Exit 0 all pass, 1 mismatches, 2 bad input.
 *
 * A fixture file is a list of cases, or a mapping with `cases:`:
 *
 * ```yaml
 * - name: drop table is denied
 *   endpoint: db
 *   facts: { sql: { statement: "select 1; DROP TABLE users" } }
 *   expect: { verdict: deny, rule: pg-no-ddl }
 * ```
 *
 * For SQL, `statement` alone is enough: the real PostgreSQL parser derives verbs, tables,
 * functions and `dynamic` for each statement, and the case is decided statement by statement as
 * the gateway would. Facts written out explicitly are used as given.
 *
 * For Kubernetes (and HTTPS), a case may give the request instead of facts:
 *
 * ```yaml
 * - name: watching secrets is denied
 *   endpoint: cluster
 *   request:
 *     method: GET # any case; becomes http.method, lowercase
 *     path: /api/v1/namespaces/default/secrets # no query here
 *     query: { watch: "true" } # optional: a string or a list of strings per parameter
 *     body: { spec: { hostPID: true } } # optional mapping or list: http.body_json (and http.body)
 *   expect: { verdict: deny, rule: k8s-no-secrets }
 * ```
 *
 * On a kubernetes endpoint, `k8s.*` is then derived from `http.method`, `path` and `query` with
 * the gateway's own apiserver RequestInfo logic (so is a case that gives those `facts.http`
 * fields itself). `facts.http` and `facts.k8s` fields given alongside win over the request and
 * the derived facts, field by field. A misspelt or ill-typed `request` field fails the case.
 *
 * @module
 */

import { parse as parseYaml } from "yaml";
import { loadAndCompile } from "../gateway/mod.ts";
import { type DerivedFacts, type FactsDeriver, replayCase } from "../policy/mod.ts";
import { loadSqlParser, SqlAnalyzer } from "../protocols/postgres/mod.ts";
import { requestInfo } from "../protocols/kubernetes/mod.ts";
import { graphqlFacts, pathForms } from "../protocols/http/mod.ts";
import { parseCommand, UsageError } from "./_args.ts";
import { err, out } from "./_io.ts";

/** Runs `clawpatrol test`. */
export async function testCommand(args: string[]): Promise<number> {
  const { values, positionals, global } = parseCommand(args, {
    "require-coverage": { type: "boolean" },
  });
  if (positionals.length === 0) throw new UsageError("test needs at least one fixture file");
  const { config, policy } = await loadAndCompile(global.config);
  const sql = await sqlDeriver(config.endpoints.values());
  const derive: FactsDeriver = (family, facts) => {
    if (family === "postgres") return sql(family, facts) ?? [{ facts }];
    const { facts: http, unknown } = withGraphql(withPathForms(facts));
    const derived = family === "kubernetes"
      ? kubernetesDerived(http) ?? [{ facts: http }]
      : [{ facts: http }];
    if (unknown.length === 0) return derived;
    return derived.map((d) => ({ ...d, unknown: [...(d.unknown ?? []), ...unknown] }));
  };
  const exercised = new Set<string>();
  let passed = 0;
  let failed = 0;
  for (const file of positionals) {
    let cases: unknown[];
    try {
      const doc = parseYaml(await Deno.readTextFile(file));
      const list = Array.isArray(doc) ? doc : (doc as { cases?: unknown })?.cases;
      if (!Array.isArray(list)) throw new Error("expected a list of cases (or 'cases:')");
      cases = list;
    } catch (e) {
      const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
      err(`${file}: cannot read fixtures: ${why.split("\n")[0]}`);
      return 2;
    }
    cases.forEach((raw, i) => {
      const result = replayCase(config, policy, raw, i, derive);
      if (result.rule) exercised.add(result.rule);
      if (result.ok) {
        passed++;
      } else {
        failed++;
        out(`FAIL ${file}: ${result.name}: ${result.problem}`);
      }
    });
  }
  const unexercised = config.rules.map((r) => r.name).filter((n) => !exercised.has(n));
  out(`${passed} passed, ${failed} failed`);
  if (unexercised.length > 0) {
    out(
      `coverage: ${
        config.rules.length - unexercised.length
      }/${config.rules.length} rules exercised; never decided by a fixture: ${
        unexercised.join(", ")
      }`,
    );
  } else {
    out(`coverage: all ${config.rules.length} rules exercised`);
  }
  if (failed > 0) return 1;
  return values["require-coverage"] === true && unexercised.length > 0 ? 1 : 0;
}

/**
 * The `k8s` facts of the request in the case's `http` facts, as the gateway derives them, under
 * any `k8s` fields the case gives. `null` (facts as given) when there is no request, or when its
 * fields are ill-typed: completing the facts then reports them.
 */
function kubernetesDerived(facts: Record<string, Record<string, unknown>>): DerivedFacts[] | null {
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
  return [{ facts: { ...facts, k8s: { ...k8s, ...facts.k8s } } }];
}

/**
 * `http.canonical_path` and `http.path_anomalies` of the case's `http.path`, as the gateway
 * derives them, unless the case gives them.
 */
function withPathForms(
  facts: Record<string, Record<string, unknown>>,
): Record<string, Record<string, unknown>> {
  const http = facts.http;
  if (typeof http?.path !== "string") return facts;
  const forms = pathForms(http.path);
  return {
    ...facts,
    http: { canonical_path: forms.canonicalPath, path_anomalies: forms.anomalies, ...http },
  };
}

/**
 * `http.graphql` of the case's request (its `query` parameters and JSON body), with the
 * gateway's own parser, unless the case gives it; GraphQL the gateway could not read leaves
 * `http.graphql` unknown, as it would at the gateway.
 */
function withGraphql(
  facts: Record<string, Record<string, unknown>>,
): { facts: Record<string, Record<string, unknown>>; unknown: string[] } {
  const http = facts.http;
  if (!http || "graphql" in http) return { facts, unknown: [] };
  const query: Record<string, string[]> = Object.create(null);
  const given = http.query ?? {};
  if (given !== null && typeof given === "object" && !Array.isArray(given)) {
    for (const [name, value] of Object.entries(given)) {
      query[name] = (Array.isArray(value) ? value : [value]).map(String);
    }
  }
  let json = http.body_json ?? null;
  if (json === null && typeof http.body === "string" && http.body !== "") {
    try {
      json = JSON.parse(http.body);
    } catch {
      // Not JSON: no GraphQL body, as at the gateway.
    }
  }
  const graphql = graphqlFacts({ query, body_json: json });
  if (graphql === null) return { facts, unknown: [] };
  if (graphql === "unknown") return { facts, unknown: ["http.graphql"] };
  return { facts: { ...facts, http: { ...http, graphql } }, unknown: [] };
}

/** Facts the SQL parser derives, so a fixture can give just the statement. */
const DERIVED_SQL = [
  "verb",
  "verbs",
  "tables",
  "functions",
  "dynamic",
  "settings",
  "read_only",
  "statement_count",
];

async function sqlDeriver(endpoints: Iterable<{ protocol: string }>): Promise<FactsDeriver> {
  if (![...endpoints].some((e) => e.protocol === "postgres")) return () => null;
  // The parser is WASM (~100 ms to load): only configs with a postgres endpoint pay for it.
  await loadSqlParser();
  const analyzer = new SqlAnalyzer();
  return (family, facts) => {
    const sql = facts.sql;
    if (family !== "postgres" || typeof sql?.statement !== "string") return null;
    if (DERIVED_SQL.some((f) => f in sql)) return null;
    const analysis = analyzer.analyze(sql.statement);
    // The gateway decides unparseable SQL with the parser's facts unknown: so does the fixture.
    if (!analysis.ok) {
      return [{ facts, unknown: DERIVED_SQL.slice(0, 7).map((f) => `sql.${f}`) }];
    }
    return analysis.statements.map((s) => ({
      facts: {
        ...facts,
        sql: {
          ...sql,
          verb: s.verb,
          verbs: [...s.verbs],
          tables: [...s.tables],
          functions: [...s.functions],
          dynamic: s.dynamic,
          settings: [...s.settings],
          read_only: s.readOnly,
          statement: s.statement,
          statement_count: analysis.statements.length,
        },
      },
      ...(s.unknown.length > 0 ? { unknown: [...s.unknown] } : {}),
      ...(s.refusal !== null ? { refusal: s.refusal } : {}),
    }));
  };
}
