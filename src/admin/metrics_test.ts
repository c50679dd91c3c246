import { deepEqual, equal, throws } from "node:assert/strict";
import { DECISION_LATENCY_BUCKETS_SECONDS, Metrics } from "./metrics.ts";

const lines = (...l: string[]) => l.join("\n") + "\n";

Deno.test("render() is empty for an empty registry", () => {
  equal(new Metrics().render(), "");
});

Deno.test("a labelled counter renders HELP, TYPE and one line per label set", () => {
  const metrics = new Metrics();
  const decisions = metrics.counter("clawpatrol_decisions_total", "Decisions made.", [
    "verdict",
    "rule",
  ]);
  decisions.inc({ verdict: "deny", rule: "pg-no-ddl" });
  decisions.inc({ rule: "pg-no-ddl", verdict: "deny" }, 2);
  decisions.inc({ verdict: "allow", rule: "default" });
  equal(
    metrics.render(),
    lines(
      "# HELP clawpatrol_decisions_total Decisions made.",
      "# TYPE clawpatrol_decisions_total counter",
      'clawpatrol_decisions_total{verdict="allow",rule="default"} 1',
      'clawpatrol_decisions_total{verdict="deny",rule="pg-no-ddl"} 3',
    ),
  );
});

Deno.test("an unlabelled counter renders 0 before its first increment", () => {
  const metrics = new Metrics();
  metrics.counter("clawpatrol_config_reloads_total", "Config reloads.");
  equal(
    metrics.render(),
    lines(
      "# HELP clawpatrol_config_reloads_total Config reloads.",
      "# TYPE clawpatrol_config_reloads_total counter",
      "clawpatrol_config_reloads_total 0",
    ),
  );
});

Deno.test("a labelled metric with no series yet renders only HELP and TYPE", () => {
  const metrics = new Metrics();
  metrics.counter("denies_total", "Denies.", ["rule"]);
  equal(metrics.render(), lines("# HELP denies_total Denies.", "# TYPE denies_total counter"));
});

Deno.test("a counter refuses a negative or NaN increment", () => {
  const counter = new Metrics().counter("c_total", "C.");
  throws(() => counter.inc(undefined, -1), RangeError);
  throws(() => counter.inc(undefined, NaN), RangeError);
});

Deno.test("a gauge is set, incremented and decremented, with and without labels", () => {
  const metrics = new Metrics();
  const connections = metrics.gauge("clawpatrol_connections", "Open connections.");
  connections.set(5);
  connections.inc();
  connections.dec(undefined, 3);
  const pending = metrics.gauge("clawpatrol_approvals_pending", "Pending approvals.", ["agent"]);
  pending.set({ agent: "codex" }, 2.5);
  pending.inc({ agent: "claude" });
  pending.inc({ agent: "claude" }, 2);
  pending.dec({ agent: "claude" });
  equal(
    metrics.render(),
    lines(
      "# HELP clawpatrol_connections Open connections.",
      "# TYPE clawpatrol_connections gauge",
      "clawpatrol_connections 3",
      "# HELP clawpatrol_approvals_pending Pending approvals.",
      "# TYPE clawpatrol_approvals_pending gauge",
      'clawpatrol_approvals_pending{agent="claude"} 2',
      'clawpatrol_approvals_pending{agent="codex"} 2.5',
    ),
  );
});

Deno.test("gauge.set() with labels but no value is a TypeError", () => {
  const gauge = new Metrics().gauge("g", "G.", ["agent"]);
  // @ts-expect-error: the value is required
  throws(() => gauge.set({ agent: "a" }), TypeError);
});

Deno.test("gaugeFn() reads its value at every scrape", () => {
  const metrics = new Metrics();
  let queued = 4;
  metrics.gaugeFn("clawpatrol_receipts_queued", "Receipts not yet written.", () => queued);
  const expected = (n: number) =>
    lines(
      "# HELP clawpatrol_receipts_queued Receipts not yet written.",
      "# TYPE clawpatrol_receipts_queued gauge",
      `clawpatrol_receipts_queued ${n}`,
    );
  equal(metrics.render(), expected(4));
  queued = 0;
  equal(metrics.render(), expected(0));
});

Deno.test("a histogram renders cumulative buckets with +Inf, then _sum and _count", () => {
  const metrics = new Metrics();
  const latency = metrics.histogram("decision_seconds", "Time to decide.", [0.001, 0.01, 1], [
    "verdict",
  ]);
  latency.observe(0.0005, { verdict: "allow" });
  latency.observe(0.001, { verdict: "allow" }); // on the bound: counted in le="0.001"
  latency.observe(0.5, { verdict: "allow" });
  latency.observe(90, { verdict: "allow" });
  latency.observe(0.002, { verdict: "deny" });
  equal(
    metrics.render(),
    lines(
      "# HELP decision_seconds Time to decide.",
      "# TYPE decision_seconds histogram",
      'decision_seconds_bucket{verdict="allow",le="0.001"} 2',
      'decision_seconds_bucket{verdict="allow",le="0.01"} 2',
      'decision_seconds_bucket{verdict="allow",le="1"} 3',
      'decision_seconds_bucket{verdict="allow",le="+Inf"} 4',
      'decision_seconds_sum{verdict="allow"} 90.5015',
      'decision_seconds_count{verdict="allow"} 4',
      'decision_seconds_bucket{verdict="deny",le="0.001"} 0',
      'decision_seconds_bucket{verdict="deny",le="0.01"} 1',
      'decision_seconds_bucket{verdict="deny",le="1"} 1',
      'decision_seconds_bucket{verdict="deny",le="+Inf"} 1',
      'decision_seconds_sum{verdict="deny"} 0.002',
      'decision_seconds_count{verdict="deny"} 1',
    ),
  );
});

Deno.test("an unlabelled histogram renders zeros before any observation", () => {
  const metrics = new Metrics();
  metrics.histogram("h", "H.", [1, Infinity]);
  equal(
    metrics.render(),
    lines(
      "# HELP h H.",
      "# TYPE h histogram",
      'h_bucket{le="1"} 0',
      'h_bucket{le="+Inf"} 0',
      "h_sum 0",
      "h_count 0",
    ),
  );
});

Deno.test("DECISION_LATENCY_BUCKETS_SECONDS render as plain decimals from 50µs to 10 minutes", () => {
  const metrics = new Metrics();
  metrics.histogram("d", "D.", DECISION_LATENCY_BUCKETS_SECONDS);
  const le = [...metrics.render().matchAll(/le="([^"]+)"/g)].map((m) => m[1]);
  deepEqual(le, [
    "0.00005",
    "0.0001",
    "0.00025",
    "0.0005",
    "0.001",
    "0.0025",
    "0.005",
    "0.01",
    "0.05",
    "0.25",
    "1",
    "5",
    "30",
    "120",
    "600",
    "+Inf",
  ]);
  throws(() => (DECISION_LATENCY_BUCKETS_SECONDS as number[]).push(1200), TypeError);
});

Deno.test("histogram() refuses unordered or non-finite buckets and the label 'le'", () => {
  const metrics = new Metrics();
  throws(() => metrics.histogram("a", "A.", [1, 1]), RangeError);
  throws(() => metrics.histogram("b", "B.", [2, 1]), RangeError);
  throws(() => metrics.histogram("c", "C.", [NaN]), RangeError);
  throws(() => metrics.histogram("d", "D.", [-Infinity, 1]), RangeError);
  throws(() => metrics.histogram("e", "E.", [1], ["le"]), TypeError);
  throws(() => new Metrics().histogram("f", "F.", [1]).observe(NaN), RangeError);
});

Deno.test("label values escape backslash, double quote and newline; HELP escapes backslash and newline", () => {
  const metrics = new Metrics();
  metrics.counter("c_total", 'Help with \\ and "quotes"\nand a second line.', ["v"])
    .inc({ v: 'a\\b"c\nd' });
  equal(
    metrics.render(),
    lines(
      '# HELP c_total Help with \\\\ and "quotes"\\nand a second line.',
      "# TYPE c_total counter",
      'c_total{v="a\\\\b\\"c\\nd"} 1',
    ),
  );
});

Deno.test("values print integers without exponent and NaN, +Inf, -Inf as Prometheus spells them", () => {
  const metrics = new Metrics();
  const gauge = metrics.gauge("g", "G.", ["v"]);
  gauge.set({ v: "a" }, 1e21);
  gauge.set({ v: "b" }, NaN);
  gauge.set({ v: "c" }, Infinity);
  gauge.set({ v: "d" }, -Infinity);
  gauge.set({ v: "e" }, -0);
  gauge.set({ v: "f" }, 0.1 + 0.2);
  gauge.set({ v: "g" }, 2 ** 53);
  equal(
    metrics.render(),
    lines(
      "# HELP g G.",
      "# TYPE g gauge",
      'g{v="a"} 1000000000000000000000',
      'g{v="b"} NaN',
      'g{v="c"} +Inf',
      'g{v="d"} -Inf',
      'g{v="e"} 0',
      'g{v="f"} 0.30000000000000004',
      'g{v="g"} 9007199254740992',
    ),
  );
});

Deno.test("invalid metric and label names are a TypeError at registration", () => {
  const metrics = new Metrics();
  for (const name of ["", "1abc", "has-dash", "has space", "é"]) {
    throws(() => metrics.counter(name, "x"), TypeError, name);
    throws(() => metrics.gaugeFn(name, "x", () => 0), TypeError, name);
  }
  for (const label of ["", "1a", "a:b", "has-dash", "__reserved"]) {
    throws(() => metrics.counter("ok_total", "x", [label]), TypeError, label);
  }
  throws(() => metrics.gauge("g", "x", ["a", "a"]), TypeError);
  // Colons are allowed in metric names, and a failed registration leaves the name free.
  metrics.counter("ok_total", "x", ["rule"]);
  metrics.gauge("ns:g", "x", ["a"]);
});

Deno.test("registering a name twice is a TypeError, histogram suffixes included", () => {
  const metrics = new Metrics();
  metrics.counter("x_total", "X.");
  throws(() => metrics.counter("x_total", "X."), /Cannot register metric 'x_total'/);
  throws(() => metrics.gauge("x_total", "X."), TypeError);
  throws(() => metrics.gaugeFn("x_total", "X.", () => 1), TypeError);
  metrics.histogram("h", "H.", [1]);
  throws(() => metrics.gauge("h_count", "H."), TypeError);
  metrics.gauge("s_sum", "S.");
  throws(() => metrics.histogram("s", "S.", [1]), /'s_sum' is already registered/);
});

Deno.test("recording with a missing or unknown label is a TypeError", () => {
  const metrics = new Metrics();
  const labelled = metrics.counter("l_total", "L.", ["rule", "agent"]);
  throws(() => labelled.inc(), /missing label 'rule'/);
  throws(() => labelled.inc({ rule: "r" }), /missing label 'agent'/);
  throws(() => labelled.inc({ rule: "r", agent: "a", extra: "e" }), /unknown label 'extra'/);
  throws(() => labelled.inc({ rule: "r", agnt: "a" }), /missing label 'agent'/);
  const bare = metrics.gauge("b", "B.");
  throws(() => bare.set({ rule: "r" }, 1), /unknown label 'rule'/);
  bare.set({}, 1);
  const histogram = metrics.histogram("h", "H.", [1], ["rule"]);
  throws(() => histogram.observe(1, { agent: "a" }), TypeError);
  // Nothing was recorded by the failed calls.
  equal(metrics.render().includes("l_total{"), false);
  equal(metrics.render().includes("h_bucket{"), false);
});

Deno.test("past 1,000 series a metric folds new label sets into one '_other' series", () => {
  const metrics = new Metrics();
  const counter = metrics.counter("c_total", "C.", ["rule", "agent"]);
  for (let i = 0; i < 1500; i++) counter.inc({ rule: `r${i}`, agent: "a" });
  counter.inc({ rule: "r0", agent: "a" }, 10); // existing series keep counting
  const samples = metrics.render().split("\n").filter((l) => l.startsWith("c_total{"));
  equal(samples.length, 1000);
  equal(samples.includes('c_total{rule="_other",agent="_other"} 501'), true);
  equal(samples.includes('c_total{rule="r0",agent="a"} 11'), true);
  equal(samples.includes('c_total{rule="r998",agent="a"} 1'), true);
  equal(samples.some((l) => l.startsWith('c_total{rule="r999"')), false);
  const total = samples.reduce((sum, l) => sum + Number(l.split(" ")[1]), 0);
  equal(total, 1510);
});

Deno.test("series render in label-value order whatever the order they were recorded in", () => {
  const render = (order: string[][]) => {
    const metrics = new Metrics();
    const counter = metrics.counter("c_total", "C.", ["a", "b"]);
    for (const [a, b] of order) counter.inc({ a, b });
    return metrics.render();
  };
  const sets = [["b", "1"], ["a", "2"], ["a", "10"], ["B", "1"], ["_x", "1"], ["a", "1"]];
  const expected = lines(
    "# HELP c_total C.",
    "# TYPE c_total counter",
    'c_total{a="B",b="1"} 1',
    'c_total{a="_x",b="1"} 1',
    'c_total{a="a",b="1"} 1',
    'c_total{a="a",b="10"} 1',
    'c_total{a="a",b="2"} 1',
    'c_total{a="b",b="1"} 1',
  );
  equal(render(sets), expected);
  equal(render([...sets].reverse()), expected);
});

Deno.test("families render in registration order", () => {
  const metrics = new Metrics();
  metrics.gaugeFn("zeta", "Z.", () => 1);
  metrics.gaugeFn("alpha", "A.", () => 2);
  equal(
    metrics.render(),
    lines(
      "# HELP zeta Z.",
      "# TYPE zeta gauge",
      "zeta 1",
      "# HELP alpha A.",
      "# TYPE alpha gauge",
      "alpha 2",
    ),
  );
});
