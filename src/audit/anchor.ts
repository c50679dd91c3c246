/**
 * Anchors: signed statements of the receipt chains' heads (seq and hash of the newest receipt and
 * outcome) at a point in time, kept outside `state_dir`. The hash chain alone proves the rows
 * agree with each other; whoever can write the database can still rewrite every row after an
 * edit, or cut the newest rows off. An anchor made before that, signed with a key sealed in the
 * vault, catches both: the row it names is gone, or has another hash.
 *
 * Each anchor carries its public key, so anchors signed before a key rotation still verify; which
 * keys to trust is the verifier's choice (the vault's current and retired keys, or keys pinned
 * out of band).
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { hasOutcomes, openReadOnly } from "./_schema.ts";
import { GENESIS_HASH } from "./_chain_text.ts";
import { checkpointOf } from "./prune.ts";

/** The newest row of one chain (seq 0 and the genesis hash when it is empty). */
export interface ChainHead {
  seq: number;
  hash: string;
}

/** Both chains' heads. */
export interface ChainHeads {
  receipts: ChainHead;
  outcomes: ChainHead;
}

/** A signed anchor, as one JSON line. */
export interface Anchor {
  v: 1;
  time: string;
  receipts: ChainHead;
  outcomes: ChainHead;
  /** The Ed25519 public key (raw, base64url) whose private half signed. */
  key: string;
  /** Ed25519 signature (base64url) over {@linkcode anchorText} of the other fields. */
  sig: string;
}

/** An Ed25519 key pair for signing anchors. */
export interface AnchorKey {
  privateKey: CryptoKey;
  /** The raw public key, base64url. */
  publicKey: string;
}

/** What {@linkcode checkAnchors} found. */
export interface AnchorCheck {
  /** Anchors whose heads were compared with the chains and matched. */
  matched: number;
  /** Anchors naming rows pruned since (retention): nothing left to compare. */
  pruned: number;
  /** One line per anchor that does not hold: untrusted, forged, or contradicted by the chain. */
  problems: string[];
}

/** The heads of the chains in the database at `path`, read in one snapshot. */
export function chainHeads(path: string): ChainHeads {
  const db = openReadOnly(path);
  try {
    db.exec("BEGIN");
    const heads = {
      receipts: headOf(db, "receipts"),
      outcomes: hasOutcomes(db) ? headOf(db, "outcomes") : { seq: 0, hash: GENESIS_HASH },
    };
    db.exec("COMMIT");
    return heads;
  } finally {
    db.close();
  }
}

function headOf(db: DatabaseSync, table: "receipts" | "outcomes"): ChainHead {
  const row = db.prepare(`SELECT seq, hash FROM ${table} ORDER BY seq DESC LIMIT 1`).get() as
    | ChainHead
    | undefined;
  // Every row pruned but none newer: the prune checkpoint is the head.
  return row ?? checkpointOf(db, table) ?? { seq: 0, hash: GENESIS_HASH };
}

/** The text a signature covers: the anchor without `sig`, keys in a fixed order. */
export function anchorText(a: Omit<Anchor, "sig">): string {
  return JSON.stringify({
    key: a.key,
    outcomes: { hash: a.outcomes.hash, seq: a.outcomes.seq },
    receipts: { hash: a.receipts.hash, seq: a.receipts.seq },
    time: a.time,
    v: a.v,
  });
}

/** Signs `heads` as of `time`. */
export async function signAnchor(heads: ChainHeads, time: Date, key: AnchorKey): Promise<Anchor> {
  const unsigned = {
    v: 1 as const,
    time: time.toISOString(),
    receipts: heads.receipts,
    outcomes: heads.outcomes,
    key: key.publicKey,
  };
  const text = new TextEncoder().encode(anchorText(unsigned));
  const sig = new Uint8Array(await crypto.subtle.sign("Ed25519", key.privateKey, text));
  return { ...unsigned, sig: toBase64Url(sig) };
}

/** A new Ed25519 key pair; `pkcs8` is the private key to seal. */
export async function newAnchorKey(): Promise<AnchorKey & { pkcs8: string }> {
  const pair = await crypto.subtle.generateKey("Ed25519", true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  const key = await importAnchorKey(toBase64Url(pkcs8));
  if (key.publicKey !== toBase64Url(raw)) throw new Error("Ed25519 key round trip failed");
  return { ...key, pkcs8: toBase64Url(pkcs8) };
}

/** The key pair of a sealed PKCS#8 private key (base64url); the private half is not extractable. */
export async function importAnchorKey(pkcs8: string): Promise<AnchorKey> {
  const bytes = fromBase64Url(pkcs8);
  // Extractable only long enough to derive the public half through JWK.
  const exportable = await crypto.subtle.importKey("pkcs8", bytes, "Ed25519", true, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", exportable);
  if (typeof jwk.x !== "string") throw new Error("not an Ed25519 private key");
  const privateKey = await crypto.subtle.importKey("pkcs8", bytes, "Ed25519", false, ["sign"]);
  return { privateKey, publicKey: jwk.x };
}

/** A short name for a public key: the first 16 hex digits of its SHA-256. */
export async function keyId(publicKey: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", fromBase64Url(publicKey));
  return [...new Uint8Array(digest).slice(0, 8)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/**
 * Reads anchors from JSON lines; a line that is not an anchor is a problem (`file:line`), not
 * skipped silently: a verifier must not pass because it read less than it was given.
 */
export function parseAnchors(
  text: string,
  file: string,
): { anchors: Anchor[]; problems: string[] } {
  const anchors: Anchor[] = [];
  const problems: string[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      const a = JSON.parse(line);
      if (!isAnchor(a)) throw new Error("not an anchor");
      anchors.push(a);
    } catch (err) {
      problems.push(`${file}:${i + 1}: ${(err as Error).message}`);
    }
  });
  return { anchors, problems };
}

function isAnchor(a: unknown): a is Anchor {
  const x = a as Anchor;
  const head = (h: ChainHead) =>
    typeof h === "object" && h !== null && Number.isSafeInteger(h.seq) && h.seq >= 0 &&
    typeof h.hash === "string" && /^[0-9a-f]{64}$/.test(h.hash);
  return typeof a === "object" && a !== null && x.v === 1 && typeof x.time === "string" &&
    head(x.receipts) && head(x.outcomes) && typeof x.key === "string" && typeof x.sig === "string";
}

/**
 * Checks each anchor: signed by a trusted key (raw public keys, base64url), its signature
 * valid, and each head still in the chain with the same hash. A head past the chain's end is a
 * cut tail; a different hash is a rewrite. Heads that retention pruned are counted, not judged.
 */
export async function checkAnchors(
  path: string,
  anchors: readonly Anchor[],
  trusted: ReadonlySet<string>,
): Promise<AnchorCheck> {
  const result: AnchorCheck = { matched: 0, pruned: 0, problems: [] };
  const db = openReadOnly(path);
  try {
    db.exec("BEGIN");
    const outcomes = hasOutcomes(db);
    for (const a of anchors) {
      const what = `anchor of ${a.time}`;
      if (!trusted.has(a.key)) {
        result.problems.push(`${what}: signed by key ${await keyId(a.key)}, which is not trusted`);
        continue;
      }
      if (!await signatureHolds(a)) {
        result.problems.push(
          `${what}: the signature does not match its contents (forged or edited)`,
        );
        continue;
      }
      const tables = outcomes ? (["receipts", "outcomes"] as const) : (["receipts"] as const);
      const found = tables.map((t) => compareHead(db, t, a[t], what));
      const problems = found.filter((f) => f !== "ok" && f !== "pruned");
      result.problems.push(...problems);
      if (problems.length === 0) {
        if (found.includes("pruned")) result.pruned++;
        else result.matched++;
      }
    }
    db.exec("COMMIT");
  } finally {
    db.close();
  }
  return result;
}

/** A problem line, "pruned", or "ok" for one chain's head against the database. */
function compareHead(
  db: DatabaseSync,
  table: "receipts" | "outcomes",
  head: ChainHead,
  what: string,
): string | "pruned" | "ok" {
  if (head.seq === 0) return "ok"; // The chain was empty when anchored.
  const noun = table === "receipts" ? "receipt" : "outcome";
  const row = db.prepare(`SELECT hash FROM ${table} WHERE seq = ?`).get(head.seq) as
    | { hash: string }
    | undefined;
  if (row) {
    return row.hash === head.hash
      ? "ok"
      : `${what}: ${noun} ${head.seq} has hash ${row.hash.slice(0, 16)}…, the anchor says ` +
        `${head.hash.slice(0, 16)}…: the chain was rewritten`;
  }
  const cut = checkpointOf(db, table);
  if (cut && head.seq <= cut.seq) {
    if (head.seq === cut.seq && head.hash !== cut.hash) {
      return `${what}: pruned ${noun} ${head.seq} had hash ${cut.hash.slice(0, 16)}…, ` +
        `the anchor says ${head.hash.slice(0, 16)}…: the chain was rewritten`;
    }
    return "pruned";
  }
  const last = db.prepare(`SELECT max(seq) AS seq FROM ${table}`).get() as { seq: number | null };
  const end = last.seq ?? cut?.seq ?? 0;
  return head.seq > end
    ? `${what}: the ${noun}s end at seq ${end}, the anchor saw seq ${head.seq}: ` +
      `${head.seq - end} ${noun}s were cut from the end`
    : `${what}: ${noun} ${head.seq} is missing`;
}

async function signatureHolds(a: Anchor): Promise<boolean> {
  try {
    const key = await crypto.subtle.importKey("raw", fromBase64Url(a.key), "Ed25519", false, [
      "verify",
    ]);
    const text = new TextEncoder().encode(anchorText(a));
    return await crypto.subtle.verify("Ed25519", key, fromBase64Url(a.sig), text);
  } catch {
    return false; // A key or signature that does not decode is no signature.
  }
}

function toBase64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "=".repeat((4 - b64.length % 4) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}
