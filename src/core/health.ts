/**
 * The gateway's health as `/healthz` reports it: a set of named problems, each either
 * `degraded` (still serving, e.g. accept backing off under fd exhaustion) or `unhealthy` (failing
 * closed, e.g. receipts cannot be written). Components set and clear their own problem; probes
 * read the worst.
 *
 * @module
 */

/** How bad one problem is. */
export type HealthLevel = "degraded" | "unhealthy";

/** One component's current problem. */
export interface HealthProblem {
  component: string;
  level: HealthLevel;
  /** Operator-facing cause, e.g. `receipts cannot be written: database or disk is full`. */
  cause: string;
  /** When the problem started (ISO 8601). */
  since: string;
}

/** What `/healthz` answers. */
export interface HealthReport {
  status: "ok" | HealthLevel;
  problems: HealthProblem[];
}

/**
 * Problems by component. Setting a problem again updates its level and cause but keeps `since`,
 * so a flapping cause does not hide how long the episode has lasted.
 *
 * @example
 * ```ts
 * const health = new Health();
 * health.set("receipts", "unhealthy", "disk full");
 * health.report().status; // "unhealthy"
 * health.clear("receipts");
 * ```
 */
export class Health {
  readonly #problems = new Map<string, HealthProblem>();
  readonly #now: () => Date;

  constructor(now: () => Date = () => new Date()) {
    this.#now = now;
  }

  /** Records (or updates) `component`'s problem. */
  set(component: string, level: HealthLevel, cause: string): void {
    const since = this.#problems.get(component)?.since ?? this.#now().toISOString();
    this.#problems.set(component, { component, level, cause, since });
  }

  /** `component` is fine again. Returns whether it had a problem. */
  clear(component: string): boolean {
    return this.#problems.delete(component);
  }

  /** The worst level across problems, and the problems themselves. */
  report(): HealthReport {
    const problems = [...this.#problems.values()];
    const status = problems.some((p) => p.level === "unhealthy")
      ? "unhealthy"
      : problems.length > 0
      ? "degraded"
      : "ok";
    return { status, problems };
  }
}
