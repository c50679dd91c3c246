/**
 * Error classes callers catch by type.
 *
 * @module
 */

/** One config problem, located in a file. `line` is 0 when HCL gives no position. */
export interface ConfigProblem {
  file: string;
  line: number;
  message: string;
}

/** A config that failed to load, carrying every problem found (not just the first). */
export class ConfigError extends Error {
  readonly problems: ConfigProblem[];

  constructor(problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** Renders a problem as `file:line: message` (or `file: message` without a line). */
export function formatProblem(p: ConfigProblem): string {
  return p.line > 0 ? `${p.file}:${p.line}: ${p.message}` : `${p.file}: ${p.message}`;
}

/** Raised when an action cannot be recorded (receipt queue full, store closed): callers deny. */
export class AuditUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AuditUnavailableError";
  }
}
