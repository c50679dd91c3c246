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
import { blockKey } from "./_locate.ts";

/** One block found in a file, with its labels and a reader over its body. */
export interface FoundBlock {
  type: string;
  labels: string[];
  reader: BlockReader;
  file: ConfigFile;
}

/** Collects every `type` block with exactly `labelCount` labels from one file. */
export function collectBlocks(
  file: ConfigFile,
  type: string,
  labelCount: number,
  value: unknown,
  problems: ConfigProblem[],
): FoundBlock[] {
  const found: FoundBlock[] = [];
  const walk = (v: unknown, labels: string[]) => {
    if (Array.isArray(v)) {
      if (labels.length !== labelCount) {
        const expected = labelCount === 0
          ? "no labels"
          : `${labelCount} label${labelCount > 1 ? "s" : ""}`;
        const line = file.lines.blocks.get(blockKey([type, ...labels]))?.[0] ?? 0;
        problems.push({
          file: file.file,
          line,
          message: `${type}: expected ${expected}, e.g. ${example(type)}`,
        });
        return;
      }
      v.forEach((body, occurrence) => {
        const reader = new BlockReader(file, [type, ...labels], occurrence, body, problems);
        found.push({ type, labels, reader, file });
      });
      return;
    }
    if (v !== null && typeof v === "object" && labels.length < labelCount) {
      for (const [label, inner] of Object.entries(v)) walk(inner, [...labels, label]);
      return;
    }
    const line = file.lines.attributes.get(`${blockKey([])}#0.${type}`) ??
      file.lines.blocks.get(blockKey([type, ...labels]))?.[0] ?? 0;
    problems.push({
      file: file.file,
      line,
      message: `'${type}' must be a block: ${example(type)}`,
    });
  };
  walk(value, []);
  return found;
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
