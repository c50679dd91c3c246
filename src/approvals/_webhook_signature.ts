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

import {
  type HmacHeaderProblem,
  hmacKey,
  type HmacScheme,
  hmacSignature,
  type HmacSignedHeaders,
  hmacSignedHeaders,
  hmacVerify,
} from "./_timestamped_hmac.ts";

/** Header carrying the signing time, in unix seconds. */
export const TIMESTAMP_HEADER = "X-Clawpatrol-Timestamp";
/** Header carrying `v1=<hex hmac-sha256>`. */
export const SIGNATURE_HEADER = "X-Clawpatrol-Signature";
/** How far a timestamp may be from the verifier's clock, either way. */
export const REPLAY_WINDOW_SECONDS = 300;

const SCHEME: HmacScheme = {
  timestampHeader: TIMESTAMP_HEADER,
  signatureHeader: SIGNATURE_HEADER,
  version: "v1",
  prefix: (timestamp) => `${timestamp}.`,
  windowSeconds: REPLAY_WINDOW_SECONDS,
};

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
  return hmacKey(secret);
}

/**
 * The `X-Clawpatrol-Signature` value for `body` sent at `timestamp` (unix seconds).
 *
 * @example
 * ```ts
 * await signWebhook(await webhookKey("s3cret"), 1700000000, '{"id":"apr_1"}'); // "v1=9c1e…"
 * ```
 */
export function signWebhook(
  key: CryptoKey,
  timestamp: number | string,
  body: string | Uint8Array,
): Promise<string> {
  return hmacSignature(SCHEME, key, timestamp, body);
}

/** Why signature headers were refused before any MAC was computed. */
export type SignatureProblem = HmacHeaderProblem;

/** The signature headers of a message, parsed but not yet verified. */
export type SignedHeaders = HmacSignedHeaders;

/**
 * Reads and sanity-checks the signature headers, including the replay window: a message
 * signed more than {@linkcode REPLAY_WINDOW_SECONDS} from `nowMs` is `stale`.
 */
export function signedHeaders(
  headers: Headers,
  nowMs: number = Date.now(),
): SignedHeaders | SignatureProblem {
  return hmacSignedHeaders(SCHEME, headers, nowMs);
}

/** Whether `signed` is `key`'s MAC of `body` (constant-time compare). */
export function verifyWebhook(
  key: CryptoKey,
  signed: Pick<SignedHeaders, "timestamp" | "mac">,
  body: Uint8Array,
): Promise<boolean> {
  return hmacVerify(SCHEME, key, signed, body);
}
