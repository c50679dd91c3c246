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

import type { Config } from "../config/mod.ts";
import type { FixtureDeriver } from "../core/mod.ts";
import { loadAndCompile } from "../gateway/mod.ts";
import { type FactsDeriver, replayCase } from "../policy/mod.ts";
import { PROTOCOLS } from "../protocols/registry.ts";
import { parseCommand, UsageError } from "./_args.ts";
import { err, out } from "./_io.ts";

/** Runs `clawpatrol test`. */
export async function testCommand(args: string[]): Promise<number> {
  const { values, positionals, global } = parseCommand(args, {
    "require-coverage": { type: "boolean" },
  });
  if (positionals.length === 0) throw new UsageError("test needs at least one fixture file");
  const { config, policy } = await loadAndCompile(global.config);
  const derive = await fixtureDerivers(config);
  // Imported here: the gateway process, which shares this module graph, never reads fixtures.
  const { parse: parseYaml } = await import("yaml");
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
      const result = replayCase(raw, { config, policy, index: i, derive });
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
 * Each registered protocol's fixture deriver, for the families the config has endpoints of: a
 * deriver may load a parser (SQL's is WASM, ~100 ms), which only configs that need it pay for.
 */
async function fixtureDerivers(config: Config): Promise<FactsDeriver> {
  const families = new Set<string>([...config.endpoints.values()].map((e) => e.protocol));
  const derivers = new Map<string, FixtureDeriver>();
  for (const protocol of PROTOCOLS) {
    if (protocol.fixtureFacts && families.has(protocol.family)) {
      derivers.set(protocol.family, await protocol.fixtureFacts());
    }
  }
  return (family, facts) => derivers.get(family)?.(facts) ?? null;
}
