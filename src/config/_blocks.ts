/**
 * Walks hcl2json's nested label objects back into a flat list of blocks.
 *
 * `rule "x" { }` becomes `{rule: {x: [{…}]}}`; `endpoint "https" "gh" { }` becomes
 * `{endpoint: {https: {gh: [{…}]}}}`. Repeated labels give arrays longer than one.
 *
 * @module
 */

import type { ConfigProblem } from "../core/mod.ts";
import { BlockReader, type ConfigFile } from "./_fields.ts";
import { attributeKey, blockKey, type LineIndex } from "./_locate.ts";

/** One block found in a file, with its labels and a reader over its body. */
export interface FoundBlock {
  type: string;
  labels: string[];
  reader: BlockReader;
  file: ConfigFile;
}

/** Labels each top-level block type takes: `rule "x"` has one, `endpoint "https" "x"` two. */
export const LABEL_COUNTS: Record<string, number> = {
  gateway: 0,
  defaults: 0,
  profile: 1,
  rule: 1,
  endpoint: 2,
  credential: 2,
  approver: 2,
  tunnel: 2,
};

/** Where {@linkcode collectBlocks} looks and what it reports to. */
export interface CollectBlocksOptions {
  /** Labels a `type` block must have. */
  labelCount: number;
  /** hcl2json's value for the top-level key `type`. */
  value: unknown;
  /** Collects wrong label counts and non-block values. */
  problems: ConfigProblem[];
}

/**
 * Collects every `type` block with exactly `labelCount` labels from one file, in the order they
 * are written. hcl2json nests blocks under JSON objects keyed by label, and Go sorts object keys,
 * so its order is alphabetical: the source lines restore declaration order, which rule
 * tie-breaking depends on.
 */
export function collectBlocks(
  file: ConfigFile,
  type: string,
  { labelCount, value, problems }: CollectBlocksOptions,
): FoundBlock[] {
  const found: FoundBlock[] = [];
  const isAttribute = file.lines.attributes.has(attributeKey([], 0, type));
  const walk = (v: unknown, labels: string[]) => {
    if (Array.isArray(v) && !isAttribute) {
      if (labels.length !== labelCount) {
        problems.push({
          file: file.file,
          line: file.lines.blocks.get(blockKey([type, ...labels]))?.[0] ?? 0,
          message: wrongLabels(type, labelCount),
        });
        return;
      }
      v.forEach((body, occurrence) => {
        const reader = new BlockReader(file, body, {
          path: [type, ...labels],
          occurrence,
          problems,
        });
        found.push({ type, labels, reader, file });
      });
      return;
    }
    // Objects deeper than the expected labels are blocks with too many labels, unless the whole
    // value is an attribute (`rule = { … }`).
    if (v !== null && typeof v === "object" && !Array.isArray(v) && !isAttribute) {
      for (const [label, inner] of Object.entries(v)) walk(inner, [...labels, label]);
      return;
    }
    const line = file.lines.attributes.get(attributeKey([], 0, type)) ??
      file.lines.blocks.get(blockKey([type, ...labels]))?.[0] ?? 0;
    problems.push({
      file: file.file,
      line,
      message: `'${type}' must be a block: ${example(type)}`,
    });
  };
  walk(value, []);
  return found.sort((a, b) => a.reader.source.line - b.reader.source.line);
}

/**
 * Problems for top-level blocks with the wrong number of labels, found from the text alone. Used
 * when hcl2json refuses a file outright because blocks of one type mix label counts
 * ("Unable to convert Block to JSON: rule.x"), which it reports without a line.
 */
export function labelProblems(file: string, index: LineIndex): ConfigProblem[] {
  return index.topBlocks
    .filter(({ path: [type, ...labels] }) =>
      type in LABEL_COUNTS && labels.length !== LABEL_COUNTS[type]
    )
    .map(({ path: [type], line }) => ({
      file,
      line,
      message: wrongLabels(type, LABEL_COUNTS[type]),
    }));
}

function wrongLabels(type: string, labelCount: number): string {
  const expected = labelCount === 0
    ? "no labels"
    : `${labelCount} label${labelCount > 1 ? "s" : ""}`;
  return `${type}: expected ${expected}, e.g. ${example(type)}`;
}

function example(type: string): string {
  switch (type) {
    case "endpoint":
      return 'endpoint "https" "github" { … }';
    case "credential":
      return 'credential "bearer_token" "github_pat" { … }';
    case "approver":
      return 'approver "human_approver" "ops" { … }';
    case "profile":
      return 'profile "oncall-bot" { … }';
    case "rule":
      return 'rule "pg-no-ddl" { … }';
    default:
      return `${type} { … }`;
  }
}

/** Where {@linkcode addUnique} files a value, and how a duplicate is reported. */
export interface AddUniqueOptions {
  key: string;
  /** The block a duplicate is reported against. */
  reader: BlockReader;
  /** The kind of thing, as the problem names it ("credential"). */
  what: string;
}

/** Adds `value` under `key`, or reports it as a duplicate of the one already there. */
export function addUnique<T extends { source: { file: string; line: number } }>(
  map: Map<string, T>,
  value: T,
  { key, reader, what }: AddUniqueOptions,
): void {
  const existing = map.get(key);
  if (existing) {
    reader.problem(
      `duplicate ${what} '${key}' (first defined at ${existing.source.file}:${existing.source.line})`,
    );
    return;
  }
  map.set(key, value);
}
