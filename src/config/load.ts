/**
 * Reads a config file or directory from disk: HCL → JSON (hcl2json), `<<file:…>>` inclusion,
 * then validation. Never opens sockets.
 *
 * @module
 */

import { parse as hclToJson } from "@cdktf/hcl2json";
import { dirname, join, resolve } from "node:path";
import { ConfigError, type ConfigProblem } from "../core/mod.ts";
import type { ConfigFile } from "./_fields.ts";
import { indexLines } from "./_locate.ts";
import type { Config } from "./types.ts";
import { validateConfig } from "./validate.ts";

const INCLUDE = /^<<file:([^>]+)>>$/;
/** Included files are certificates and prose policies; anything bigger is a mistake. */
const MAX_INCLUDE_BYTES = 1024 * 1024;

/**
 * Loads and validates a config (one `.hcl` file, or a directory whose `.hcl` files merge).
 *
 * @example
 * ```ts
 * const config = await loadConfig("./gateway.hcl"); // throws ConfigError listing every problem
 * ```
 * @throws {ConfigError} with every problem found, each with file and line.
 */
export async function loadConfig(path: string): Promise<Config> {
  const problems: ConfigProblem[] = [];
  const files: ConfigFile[] = [];
  for (const file of await listConfigFiles(path, problems)) {
    const parsed = await parseFile(file, problems);
    if (parsed) files.push(parsed);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const result = validateConfig(path, files);
  if (!result.ok) throw new ConfigError(result.problems);
  return result.config;
}

/** Parses HCL text that is not on disk (tests, `clawpatrol check -`). */
export async function loadConfigText(name: string, text: string, baseDir = "."): Promise<Config> {
  const problems: ConfigProblem[] = [];
  const file = await parseText(name, text, baseDir, problems);
  if (!file) throw new ConfigError(problems);
  const result = validateConfig(name, [file]);
  if (!result.ok) throw new ConfigError([...problems, ...result.problems]);
  if (problems.length > 0) throw new ConfigError(problems);
  return result.config;
}

async function listConfigFiles(path: string, problems: ConfigProblem[]): Promise<string[]> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound
      ? "no such file or directory (run 'clawpatrol init' to create one)"
      : err instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : String((err as Error).message);
    problems.push({ file: path, line: 0, message: `Cannot read config: ${why}` });
    return [];
  }
  if (!info.isDirectory) return [path];
  const names: string[] = [];
  for await (const entry of Deno.readDir(path)) {
    if (entry.isFile && entry.name.endsWith(".hcl")) names.push(join(path, entry.name));
  }
  names.sort();
  if (names.length === 0) {
    problems.push({ file: path, line: 0, message: "Config directory holds no .hcl files" });
  }
  return names;
}

async function parseFile(file: string, problems: ConfigProblem[]): Promise<ConfigFile | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (err) {
    problems.push({ file, line: 0, message: `Cannot read: ${(err as Error).message}` });
    return null;
  }
  return await parseText(file, text, dirname(file), problems);
}

async function parseText(
  file: string,
  text: string,
  baseDir: string,
  problems: ConfigProblem[],
): Promise<ConfigFile | null> {
  let json: Record<string, unknown>;
  try {
    json = await hclToJson(file, text) as Record<string, unknown>;
  } catch (err) {
    problems.push(...hclProblems(file, String((err as Error).message ?? err)));
    return null;
  }
  await resolveIncludes(json, file, text, baseDir, problems);
  return { file, json, lines: indexLines(text) };
}

/** Splits hcl2json's `parse config: [f:2,5-3,1: Summary; Detail. f:4,1-2: …]` into problems. */
export function hclProblems(file: string, message: string): ConfigProblem[] {
  const escaped = file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const marker = new RegExp(`${escaped}:(\\d+),\\d+(?:-\\d+(?:,\\d+)?)?: `, "g");
  const hits = [...message.matchAll(marker)];
  const found: ConfigProblem[] = hits.map((m, i) => {
    const start = m.index! + m[0].length;
    const end = i + 1 < hits.length ? hits[i + 1].index! : message.length;
    const text = message.slice(start, end).trim().replace(/\]$/, "").trim().replace(/\.$/, "");
    const [summary, ...detail] = text.split("; ");
    const hint = /single-argument block/.test(summary)
      ? " (HCL blocks on one line take one attribute: put each attribute on its own line)"
      : "";
    return {
      file,
      line: Number(m[1]),
      message: detail.length > 0 && !hint ? `${summary}: ${detail.join("; ")}` : summary + hint,
    };
  });
  if (found.length === 0) {
    found.push({ file, line: 0, message: message.replace(/^(Error: )?parse config: /, "") });
  }
  return found;
}

async function resolveIncludes(
  node: Record<string, unknown> | unknown[],
  file: string,
  text: string,
  baseDir: string,
  problems: ConfigProblem[],
): Promise<void> {
  for (const key of Object.keys(node)) {
    const value = (node as Record<string, unknown>)[key];
    if (typeof value === "string") {
      const m = INCLUDE.exec(value);
      if (!m) continue;
      const target = resolve(baseDir, m[1]);
      try {
        const info = await Deno.stat(target);
        if (info.size > MAX_INCLUDE_BYTES) {
          throw new Error(`larger than ${MAX_INCLUDE_BYTES} bytes`);
        }
        (node as Record<string, unknown>)[key] = await Deno.readTextFile(target);
      } catch (err) {
        const why = err instanceof Deno.errors.NotFound ? "no such file" : (err as Error).message;
        problems.push({
          file,
          line: lineOfText(text, value),
          message: `Cannot include '${m[1]}' (${target}): ${why}`,
        });
      }
    } else if (value !== null && typeof value === "object") {
      await resolveIncludes(value as Record<string, unknown>, file, text, baseDir, problems);
    }
  }
}

function lineOfText(text: string, needle: string): number {
  const at = text.indexOf(needle);
  return at < 0 ? 0 : text.slice(0, at).split("\n").length;
}
