/**
 * The operator log interface. The gateway never writes to stdout/stderr itself; the CLI hands it
 * a logger. Messages must never contain secrets: callers pass facts through redaction first.
 *
 * @module
 */

/** Severity of an operator log line. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Where the gateway reports what operators need to know. */
export interface Logger {
  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void;
}

/**
 * A logger that keeps lines in memory, for tests.
 *
 * @example
 * ```ts
 * const log = new MemoryLogger();
 * log.log("warn", "deny detail: bad header");
 * log.messages("warn"); // ["deny detail: bad header"]
 * ```
 */
export class MemoryLogger implements Logger {
  readonly lines: { level: LogLevel; message: string; fields?: Record<string, unknown> }[] = [];

  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level, message, fields });
  }

  /** Every message at `level` (or all), for assertions. */
  messages(level?: LogLevel): string[] {
    return this.lines.filter((l) => !level || l.level === level).map((l) => l.message);
  }
}
