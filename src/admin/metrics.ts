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

import {
  braces,
  checkBuckets,
  checkLabelNames,
  escapeHelp,
  formatValue,
  METRIC_NAME,
} from "./_exposition.ts";
import { type MetricLabels, type Series, SeriesSet } from "./_metric_series.ts";

export type { MetricLabels } from "./_metric_series.ts";

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
    const series = this.#register(name, {
      help,
      type: "counter",
      labelNames,
      init: zero,
      line: valueLine(name),
    });
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
    const series = this.#register(name, {
      help,
      type: "gauge",
      labelNames,
      init: zero,
      line: valueLine(name),
    });
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
    const series = this.#register(name, {
      help,
      type: "histogram",
      labelNames,
      suffixes: ["_bucket", "_sum", "_count"],
      init: () => ({ counts: new Array<number>(le.length).fill(0), sum: 0, count: 0 }),
      line: (s, out) => {
        const prefix = s.pairs === "" ? "{" : `{${s.pairs},`;
        let cumulative = 0;
        for (let i = 0; i < le.length; i++) {
          cumulative += s.counts[i];
          out.push(`${name}_bucket${prefix}le="${le[i]}"} ${cumulative}`);
        }
        out.push(`${name}_sum${braces(s.pairs)} ${formatValue(s.sum)}`);
        out.push(`${name}_count${braces(s.pairs)} ${s.count}`);
      },
    });
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
    { help, type, labelNames, suffixes = [], init, line }: FamilySpec<T>,
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

/** What `#register` needs besides the family name. */
interface FamilySpec<T> {
  readonly help: string;
  readonly type: Family["type"];
  readonly labelNames: readonly string[];
  /** Derived names the family also claims. @default [] */
  readonly suffixes?: readonly string[];
  /** A fresh series value. */
  init(): T;
  /** Appends one series' exposition lines. */
  line(s: Series<T>, out: string[]): void;
}

function zero(): { value: number } {
  return { value: 0 };
}

function valueLine(name: string): (s: Series<{ value: number }>, out: string[]) => void {
  return (s, out) => out.push(`${name}${braces(s.pairs)} ${formatValue(s.value)}`);
}
