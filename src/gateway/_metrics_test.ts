import { equal, ok } from "node:assert/strict";
import type { Verdict } from "../core/mod.ts";
import { GatewayMetrics } from "./_metrics.ts";

const READINGS = {
  rules: () => 3,
  endpoints: () => 2,
  receiptsQueued: () => 0,
  receiptsInFlight: () => 0,
  receiptsWritable: () => 1,
};

function verdict(decision: "allow" | "deny", rule: string | null): Verdict {
  return { decision, wouldBe: decision, mode: "enforce", rule, reason: decision };
}

/** The sample of `series` in a Prometheus text exposition, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

Deno.test("/metrics exports decision latency and approval waits as separate histograms", () => {
  const metrics = new GatewayMetrics(READINGS);
  metrics.decided("https", verdict("allow", "github-reads"), 0.2, null);
  // Held for 90 s by a human; the gateway's own work took 0.4 ms.
  metrics.decided("https", verdict("allow", "github-writes"), 0.4, 90_000);
  metrics.decided("postgres", verdict("deny", "pg-ddl-needs-approval"), 0.3, 2_000);
  const text = metrics.registry.render();

  for (const name of ["clawpatrol_decision_seconds", "clawpatrol_approval_wait_seconds"]) {
    ok(text.includes(`\n# HELP ${name} `), `no HELP line for ${name}`);
    ok(text.includes(`\n# TYPE ${name} histogram\n`), `no TYPE line for ${name}`);
  }
  // Every decision, held ones included, is under a millisecond: the wait is not in it.
  equal(sample(text, 'clawpatrol_decision_seconds_bucket{protocol="https",le="0.0005"}'), 2);
  equal(sample(text, 'clawpatrol_decision_seconds_bucket{protocol="https",le="+Inf"}'), 2);
  equal(sample(text, 'clawpatrol_decision_seconds_bucket{protocol="postgres",le="0.0005"}'), 1);
  ok(sample(text, 'clawpatrol_decision_seconds_sum{protocol="https"}')! < 0.001);

  const wait = (labels: string) => sample(text, `clawpatrol_approval_wait_seconds${labels}`);
  equal(wait('_bucket{protocol="https",verdict="allow",le="60"}'), 0);
  equal(wait('_bucket{protocol="https",verdict="allow",le="120"}'), 1);
  equal(wait('_sum{protocol="https",verdict="allow"}'), 90);
  equal(wait('_count{protocol="https",verdict="allow"}'), 1);
  equal(wait('_bucket{protocol="postgres",verdict="deny",le="1"}'), 0);
  equal(wait('_bucket{protocol="postgres",verdict="deny",le="2.5"}'), 1);
  // An action that was never held is no approval wait.
  equal(wait('_count{protocol="https",verdict="deny"}'), undefined);

  // Still one action counted per decision.
  equal(
    sample(text, 'clawpatrol_actions_total{protocol="https",verdict="allow",rule="github-writes"}'),
    1,
  );
});

Deno.test("approval wait buckets run from 100 ms to an hour", () => {
  const metrics = new GatewayMetrics(READINGS);
  metrics.decided("https", verdict("deny", "r"), 0, 1);
  const bounds = [
    ...metrics.registry.render().matchAll(
      /clawpatrol_approval_wait_seconds_bucket\{protocol="https",verdict="deny",le="([^"]+)"\}/g,
    ),
  ].map((m) => m[1]);
  equal(bounds[0], "0.1");
  equal(bounds.at(-2), "3600");
  equal(bounds.at(-1), "+Inf");
});
