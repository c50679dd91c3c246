import { equal } from "node:assert/strict";
import { gapIndex, readsAnyGap } from "./_replay.ts";

/** The rule, stated plainly: a read `f.x` needs fact `f.x` or `f.*`; a read `f.*` any `f.…`. */
function reference(reads: string[], unknown: string[]): boolean {
  return unknown.some((fact) => {
    const [family, field] = fact.split(".", 2);
    return reads.some((read) => {
      const [rf, rfield] = read.split(".", 2);
      return rf === family && (field === "*" || rfield === "*" || rfield === field);
    });
  });
}

Deno.test("replay's indexed 'does this rule read a missing fact' agrees with the plain rule", () => {
  const families = ["http", "sql", "k8s"];
  const fields = ["*", "method", "path", "headers", "headers.authorization", "body"];
  let seed = 7;
  const pick = <T>(xs: T[]) => xs[(seed = (seed * 1103515245 + 12345) % 2 ** 31) % xs.length];
  const name = () => `${pick(families)}.${pick(fields)}`;
  for (let i = 0; i < 5_000; i++) {
    const reads = Array.from({ length: 1 + i % 4 }, name);
    const unknown = Array.from({ length: i % 5 }, name);
    const got = readsAnyGap(new Set(reads), gapIndex(unknown));
    equal(got, reference(reads, unknown), `reads ${reads} / unknown ${unknown}`);
  }
});
