/**
 * Regenerates src/protocols/postgres/_pg_functions.json from a throwaway PostgreSQL 15 and checks
 * the committed data is identical, so a changed generator or server is noticed.
 */
import { equal } from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { postgresAvailable } from "./_postgres.ts";

const ignore = !postgresAvailable();
if (ignore) console.warn("PostgreSQL 15 binaries not found: skipping pg_functions_catalog_test.ts");

const ROOT = fileURLToPath(new URL("../", import.meta.url));

Deno.test({ name: "_pg_functions.json matches what the generator makes now", ignore }, async () => {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol-pgfn-" });
  try {
    const out = join(dir, "_pg_functions.json");
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(ROOT, "tools/gen_pg_functions.ts"), "--out", out],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    equal(run.code, 0, new TextDecoder().decode(run.stderr));
    const committed = await Deno.readTextFile(
      join(ROOT, "src/protocols/postgres/_pg_functions.json"),
    );
    // equal() on two 100 kB strings prints a useless diff: compare, then name the first change.
    const fresh = await Deno.readTextFile(out);
    if (fresh !== committed) {
      const a = committed.split("\n"), b = fresh.split("\n");
      let line = 0;
      while (a[line] === b[line]) line++; // ends: the texts differ somewhere
      throw new Error(
        `stale: line ${line + 1} is ${JSON.stringify(a[line])}, regenerated ` +
          `${JSON.stringify(b[line])}; run deno run -A tools/gen_pg_functions.ts`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
