/**
 * Runs the SQL differential oracle (`tests/_sql_oracle.ts`) against a throwaway PostgreSQL 15 for
 * as long as asked, printing progress every few seconds and each failure's minimal reproduction.
 * Exits 1 when the gateway and the server disagreed on anything.
 *
 * Usage: `deno task fuzz:sql [-- --seed N --count N|--seconds N --mode all|readonly --shrink N]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { postgresAvailable, startPostgres } from "../tests/_postgres.ts";
import { type Failure, type Mode, runOracle } from "../tests/_sql_oracle.ts";

const USAGE =
  "usage: deno task fuzz:sql [-- --seed N --count N|--seconds N --mode all|readonly --shrink N]";

function options() {
  // `deno task x -- args` passes the `--` on.
  const args = Deno.args[0] === "--" ? Deno.args.slice(1) : Deno.args;
  const { values } = parseArgs({
    args,
    options: {
      seed: { type: "string", default: String(Date.now() % 1_000_000) },
      count: { type: "string" },
      seconds: { type: "string" },
      mode: { type: "string", default: "all" },
      shrink: { type: "string", default: "3" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const int = (v: string | undefined, name: string) => {
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) throw new Error(`--${name} must be a whole number\n${USAGE}`);
    return Number(v);
  };
  if (values.mode !== "all" && values.mode !== "readonly") {
    throw new Error(`--mode must be all or readonly\n${USAGE}`);
  }
  const seconds = int(values.seconds, "seconds");
  return {
    seed: int(values.seed, "seed")!,
    count: int(values.count, "count") ?? (seconds === undefined ? 10_000 : undefined),
    seconds,
    mode: values.mode as Mode,
    shrinkPerKind: int(values.shrink, "shrink")!,
  };
}

/** One failure, shrunk when it was, as a copy-pasteable reproduction. */
function report(f: Failure, n: number): string {
  const m = f.minimal ?? { text: f.text, prefix: f.prefix };
  const lines = [`#${n} ${f.kind}${f.minimal ? " (shrunk)" : " (not shrunk)"}`];
  // An unshrunk prefix is the whole session so far: its tail is what usually matters.
  const tail = m.prefix.slice(-3);
  const more = m.prefix.length > 3 ? ` (the last 3 of ${m.prefix.length} messages)` : "";
  if (m.prefix.length > 0) lines.push(`  after: ${JSON.stringify(tail)}${more}`);
  lines.push(`  text:  ${JSON.stringify(m.text)}`);
  if (f.minimal) lines.push(`  found: ${JSON.stringify(f.text)}`);
  lines.push(`  ${f.detail.replaceAll("\n", "\n  ")}`);
  return lines.join("\n");
}

if (import.meta.main) {
  if (!postgresAvailable()) {
    console.error("PostgreSQL 15 server binaries not found (/usr/lib/postgresql/15/bin)");
    Deno.exit(2);
  }
  const opts = options();
  console.log(
    `fuzz:sql seed ${opts.seed}, mode ${opts.mode}, ${
      opts.count !== undefined ? `${opts.count} texts` : `${opts.seconds} s`
    }`,
  );
  const pg = await startPostgres();
  // Ctrl-C still removes the throwaway cluster.
  const interrupted = () => pg.stop().finally(() => Deno.exit(130));
  Deno.addSignalListener("SIGINT", interrupted);
  let failed = false;
  try {
    const r = await runOracle({
      cluster: pg,
      ...opts,
      onProgress: (s, failures, ms) =>
        console.log(
          `${s.texts} texts (${Math.round(s.texts / (ms / 1000))}/s): ${s.forwarded} forwarded, ` +
            `${s.refused} refused, ${s.shapeChecks} shape checks, ${failures} failures`,
        ),
    });
    // One line per distinct minimal text: a single bug is often found many times.
    const seen = new Map<string, number>();
    for (const f of r.failures) {
      const key = `${f.kind} ${f.minimal?.text ?? f.text}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
      if (seen.get(key) === 1) console.log(report(f, seen.size));
    }
    const tags = Object.entries(r.tags).sort((a, b) => b[1] - a[1]);
    console.log(`server tags seen: ${tags.map(([t, n]) => `${t} ${n}`).join(", ")}`);
    console.log(
      `${r.texts} texts in ${(r.ms / 1000).toFixed(1)} s ` +
        `(${Math.round(r.texts / (r.ms / 1000))}/s): ${r.forwarded} forwarded, ${r.refused} ` +
        `refused, ${r.failures.length} failures; ${JSON.stringify(r.stats)}`,
    );
    failed = r.failures.length > 0;
  } finally {
    Deno.removeSignalListener("SIGINT", interrupted);
    await pg.stop();
  }
  Deno.exit(failed ? 1 : 0);
}
