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

/** Header carrying the signing time, in unix seconds. */
export const SLACK_TIMESTAMP_HEADER = "X-Slack-Request-Timestamp";
/** Header carrying `v0=<hex hmac-sha256>`. */
export const SLACK_SIGNATURE_HEADER = "X-Slack-Signature";
/** How far a timestamp may be from our clock, either way (Slack's recommendation). */
export const SLACK_REPLAY_WINDOW_SECONDS = 300;

const encoder = new TextEncoder();

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
  const mac = await hmac(await signingKey(signingSecret), String(timestamp), body);
  return `v0=${Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** Why a request's signature headers were refused before any MAC was computed. */
export type SlackSignatureProblem = "missing" | "malformed" | "stale";

/** A request's signature headers, parsed and inside the replay window, not yet verified. */
export interface SlackSignedHeaders {
  /** As sent: the exact text that was signed. */
  timestamp: string;
  /** The 32 MAC bytes of `v0=<hex>`. */
  mac: Uint8Array;
  /** The header as sent (lowercased), to remember accepted requests by. */
  signature: string;
}

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
  const timestamp = headers.get(SLACK_TIMESTAMP_HEADER);
  const header = headers.get(SLACK_SIGNATURE_HEADER);
  if (timestamp === null || header === null) return "missing";
  const signature = header.trim().toLowerCase();
  const match = /^v0=([0-9a-f]{64})$/.exec(signature);
  if (!/^\d{1,12}$/.test(timestamp) || !match) return "malformed";
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > SLACK_REPLAY_WINDOW_SECONDS) return "stale";
  const mac = new Uint8Array(32);
  for (let i = 0; i < 32; i++) mac[i] = parseInt(match[1].slice(i * 2, i * 2 + 2), 16);
  return { timestamp, mac, signature };
}

/**
 * Whether `signed` is the MAC of `body` under `signingSecret`. The comparison takes the same
 * time wherever the first differing byte is, so timing does not leak how much of a forged MAC
 * was right.
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
  const expected = await hmac(await signingKey(signingSecret), signed.timestamp, body);
  if (expected.length !== signed.mac.length) return false;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff |= expected[i] ^ signed.mac[i];
  return diff === 0;
}

function signingKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
}

async function hmac(
  key: CryptoKey,
  timestamp: string,
  body: string | Uint8Array,
): Promise<Uint8Array> {
  const prefix = encoder.encode(`v0:${timestamp}:`);
  const rest = typeof body === "string" ? encoder.encode(body) : body;
  const data = new Uint8Array(prefix.length + rest.length);
  data.set(prefix);
  data.set(rest, prefix.length);
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, data));
}
