/**
 * Output helpers: the CLI is the only module that writes to stdout/stderr.
 *
 * @module
 */

import type { Logger, LogLevel } from "../gateway/mod.ts";

/** Prints a line to stdout. */
export function out(line: string): void {
  console.log(line);
}

/** Prints a line to stderr. */
export function err(line: string): void {
  console.error(line);
}

/** Operator log on stderr: `time level message key=value…`. */
export class StderrLogger implements Logger {
  readonly #debug: boolean;

  constructor(debug = false) {
    this.#debug = debug;
  }

  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void {
    if (level === "debug" && !this.#debug) return;
    const extra = fields
      ? Object.entries(fields).filter(([, v]) => v !== undefined && v !== null)
        .map(([k, v]) => ` ${k}=${typeof v === "string" ? JSON.stringify(v) : String(v)}`).join("")
      : "";
    err(`${new Date().toISOString()} ${level.padEnd(5)} ${message}${extra}`);
  }
}
