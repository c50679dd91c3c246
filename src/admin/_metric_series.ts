/**
 * The series of one labelled metric: label sets checked against the metric's label names, each
 * set's series created on first use, and the count of series capped so a bug cannot grow memory
 * and every scrape without bound. Private helper of `metrics.ts`.
 *
 * @module
 */

import { compareValues, escapeLabelValue } from "./_exposition.ts";

/** Label values of one series, keyed by label name. */
export type MetricLabels = Readonly<Record<string, string>>;

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

/** One series: the metric's own state `T` and its label values. */
export type Series<T> = T & {
  readonly values: readonly string[];
  /** `name="value",…` with values escaped, built once when the series is created. */
  readonly pairs: string;
};

/** The series of one metric, keyed by their label values joined. */
export class SeriesSet<T> {
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
