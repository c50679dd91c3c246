/**
 * Slack's request signing, as the HTTP interactivity endpoint verifies it
 * (https://api.slack.com/authentication/verifying-requests-from-slack):
 *
 * - `X-Slack-Request-Timestamp: <unix seconds>`
 * - `X-Slack-Signature: v0=<hex>`, the lowercase HMAC-SHA256, keyed with the app's signing
 *   secret, of the bytes `v0:<timestamp>:<raw body>`.
 *
 * A request signed more than five minutes from our clock is refused, so a captured request
 * cannot be replayed later; within the window the caller remembers signatures it accepted.
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
export const SLACK_TIMESTAMP_HEADER = "X-Slack-Request-Timestamp";
/** Header carrying `v0=<hex hmac-sha256>`. */
export const SLACK_SIGNATURE_HEADER = "X-Slack-Signature";
/** How far a timestamp may be from our clock, either way (Slack's recommendation). */
export const SLACK_REPLAY_WINDOW_SECONDS = 300;

const SCHEME: HmacScheme = {
  timestampHeader: SLACK_TIMESTAMP_HEADER,
  signatureHeader: SLACK_SIGNATURE_HEADER,
  version: "v0",
  prefix: (timestamp) => `v0:${timestamp}:`,
  windowSeconds: SLACK_REPLAY_WINDOW_SECONDS,
};

/**
 * The `X-Slack-Signature` value for `body` sent at `timestamp` (unix seconds): what Slack sends,
 * and what tests and fakes sign with.
 *
 * @example
 * ```ts
 * await slackSignature("8f742231b10e8888abcd99yyyzzz85a5", 1531420618, "payload=%7B%7D"); // "v0=…"
 * ```
 */
export async function slackSignature(
  signingSecret: string,
  timestamp: number | string,
  body: string | Uint8Array,
): Promise<string> {
  return hmacSignature(SCHEME, await hmacKey(signingSecret), timestamp, body);
}

/** Why a request's signature headers were refused before any MAC was computed. */
export type SlackSignatureProblem = HmacHeaderProblem;

/** A request's signature headers, parsed and inside the replay window, not yet verified. */
export type SlackSignedHeaders = HmacSignedHeaders;

/**
 * Reads and sanity-checks the signature headers, including the replay window.
 *
 * @example
 * ```ts
 * const signed = slackSignedHeaders(req.headers);
 * if (typeof signed === "string") return new Response(null, { status: 401 });
 * ```
 */
export function slackSignedHeaders(
  headers: Headers,
  nowMs: number = Date.now(),
): SlackSignedHeaders | SlackSignatureProblem {
  return hmacSignedHeaders(SCHEME, headers, nowMs);
}

/**
 * Whether `signed` is the MAC of `body` under `signingSecret` (constant-time compare).
 *
 * @example
 * ```ts
 * const ok = await verifySlackSignature(secret, signed, rawBody);
 * ```
 */
export async function verifySlackSignature(
  signingSecret: string,
  signed: SlackSignedHeaders,
  body: Uint8Array,
): Promise<boolean> {
  return hmacVerify(SCHEME, await hmacKey(signingSecret), signed, body);
}
