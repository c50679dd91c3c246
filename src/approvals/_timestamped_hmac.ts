/**
 * The one signing mechanism behind webhook and Slack requests: an HMAC-SHA256 over the signing
 * time and the raw body, sent as `<version>=<hex>` beside a unix-seconds timestamp header, and
 * refused outside a replay window. The schemes differ only in header names, version tag and how
 * the timestamp is joined to the body.
 *
 * @module
 */

import { concatBytes } from "../core/mod.ts";

/** One scheme's wire details. */
export interface HmacScheme {
  timestampHeader: string;
  signatureHeader: string;
  /** `v0` (Slack), `v1` (webhooks). */
  version: string;
  /** The text signed ahead of the body, e.g. `v0:<ts>:` or `<ts>.`. */
  prefix(timestamp: string): string;
  /** How far a timestamp may be from the verifier's clock, either way. */
  windowSeconds: number;
}

/** Why signature headers were refused before any MAC was computed. */
export type HmacHeaderProblem = "missing" | "malformed" | "stale";

/** Signature headers, parsed and inside the replay window, not yet verified. */
export interface HmacSignedHeaders {
  /** As sent: the exact text that was signed. */
  timestamp: string;
  /** The 32 MAC bytes. */
  mac: Uint8Array;
  /** The signature header as sent (trimmed, lowercased), to remember accepted messages by. */
  signature: string;
}

const encoder = new TextEncoder();

/** Imports a secret as a non-extractable HMAC-SHA256 signing key. */
export function hmacKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
}

/** The signature header value for `body` sent at `timestamp` (unix seconds). */
export async function hmacSignature(
  scheme: HmacScheme,
  key: CryptoKey,
  timestamp: number | string,
  body: string | Uint8Array,
): Promise<string> {
  const mac = await hmac(scheme, key, String(timestamp), body);
  return `${scheme.version}=${Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** Reads and sanity-checks the signature headers, including the replay window. */
export function hmacSignedHeaders(
  scheme: HmacScheme,
  headers: Headers,
  nowMs: number,
): HmacSignedHeaders | HmacHeaderProblem {
  const timestamp = headers.get(scheme.timestampHeader);
  const header = headers.get(scheme.signatureHeader);
  if (timestamp === null || header === null) return "missing";
  const signature = header.trim().toLowerCase();
  const match = new RegExp(`^${scheme.version}=([0-9a-f]{64})$`).exec(signature);
  if (!/^\d{1,12}$/.test(timestamp) || !match) return "malformed";
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > scheme.windowSeconds) return "stale";
  const mac = new Uint8Array(32);
  for (let i = 0; i < 32; i++) mac[i] = parseInt(match[1].slice(i * 2, i * 2 + 2), 16);
  return { timestamp, mac, signature };
}

/**
 * Whether `signed` is `key`'s MAC of `body`. The comparison takes the same time wherever the
 * first differing byte is, so timing does not leak how much of a forged MAC was right.
 */
export async function hmacVerify(
  scheme: HmacScheme,
  key: CryptoKey,
  signed: Pick<HmacSignedHeaders, "timestamp" | "mac">,
  body: Uint8Array,
): Promise<boolean> {
  const expected = await hmac(scheme, key, signed.timestamp, body);
  if (expected.length !== signed.mac.length) return false;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff |= expected[i] ^ signed.mac[i];
  return diff === 0;
}

async function hmac(
  scheme: HmacScheme,
  key: CryptoKey,
  timestamp: string,
  body: string | Uint8Array,
): Promise<Uint8Array> {
  const prefix = encoder.encode(scheme.prefix(timestamp));
  const rest = typeof body === "string" ? encoder.encode(body) : body;
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, concatBytes([prefix, rest])));
}
