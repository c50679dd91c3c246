/**
 * A small, dependency-free metrics registry that renders the Prometheus text exposition format
 * 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format), served
 * by the admin API on `GET /metrics`.
 *
 * @example
 * ```ts
 * import { Metrics } from "./metrics.ts";
 *
 * const metrics = new Metrics();
 * const decisions = metrics.counter("clawpatrol_decisions_total", "Decisions.", ["verdict"]);
 * decisions.inc({ verdict: "deny" });
 * metrics.render(); // "# HELP clawpatrol_decisions_total Decisions.\n# TYPE ..."
 * ```
 *
 * @module
 */

/** Label values of one series, keyed by label name. */
export type MetricLabels = Readonly<Record<string, string>>;

/**
 * A monotonically increasing count, one series per label set.
 *
 * @example
 * ```ts
 * import { Metrics } from "./metrics.ts";
 *
 * const reloads = new Metrics().counter("clawpatrol_config_reloads_total", "Config reloads.");
 * reloads.inc();
 * reloads.inc(undefined, 2);
 * ```
 */
export interface Counter {
  /**
   * Adds `by` (default 1) to the series for `labels`. Throws `TypeError` for a missing or unknown
   * label, `RangeError` for a negative or NaN amount (a counter never goes down).
   */
  inc(labels?: MetricLabels, by?: number): void;
}

/**
 * A value that goes up and down, one series per label set.
 *
 * @example
 * ```ts
 * import { Metrics } from "./metrics.ts";
 *
 * const pending = new Metrics().gauge("clawpatrol_approvals_pending", "Pending.", ["agent"]);
 * pending.inc({ agent: "claude" });
 * pending.set({ agent: "codex" }, 3);
 * pending.dec({ agent: "claude" });
 * ```
 */
export interface Gauge {
  /** Sets an unlabelled gauge. */
  set(value: number): void;
  /** Sets the series for `labels`. */
  set(labels: MetricLabels | undefined, value: number): void;
  /** Adds `by` (default 1) to the series for `labels`. */
  inc(labels?: MetricLabels, by?: number): void;
  /** Subtracts `by` (default 1) from the series for `labels`. */
  dec(labels?: MetricLabels, by?: number): void;
}

/**
 * A distribution of observations in cumulative buckets, one series per label set.
 *
 * @example
 * ```ts
 * import { DECISION_LATENCY_BUCKETS_SECONDS, Metrics } from "./metrics.ts";
 *
 * const latency = new Metrics().histogram(
 *   "clawpatrol_decision_seconds",
 *   "Time to decide.",
 *   DECISION_LATENCY_BUCKETS_SECONDS,
 *   ["verdict"],
 * );
 * latency.observe(0.0003, { verdict: "allow" });
 * ```
 */
export interface Histogram {
  /** Records one observation. Throws `RangeError` for NaN, which would poison `_sum` for good. */
  observe(value: number, labels?: MetricLabels): void;
}

/**
 * Histogram buckets for decision latency, in seconds: policy decisions take well under a
 * millisecond; the upper buckets catch a stalled gateway. Approval waits are not decision latency.
 *
 * @example
 * ```ts
 * import { DECISION_LATENCY_BUCKETS_SECONDS, Metrics } from "./metrics.ts";
 *
 * const metrics = new Metrics();
 * metrics.histogram("clawpatrol_decision_seconds", "Time to decide.", DECISION_LATENCY_BUCKETS_SECONDS);
 * ```
 */
export const DECISION_LATENCY_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  0.00005,
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.05,
  0.25,
  1,
  5,
  30,
  120,
  600,
]);

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Most series one labelled metric holds, the `_other` fold included. Label values come from config
 * (rule names, agents, endpoints), so the real count is small; but a bug that passed a request path
 * or a host as a label would otherwise grow memory and every scrape without bound. Beyond the cap,
 * new label sets are counted in one series whose label values are all `_other`: totals stay right,
 * and an `_other` series in a scrape tells the operator something is off.
 */
const MAX_SERIES = 1000;
const OVERFLOW_VALUE = "_other";
// Label values are names from config; a NUL in one would at worst merge two series, never leak.
const KEY_SEPARATOR = "\u0000";

/**
 * A registry of metrics, rendered together in the Prometheus text format. Families render in
 * registration order, series within a family sorted by label values.
 *
 * @example
 * ```ts
 * import { Metrics } from "./metrics.ts";
 *
 * const metrics = new Metrics();
 * metrics.counter("clawpatrol_decisions_total", "Decisions.", ["rule"]).inc({ rule: "pg-no-ddl" });
 * metrics.gaugeFn("clawpatrol_rules", "Loaded rules.", () => 7);
 * const body = metrics.render();
 * ```
 */
export class Metrics {
  readonly #families: Family[] = [];
  readonly #taken = new Set<string>();

  /**
   * Registers a counter. Throws `TypeError` for an invalid or already registered name, or an
   * invalid or repeated label name.
   *
   * @example
   * ```ts
   * import { Metrics } from "./metrics.ts";
   *
   * const denies = new Metrics().counter("clawpatrol_denies_total", "Denies.", ["rule", "agent"]);
   * denies.inc({ rule: "pg-no-ddl", agent: "claude" });
   * ```
   */
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    const series = this.#register(name, help, "counter", labelNames, [], zero, valueLine(name));
    return {
      inc(labels, by = 1) {
        if (!(by >= 0)) {
          throw new RangeError(
            `Cannot increment counter '${name}': amount must be a non-negative number, got '${by}'`,
          );
        }
        series.get(labels).value += by;
      },
    };
  }

  /**
   * Registers a gauge set by the caller. Validation as for {@linkcode Metrics.prototype.counter}.
   *
   * @example
   * ```ts
   * import { Metrics } from "./metrics.ts";
   *
   * new Metrics().gauge("clawpatrol_connections", "Open connections.").set(4);
   * ```
   */
  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    const series = this.#register(name, help, "gauge", labelNames, [], zero, valueLine(name));
    return {
      set(labelsOrValue: MetricLabels | number | undefined, value?: number) {
        if (typeof labelsOrValue === "number") {
          series.get(undefined).value = labelsOrValue;
          return;
        }
        if (typeof value !== "number") {
          throw new TypeError(`Cannot set gauge '${name}': value must be a number, got '${value}'`);
        }
        series.get(labelsOrValue).value = value;
      },
      inc(labels, by = 1) {
        series.get(labels).value += by;
      },
      dec(labels, by = 1) {
        series.get(labels).value -= by;
      },
    };
  }

  /**
   * Registers an unlabelled gauge whose value is read at scrape time, for values another object
   * already owns (loaded rules, queued receipts). `read` should not throw: an exception fails the
   * whole scrape.
   *
   * @example
   * ```ts
   * import { Metrics } from "./metrics.ts";
   *
   * const queue: string[] = [];
   * new Metrics().gaugeFn("clawpatrol_receipts_queued", "Receipts not yet written.", () => queue.length);
   * ```
   */
  gaugeFn(name: string, help: string, read: () => number): void {
    this.#claim(name, []);
    this.#families.push({
      name,
      help: escapeHelp(help),
      type: "gauge",
      lines: (out) => out.push(`${name} ${formatValue(read())}`),
    });
  }

  /**
   * Registers a histogram. `buckets` are the upper bounds, strictly increasing and finite; `+Inf`
   * is always added. Throws `RangeError` for bad buckets, `TypeError` as for counters, and for the
   * label name `le`, which the bucket lines use. Also claims `<name>_bucket`, `<name>_sum` and
   * `<name>_count`.
   *
   * @example
   * ```ts
   * import { DECISION_LATENCY_BUCKETS_SECONDS, Metrics } from "./metrics.ts";
   *
   * const latency = new Metrics().histogram(
   *   "clawpatrol_decision_seconds",
   *   "Time to decide.",
   *   DECISION_LATENCY_BUCKETS_SECONDS,
   * );
   * latency.observe(0.0002);
   * ```
   */
  histogram(
    name: string,
    help: string,
    buckets: readonly number[],
    labelNames: readonly string[] = [],
  ): Histogram {
    const bounds = checkBuckets(name, buckets);
    const le = [...bounds.map(formatValue), "+Inf"];
    const series = this.#register(
      name,
      help,
      "histogram",
      labelNames,
      ["_bucket", "_sum", "_count"],
      () => ({ counts: new Array<number>(le.length).fill(0), sum: 0, count: 0 }),
      (s, out) => {
        const prefix = s.pairs === "" ? "{" : `{${s.pairs},`;
        let cumulative = 0;
        for (let i = 0; i < le.length; i++) {
          cumulative += s.counts[i];
          out.push(`${name}_bucket${prefix}le="${le[i]}"} ${cumulative}`);
        }
        out.push(`${name}_sum${braces(s.pairs)} ${formatValue(s.sum)}`);
        out.push(`${name}_count${braces(s.pairs)} ${s.count}`);
      },
    );
    return {
      observe(value, labels) {
        if (Number.isNaN(value)) {
          throw new RangeError(`Cannot observe histogram '${name}': value is NaN`);
        }
        const s = series.get(labels);
        let i = 0;
        // Bounds are inclusive upper limits: a value equal to a bound belongs in that bucket.
        while (i < bounds.length && value > bounds[i]) i++;
        s.counts[i]++;
        s.sum += value;
        s.count++;
      },
    };
  }

  /**
   * Renders every registered metric in the text exposition format 0.0.4, ending in a newline
   * (or empty when nothing is registered).
   *
   * @example
   * ```ts
   * import { Metrics } from "./metrics.ts";
   *
   * const metrics = new Metrics();
   * metrics.gaugeFn("up", "Up.", () => 1);
   * metrics.render(); // "# HELP up Up.\n# TYPE up gauge\nup 1\n"
   * ```
   */
  render(): string {
    const out: string[] = [];
    for (const family of this.#families) {
      out.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} ${family.type}`);
      family.lines(out);
    }
    return out.length === 0 ? "" : out.join("\n") + "\n";
  }

  #register<T>(
    name: string,
    help: string,
    type: Family["type"],
    labelNames: readonly string[],
    suffixes: readonly string[],
    init: () => T,
    line: (s: Series<T>, out: string[]) => void,
  ): SeriesSet<T> {
    const labels = checkLabelNames(name, labelNames, type === "histogram");
    this.#claim(name, suffixes);
    const series = new SeriesSet(name, labels, init);
    this.#families.push({
      name,
      help: escapeHelp(help),
      type,
      lines: (out) => {
        for (const s of series.sorted()) line(s, out);
      },
    });
    return series;
  }

  /** Takes `name` and the names derived from it, which must be valid and free. */
  #claim(name: string, suffixes: readonly string[]): void {
    if (!METRIC_NAME.test(name)) {
      throw new TypeError(
        `Cannot register metric '${name}': name must match ${METRIC_NAME.source}`,
      );
    }
    const names = [name, ...suffixes.map((suffix) => name + suffix)];
    for (const n of names) {
      if (this.#taken.has(n)) {
        throw new TypeError(`Cannot register metric '${name}': '${n}' is already registered`);
      }
    }
    for (const n of names) this.#taken.add(n);
  }
}

interface Family {
  readonly name: string;
  /** Already escaped. */
  readonly help: string;
  readonly type: "counter" | "gauge" | "histogram";
  lines(out: string[]): void;
}

type Series<T> = T & {
  readonly values: readonly string[];
  /** `name="value",…` with values escaped, built once when the series is created. */
  readonly pairs: string;
};

/** The series of one metric, keyed by their label values joined. */
class SeriesSet<T> {
  readonly #byKey = new Map<string, Series<T>>();
  readonly #only: Series<T> | undefined;
  readonly #overflowKey: string;

  constructor(
    readonly metric: string,
    readonly labelNames: readonly string[],
    readonly init: () => T,
  ) {
    this.#overflowKey = labelNames.map(() => OVERFLOW_VALUE).join(KEY_SEPARATOR);
    if (labelNames.length === 0) this.#only = this.#add("", []);
  }

  get(labels: MetricLabels | undefined): Series<T> {
    const names = this.labelNames;
    if (this.#only !== undefined) {
      if (labels !== undefined) { for (const name in labels) throw this.#unknown(name); }
      return this.#only;
    }
    if (labels === undefined) throw this.#missing(names[0]);
    let key = "";
    for (let i = 0; i < names.length; i++) {
      const value = labels[names[i]];
      if (typeof value !== "string") throw this.#missing(names[i]);
      key = i === 0 ? value : key + KEY_SEPARATOR + value;
    }
    let given = 0;
    for (const _ in labels) given++;
    if (given !== names.length) {
      for (const name in labels) if (!names.includes(name)) throw this.#unknown(name);
    }
    return this.#byKey.get(key) ?? this.#admit(key, labels);
  }

  sorted(): Series<T>[] {
    return [...this.#byKey.values()].sort((a, b) => compareValues(a.values, b.values));
  }

  #admit(key: string, labels: MetricLabels): Series<T> {
    const room = this.#byKey.has(this.#overflowKey) ? MAX_SERIES : MAX_SERIES - 1;
    if (this.#byKey.size < room) return this.#add(key, this.labelNames.map((n) => labels[n]));
    return this.#byKey.get(this.#overflowKey) ??
      this.#add(this.#overflowKey, this.labelNames.map(() => OVERFLOW_VALUE));
  }

  #add(key: string, values: readonly string[]): Series<T> {
    const pairs = values.map((v, i) => `${this.labelNames[i]}="${escapeLabelValue(v)}"`).join(",");
    const series: Series<T> = { ...this.init(), values, pairs };
    this.#byKey.set(key, series);
    return series;
  }

  #missing(label: string | undefined): TypeError {
    return new TypeError(`Cannot record metric '${this.metric}': missing label '${label}'`);
  }

  #unknown(label: string): TypeError {
    return new TypeError(`Cannot record metric '${this.metric}': unknown label '${label}'`);
  }
}

function checkLabelNames(
  metric: string,
  labelNames: readonly string[],
  histogram: boolean,
): readonly string[] {
  const seen = new Set<string>();
  for (const label of labelNames) {
    // Names starting with "__" are reserved for Prometheus' own use.
    if (!LABEL_NAME.test(label) || label.startsWith("__")) {
      throw new TypeError(
        `Cannot register metric '${metric}': label name '${label}' must match ${LABEL_NAME.source} and not start with '__'`,
      );
    }
    if (histogram && label === "le") {
      throw new TypeError(
        `Cannot register metric '${metric}': label name 'le' is reserved for histogram buckets`,
      );
    }
    if (seen.has(label)) {
      throw new TypeError(`Cannot register metric '${metric}': label name '${label}' is repeated`);
    }
    seen.add(label);
  }
  return Object.freeze([...labelNames]);
}

function checkBuckets(metric: string, buckets: readonly number[]): readonly number[] {
  const bounds = buckets.at(-1) === Infinity ? buckets.slice(0, -1) : [...buckets];
  for (let i = 0; i < bounds.length; i++) {
    if (!Number.isFinite(bounds[i])) {
      throw new RangeError(
        `Cannot register histogram '${metric}': bucket bound '${bounds[i]}' is not finite`,
      );
    }
    if (i > 0 && bounds[i] <= bounds[i - 1]) {
      throw new RangeError(
        `Cannot register histogram '${metric}': buckets must increase strictly, got '${
          bounds[i - 1]
        }' then '${bounds[i]}'`,
      );
    }
  }
  return Object.freeze(bounds);
}

function zero(): { value: number } {
  return { value: 0 };
}

function valueLine(name: string): (s: Series<{ value: number }>, out: string[]) => void {
  return (s, out) => out.push(`${name}${braces(s.pairs)} ${formatValue(s.value)}`);
}

function compareValues(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < a.length; i++) {
    // Code-unit order, not localeCompare: the output must not depend on the host's locale.
    if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return 0;
}

function braces(pairs: string): string {
  return pairs === "" ? "" : `{${pairs}}`;
}

/** Sample values as Go's ParseFloat reads them, which is what the format requires. */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  // String() switches to an exponent at 1e21; keep large integers (counters) exact and plain.
  if (Number.isInteger(value) && Math.abs(value) >= 1e21) return BigInt(value).toString();
  return String(value);
}

function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

function escapeHelp(help: string): string {
  return help.replace(/[\\\n]/g, (c) => c === "\n" ? "\\n" : "\\\\");
}
