/**
 * Reads a config file or directory from disk: HCL → JSON (the JSON hcl2json gives, from the
 * TypeScript parser in `_hcl_parse.ts`), `<<file:…>>` inclusion, then validation. Never opens
 * sockets.
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { ConfigError, type ConfigProblem, type Protocol } from "../core/mod.ts";
import type { ConfigFile } from "./_fields.ts";
import { attributeKey, indexLines, type LineIndex } from "./_locate.ts";
import { labelProblems } from "./_blocks.ts";
import type { Config, Rule } from "./types.ts";
import { validateConfig } from "./validate.ts";
import { hclInTypeScript, type HclParse } from "./_hcl_parse.ts";

const INCLUDE = /^<<file:([^>]+)>>$/;
/** Included files are certificates and prose policies; anything bigger is a mistake. */
const MAX_INCLUDE_BYTES = 1024 * 1024;

/**
 * Loads and validates a config (one `.hcl` file, or a directory whose `.hcl` files merge).
 *
 * @example
 * ```ts
 * // PROTOCOLS: the registry, src/protocols/registry.ts. Throws ConfigError listing every problem.
 * const config = await loadConfig("./gateway.hcl", { protocols: PROTOCOLS });
 * ```
 * @throws {ConfigError} with every problem found, each with file and line.
 */
export function loadConfig(path: string, options: LoadOptions): Promise<Config> {
  return loadWith(hclInTypeScript(), path, options);
}

async function loadWith(parse: HclParse, path: string, options: LoadOptions): Promise<Config> {
  const problems: ConfigProblem[] = [];
  const files: ConfigFile[] = [];
  let unreadable = false;
  for (const file of withCandidates(await listConfigFiles(path, problems), path, options)) {
    const candidate = options.texts?.get(file);
    const parsed = candidate === undefined
      ? await parseFile(parse, file, problems)
      : await parseText(parse, file, candidate, dirname(file), problems);
    if (parsed) files.push(parsed);
    else unreadable = true;
  }
  // Validating without a file's blocks would report every reference into it as dangling.
  if (unreadable || files.length === 0) throw new ConfigError(problems);
  return validated(path, files, problems, options);
}

/** Options for {@linkcode loadConfig}. */
export interface LoadOptions {
  /**
   * The registered protocols (`src/protocols/registry.ts`): the families an `endpoint` block
   * may name, and so the kinds of endpoint references.
   */
  protocols: readonly Protocol[];
  /**
   * Extra checks over every rule that was read, run even when other blocks have problems, so a
   * rule's CEL typo is reported together with structural mistakes (the policy compiler plugs in
   * here; config itself knows nothing of CEL).
   */
  checkRules?: (rules: Rule[], options: { protocols: readonly Protocol[] }) => ConfigProblem[];
  /**
   * Files' text to use instead of what is on disk: a candidate edit, validated before it is
   * written. A file not on disk joins the config when it sits in the config directory.
   */
  texts?: ReadonlyMap<string, string>;
}

/** Options for {@linkcode loadConfigText}. */
export interface LoadTextOptions extends LoadOptions {
  /** Directory `<<file:…>>` includes are read from. @default {"."} */
  baseDir?: string;
}

/** Parses HCL text that is not on disk (tests, `clawpatrol check -`). */
export async function loadConfigText(
  name: string,
  text: string,
  options: LoadTextOptions,
): Promise<Config> {
  const problems: ConfigProblem[] = [];
  const file = await parseText(hclInTypeScript(), name, text, options.baseDir ?? ".", problems);
  if (!file) throw new ConfigError(problems);
  return validated(name, [file], problems, options);
}

/** Validates parsed files, reporting include failures and validation problems together. */
function validated(
  path: string,
  files: ConfigFile[],
  includeProblems: ConfigProblem[],
  options: LoadOptions,
): Config {
  const result = validateConfig(path, files, { protocols: options.protocols });
  const rules = result.ok ? result.config.rules : result.rules;
  const ruleProblems = options.checkRules?.(rules, { protocols: options.protocols }) ?? [];
  if (result.ok && includeProblems.length === 0 && ruleProblems.length === 0) return result.config;
  // A failed include leaves its `<<file:…>>` text in place: what validation then says about that
  // attribute ("must be a PEM certificate") is noise on top of the real problem.
  const failed = new Set(includeProblems.map((p) => `${p.file}:${p.line}`));
  const rest = result.ok ? [] : result.problems.filter((p) => !failed.has(`${p.file}:${p.line}`));
  throw new ConfigError(
    [...includeProblems, ...rest, ...ruleProblems].sort((a, b) =>
      a.file.localeCompare(b.file) || a.line - b.line
    ),
  );
}

/** The config's files and the candidate files (`texts`) that are new in its directory. */
function withCandidates(listed: string[], path: string, options: LoadOptions): string[] {
  const known = new Set(listed.map((f) => resolve(f)));
  const added = [...options.texts?.keys() ?? []].filter((f) =>
    !known.has(resolve(f)) && resolve(dirname(f)) === resolve(path) && f.endsWith(".hcl")
  );
  return added.length === 0 ? listed : [...listed, ...added].sort();
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
    // Dotfiles are editor droppings (`.#gateway.hcl` locks) or Kubernetes ConfigMap internals.
    if (!entry.name.endsWith(".hcl") || entry.name.startsWith(".")) continue;
    const full = join(path, entry.name);
    // ConfigMap volumes and conf.d layouts are symlinks: follow them. A dangling one is kept so
    // reading it fails loudly: silently dropping a file could drop deny rules.
    if (entry.isFile || (entry.isSymlink && !await isDirectory(full))) names.push(full);
  }
  names.sort();
  if (names.length === 0) {
    problems.push({ file: path, line: 0, message: "Config directory holds no .hcl files" });
  }
  return names;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

async function parseFile(
  parse: HclParse,
  file: string,
  problems: ConfigProblem[],
): Promise<ConfigFile | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (err) {
    problems.push({ file, line: 0, message: `Cannot read: ${(err as Error).message}` });
    return null;
  }
  return await parseText(parse, file, text, dirname(file), problems);
}

async function parseText(
  hclToJson: HclParse,
  file: string,
  text: string,
  baseDir: string,
  problems: ConfigProblem[],
): Promise<ConfigFile | null> {
  let json: Record<string, unknown>;
  const lines = indexLines(text);
  try {
    json = await hclToJson(file, text);
  } catch (err) {
    const message = String((err as Error).message ?? err);
    let found = hclProblems(file, message);
    // hcl2json refuses blocks of one type with differing label counts, without a line.
    if (found.every((p) => p.line === 0) && /convert block/.test(message)) {
      const located = labelProblems(file, lines);
      if (located.length > 0) found = located;
    }
    problems.push(...found.sort((a, b) => a.line - b.line));
    return null;
  }
  const includes: string[] = [];
  await resolveIncludes(json, [], { file, lines, baseDir, includes }, problems);
  return { file, json, lines, includes };
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

interface IncludeContext {
  file: string;
  lines: LineIndex;
  baseDir: string;
  /** Files read so far, for hot reload to watch. */
  includes: string[];
}

async function resolveIncludes(
  node: Record<string, unknown> | unknown[],
  path: (string | number)[],
  ctx: IncludeContext,
  problems: ConfigProblem[],
): Promise<void> {
  for (const key of Object.keys(node)) {
    const at = [...path, Array.isArray(node) ? Number(key) : key];
    const value = (node as Record<string, unknown>)[key];
    if (typeof value === "string") {
      const m = INCLUDE.exec(value);
      if (!m) continue;
      const target = resolve(ctx.baseDir, m[1]);
      try {
        const info = await Deno.stat(target);
        if (!info.isFile) throw new Error("not a file");
        if (info.size > MAX_INCLUDE_BYTES) {
          throw new Error(`larger than ${MAX_INCLUDE_BYTES} bytes`);
        }
        (node as Record<string, unknown>)[key] = await Deno.readTextFile(target);
        if (!ctx.includes.includes(target)) ctx.includes.push(target);
      } catch (err) {
        const why = err instanceof Deno.errors.NotFound
          ? "no such file"
          : err instanceof Deno.errors.NotCapable
          // The running gateway may read only what its grant named when it started.
          ? "outside the files the gateway may read (restart it through the launcher)"
          : (err as Error).message;
        problems.push({
          file: ctx.file,
          line: lineOfValue(ctx.lines, at),
          message: `Cannot include '${m[1]}' (${target}): ${why}`,
        });
      }
    } else if (value !== null && typeof value === "object") {
      await resolveIncludes(value as Record<string, unknown>, at, ctx, problems);
    }
  }
}

/**
 * Line of the attribute holding the value at a hcl2json path such as
 * `["endpoint", "https", "billing", 0, "ca_cert"]`: block labels, the block's occurrence, then the
 * attribute name (and, for a list item, its index). Tries the deepest block first.
 */
function lineOfValue(lines: LineIndex, path: (string | number)[]): number {
  for (let j = path.length - 2; j >= 0; j--) {
    const occurrence = path[j];
    const name = path[j + 1];
    if (typeof occurrence !== "number" || typeof name !== "string") continue;
    const blockPath = path.slice(0, j).filter((p): p is string => typeof p === "string");
    const line = lines.attributes.get(attributeKey(blockPath, occurrence, name));
    if (line !== undefined) return line;
  }
  return lines.attributes.get(attributeKey([], 0, String(path[0]))) ?? 0;
}
