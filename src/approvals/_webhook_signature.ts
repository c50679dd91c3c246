/**
 * The webhook signature scheme, shared by both directions (gateway → receiver, and the
 * receiver's callback → gateway):
 *
 * - `X-Clawpatrol-Timestamp: <unix seconds>` (decimal integer)
 * - `X-Clawpatrol-Signature: v1=<hex>` where hex is the lowercase HMAC-SHA256, keyed with the
 *   `webhook_secret` credential's value (UTF-8), of the bytes `<timestamp>.<raw body>`.
 *
 * Signing the timestamp with the body lets the verifier reject old messages (a 5-minute window)
 * without a nonce store growing forever; within the window, a verified signature is remembered
 * so the exact same message cannot be accepted twice.
 *
 * @module
 */

/** Header carrying the signing time, in unix seconds. */
export const TIMESTAMP_HEADER = "X-Clawpatrol-Timestamp";
/** Header carrying `v1=<hex hmac-sha256>`. */
export const SIGNATURE_HEADER = "X-Clawpatrol-Signature";
/** How far a timestamp may be from the verifier's clock, either way. */
export const REPLAY_WINDOW_SECONDS = 300;

const encoder = new TextEncoder();

/**
 * Imports a webhook secret as a non-extractable HMAC-SHA256 key, so the value itself need not
 * be kept around.
 *
 * @example
 * ```ts
 * const key = await webhookKey("s3cret");
 * ```
 */
export function webhookKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
}

/**
 * The `X-Clawpatrol-Signature` value for `body` sent at `timestamp` (unix seconds).
 *
 * @example
 * ```ts
 * await signWebhook(await webhookKey("s3cret"), 1700000000, '{"id":"apr_1"}'); // "v1=9c1e…"
 * ```
 */
export async function signWebhook(
  key: CryptoKey,
  timestamp: number | string,
  body: string | Uint8Array,
): Promise<string> {
  const mac = await hmac(key, String(timestamp), body);
  return `v1=${Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** Why signature headers were refused before any MAC was computed. */
export type SignatureProblem = "missing" | "malformed" | "stale";

/** The signature headers of a message, parsed but not yet verified. */
export interface SignedHeaders {
  /** As sent: the exact text that was signed. */
  timestamp: string;
  /** The 32 MAC bytes from `v1=<hex>`. */
  mac: Uint8Array;
}

/**
 * Reads and sanity-checks the signature headers, including the replay window: a message
 * signed more than {@linkcode REPLAY_WINDOW_SECONDS} from `nowMs` is `stale`.
 */
export function signedHeaders(
  headers: Headers,
  nowMs: number = Date.now(),
): SignedHeaders | SignatureProblem {
  const timestamp = headers.get(TIMESTAMP_HEADER);
  const signature = headers.get(SIGNATURE_HEADER);
  if (timestamp === null || signature === null) return "missing";
  const match = /^v1=([0-9a-f]{64})$/.exec(signature.trim().toLowerCase());
  if (!/^\d{1,12}$/.test(timestamp) || !match) return "malformed";
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > REPLAY_WINDOW_SECONDS) return "stale";
  const mac = new Uint8Array(32);
  for (let i = 0; i < 32; i++) mac[i] = parseInt(match[1].slice(i * 2, i * 2 + 2), 16);
  return { timestamp, mac };
}

/**
 * Whether `signed` is `key`'s MAC of `body`. The comparison takes the same time wherever the
 * first differing byte is, so timing does not leak how much of a forged MAC was right.
 */
export async function verifyWebhook(
  key: CryptoKey,
  signed: SignedHeaders,
  body: Uint8Array,
): Promise<boolean> {
  const expected = await hmac(key, signed.timestamp, body);
  if (expected.length !== signed.mac.length) return false;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff |= expected[i] ^ signed.mac[i];
  return diff === 0;
}

async function hmac(
  key: CryptoKey,
  timestamp: string,
  body: string | Uint8Array,
): Promise<Uint8Array> {
  const prefix = encoder.encode(`${timestamp}.`);
  const rest = typeof body === "string" ? encoder.encode(body) : body;
  const data = new Uint8Array(prefix.length + rest.length);
  data.set(prefix);
  data.set(rest, prefix.length);
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, data));
}
