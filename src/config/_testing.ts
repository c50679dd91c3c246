/**
 * Helpers shared by the config tests.
 *
 * @module
 */

import { fail, ok } from "node:assert/strict";
import { ConfigError, type ConfigProblem, formatProblem, type Protocol } from "../core/mod.ts";
import { loadConfigText } from "./load.ts";
import { PROTOCOLS } from "../protocols/registry.ts";

/**
 * Loads `text` expecting failure; returns the problems the ConfigError carried. The registered
 * protocols are the registry's unless a test gives its own.
 */
export async function problemsOf(
  text: string,
  name = "t.hcl",
  protocols: readonly Protocol[] = PROTOCOLS,
): Promise<ConfigProblem[]> {
  try {
    await loadConfigText(name, text, { protocols });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return fail("expected a ConfigError, but the config loaded");
}

/** 1-based line of the `nth` (0-based) line of `text` containing `needle`. */
export function lineOf(text: string, needle: string, nth = 0): number {
  const lines = text.split("\n");
  let seen = 0;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].includes(needle) && seen++ === nth) return i + 1;
  }
  return fail(`no line contains ${JSON.stringify(needle)}`);
}

/** Asserts that one problem sits on `line` (and in `file`, when given) and matches `message`. */
export function assertProblem(
  problems: ConfigProblem[],
  line: number,
  message: RegExp,
  file?: string,
): void {
  const hit = problems.some((p) =>
    p.line === line && message.test(p.message) && (file === undefined || p.file === file)
  );
  ok(
    hit,
    `no problem at line ${line}${file ? ` of ${file}` : ""} matching ${message}; got:\n${
      problems.map(formatProblem).join("\n")
    }`,
  );
}

/** A config head every test text can start with. */
export const HEAD = "schema_version = 1\n";
