/**
 * `clawpatrol test FIXTURE...`: replays rule fixtures (YAML) against the config, prints
 * mismatches and the rules no fixture exercised. Exit 0 all pass, 1 mismatches, 2 bad input.
 *
 * A fixture file is a list of cases, or a mapping with `cases:`:
 *
 * ```yaml
 * - name: drop table is denied
 *   endpoint: db
 *   facts: { sql: { verbs: [drop], statement: "DROP TABLE users" } }
 *   expect: { verdict: deny, rule: pg-no-ddl }
 * ```
 *
 * @module
 */

import { parse as parseYaml } from "yaml";
import { loadAndCompile } from "../gateway/mod.ts";
import { replayCase } from "../policy/mod.ts";
import { parseCommand, UsageError } from "./_args.ts";
import { err, out } from "./_io.ts";

/** Runs `clawpatrol test`. */
export async function testCommand(args: string[]): Promise<number> {
  const { values, positionals, global } = parseCommand(args, {
    "require-coverage": { type: "boolean" },
  });
  if (positionals.length === 0) throw new UsageError("test needs at least one fixture file");
  const { config, policy } = await loadAndCompile(global.config);
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
      const result = replayCase(config, policy, raw, i);
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
