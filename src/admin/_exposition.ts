/**
 * The Prometheus text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format): what a
 * metric or label may be named, how values and escapes are written, and the order series render
 * in. Private helper of `metrics.ts`.
 *
 * @module
 */

/** What a metric name must match. */
export const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * The label names of `metric`, checked and frozen: valid, not reserved (`__…`, and `le` on a
 * histogram), not repeated. Throws `TypeError` naming the metric and the label.
 */
export function checkLabelNames(
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

/** Histogram bounds without a trailing `+Inf`, finite and strictly increasing, or `RangeError`. */
export function checkBuckets(metric: string, buckets: readonly number[]): readonly number[] {
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

/** Series order within a family: by label values, in code-unit order. */
export function compareValues(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < a.length; i++) {
    // Code-unit order, not localeCompare: the output must not depend on the host's locale.
    if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return 0;
}

/** `{pairs}`, or nothing for an unlabelled series. */
export function braces(pairs: string): string {
  return pairs === "" ? "" : `{${pairs}}`;
}

/** Sample values as Go's ParseFloat reads them, which is what the format requires. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  // String() switches to an exponent at 1e21; keep large integers (counters) exact and plain.
  if (Number.isInteger(value) && Math.abs(value) >= 1e21) return BigInt(value).toString();
  return String(value);
}

/** A label value with `\\`, `"` and newline escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

/** A HELP text with `\\` and newline escaped. */
export function escapeHelp(help: string): string {
  return help.replace(/[\\\n]/g, (c) => c === "\n" ? "\\n" : "\\\\");
}
