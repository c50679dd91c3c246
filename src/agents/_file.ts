/**
 * The agents file on disk: parsing with validation, atomic 0600 writes, and the stat signature
 * used to notice changes made by other processes.
 *
 * @module
 */

import { writeFileAtomicSync } from "../core/mod.ts";
import type { AgentRecord } from "./_record.ts";

const SCHEMA_VERSION = 1;

/** Agent names travel in HTTP Basic auth (`NAME:TOKEN`), so no `:` and nothing needing escapes. */
export const AGENT_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** The on-disk shape of one record (snake_case, as in the config). */
interface StoredRecord {
  name: string;
  profile: string;
  token_sha256: string;
  /** SCRAM-SHA-256 verifier of the token (agents enrolled or rotated since PostgreSQL SCRAM). */
  scram_sha256?: string;
  created_at: string;
  rotated_at: string | null;
  revoked_at: string | null;
}

/**
 * What identifies one version of the file: an atomic rename always changes the inode, an
 * in-place edit changes size or mtime. `"missing"` when there is no file.
 */
export function fileSignature(path: string): string {
  try {
    const s = Deno.statSync(path);
    return `${s.ino ?? ""}:${s.size}:${s.mtime?.getTime() ?? ""}`;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "missing";
    throw err;
  }
}

/** Reads and validates the file; a missing file is an empty registry. */
export function readAgentsFile(path: string): AgentRecord[] {
  return readStateFile(path, "agents", parseAgents);
}

/**
 * Reads one of the registries' JSON files with `parse`: a missing file holds nothing, one that
 * does not parse throws a `SyntaxError` naming it (`what`: `agents`, `sources`).
 */
export function readStateFile<T>(path: string, what: string, parse: (text: string) => T[]): T[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
  try {
    return parse(text);
  } catch (err) {
    throw new SyntaxError(`Cannot parse ${what} file '${path}': ${(err as Error).message}`);
  }
}

function parseAgents(text: string): AgentRecord[] {
  const doc = JSON.parse(text);
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new Error("expected a JSON object");
  }
  if (doc.schema_version !== SCHEMA_VERSION) {
    throw new Error(
      `unsupported schema_version ${JSON.stringify(doc.schema_version)} (expected 1)`,
    );
  }
  if (!Array.isArray(doc.agents)) throw new Error("'agents' must be an array");
  const seen = new Set<string>();
  return doc.agents.map((raw: unknown, i: number) => {
    const r = raw as Partial<StoredRecord> | null;
    const where = `agents[${i}]`;
    if (typeof r !== "object" || r === null) throw new Error(`${where} is not an object`);
    if (typeof r.name !== "string" || !AGENT_NAME_PATTERN.test(r.name)) {
      throw new Error(`${where}: invalid name ${JSON.stringify(r.name)}`);
    }
    if (seen.has(r.name)) throw new Error(`${where}: duplicate name '${r.name}'`);
    seen.add(r.name);
    if (typeof r.profile !== "string" || r.profile === "") {
      throw new Error(`${where} ('${r.name}'): invalid profile`);
    }
    if (typeof r.token_sha256 !== "string" || !/^[0-9a-f]{64}$/.test(r.token_sha256)) {
      throw new Error(`${where} ('${r.name}'): token_sha256 must be 64 lowercase hex digits`);
    }
    if (
      r.scram_sha256 !== undefined && !/^SCRAM-SHA-256\$[0-9A-Za-z+/=:$]+$/.test(r.scram_sha256)
    ) {
      throw new Error(`${where} ('${r.name}'): scram_sha256 is not a SCRAM-SHA-256 verifier`);
    }
    if (typeof r.created_at !== "string") {
      throw new Error(`${where} ('${r.name}'): created_at must be a string`);
    }
    for (const key of ["rotated_at", "revoked_at"] as const) {
      if (r[key] !== null && typeof r[key] !== "string") {
        throw new Error(`${where} ('${r.name}'): ${key} must be a string or null`);
      }
    }
    return {
      name: r.name,
      profile: r.profile,
      tokenSha256: r.token_sha256,
      ...(r.scram_sha256 === undefined ? {} : { scramSha256: r.scram_sha256 }),
      createdAt: r.created_at,
      rotatedAt: r.rotated_at ?? null,
      revokedAt: r.revoked_at ?? null,
    };
  });
}

/**
 * Writes the file atomically: a 0600 temp file in the same directory, synced, then renamed over
 * the old one, so a reader (the gateway) sees the old or the new file, never half of one.
 */
export function writeAgentsFile(path: string, records: AgentRecord[]): void {
  const stored: StoredRecord[] = records.map((r) => ({
    name: r.name,
    profile: r.profile,
    token_sha256: r.tokenSha256,
    ...(r.scramSha256 === undefined ? {} : { scram_sha256: r.scramSha256 }),
    created_at: r.createdAt,
    rotated_at: r.rotatedAt,
    revoked_at: r.revokedAt,
  }));
  const text = JSON.stringify({ schema_version: SCHEMA_VERSION, agents: stored }, null, 2) + "\n";
  writeFileAtomicSync(path, new TextEncoder().encode(text));
}
