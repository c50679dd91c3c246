/**
 * Header fields as a proxy handles them (RFC 9110 §5, §7.6.1): looking values up, removing the
 * hop-by-hop ones before a message travels on, and whether a message asks to close the
 * connection. Pure: no I/O.
 *
 * @module
 */

/** Hop-by-hop fields (RFC 9110 §7.6.1) plus the proxy credentials that must not travel on. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "proxy-authenticate",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** `LENGTHS[n]` is 1 when a standard hop-by-hop name is `n` characters long. */
const HOP_LENGTHS = new Uint8Array(32);
for (const name of HOP_BY_HOP) HOP_LENGTHS[name.length] = 1;

/** Names this long or longer are lowercased each time, so the table holds little text. */
const LOWER_MAX = 64;
/** Entries before the table starts over (a peer sending ever new names only refills it). */
const LOWER_ENTRIES = 512;
const LOWER = new Map<string, string>();

/**
 * `name.toLowerCase()`, remembered: a head's names repeat from one message to the next
 * (`Content-Type`, `User-Agent`), and each side of an exchange compares several of them in
 * lowercase, which allocated a new string per comparison.
 */
export function lowerName(name: string): string {
  if (name.length >= LOWER_MAX) return name.toLowerCase();
  let lower = LOWER.get(name);
  if (lower === undefined) {
    lower = name.toLowerCase();
    if (LOWER.size === LOWER_ENTRIES) LOWER.clear();
    LOWER.set(name, lower);
  }
  return lower;
}

/**
 * Removes hop-by-hop headers (RFC 9110 §7.6.1): Connection and every header it names, Keep-Alive,
 * Proxy-Connection, Proxy-Authorization, Proxy-Authenticate, TE, Trailer, Transfer-Encoding,
 * Upgrade. `keep` names (lowercase) survive, e.g. `["upgrade"]` when relaying a WebSocket upgrade
 * (the caller then re-adds `Connection: upgrade`). Case-insensitive; returns a new array.
 *
 * @example
 * ```ts
 * stripHopByHop([["Connection", "X-A"], ["x-a", "1"], ["Host", "h"]]); // [["Host", "h"]]
 * ```
 */
export function stripHopByHop(
  headers: [string, string][],
  keep: string[] = [],
): [string, string][] {
  // Twice per exchange: a set of its own only when the message changes the standard one.
  let drop: ReadonlySet<string> = HOP_BY_HOP;
  const tokens = connectionTokens(headers);
  if (keep.length > 0 || tokens.some((token) => !HOP_BY_HOP.has(token))) {
    const own = new Set(HOP_BY_HOP);
    for (const token of tokens) own.add(token);
    for (const name of keep) own.delete(name.toLowerCase());
    drop = own;
  }
  // The fields themselves go in the new array: nothing downstream changes a field in place.
  const out: [string, string][] = [];
  for (const field of headers) {
    const name = field[0];
    // Only a name as long as a standard one can be one (the usual case has no others).
    if (drop === HOP_BY_HOP && (name.length >= 32 || HOP_LENGTHS[name.length] === 0)) {
      out.push(field);
    } else if (!drop.has(lowerName(name))) {
      out.push(field);
    }
  }
  return out;
}

/**
 * All values of a header, one per field line, in order (case-insensitive name).
 *
 * @example
 * ```ts
 * headerValues([["Accept", "a"], ["accept", "b"]], "ACCEPT"); // ["a", "b"]
 * ```
 */
export function headerValues(headers: [string, string][], name: string): readonly string[] {
  const lower = name.toLowerCase();
  let out: string[] | null = null;
  for (const [n, v] of headers) {
    if (n.length === lower.length && lowerName(n) === lower) (out ??= []).push(v);
  }
  // Most lookups find nothing (`Connection`, `Expect`, `Transfer-Encoding`): one shared answer.
  return out ?? NO_VALUES;
}

const NO_VALUES: readonly string[] = Object.freeze([]);

/**
 * True when the message asks to close after it: `Connection: close`, or anything but HTTP/1.1
 * without `Connection: keep-alive` (RFC 9112 §9.3).
 *
 * @example
 * ```ts
 * wantsClose("HTTP/1.0", []); // true
 * wantsClose("HTTP/1.1", [["Connection", "Close"]]); // true
 * ```
 */
export function wantsClose(version: string, headers: [string, string][]): boolean {
  const tokens = connectionTokens(headers);
  if (tokens.includes("close")) return true;
  return version !== "HTTP/1.1" && !tokens.includes("keep-alive");
}

/** Lowercased, trimmed, non-empty connection-options from every Connection field. */
function connectionTokens(headers: [string, string][]): string[] {
  const tokens: string[] = [];
  for (const value of headerValues(headers, "connection")) {
    for (const part of value.split(",")) {
      const token = trimOws(part).toLowerCase();
      if (token.length > 0) tokens.push(token);
    }
  }
  return tokens;
}

/**
 * Trims OWS (SP, HTAB) only. `String#trim` would also strip U+00A0 and other characters that are
 * valid obs-text here, turning `5\xa0` into a valid Content-Length.
 */
export function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 0x20 || s.charCodeAt(a) === 0x09)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 0x20 || s.charCodeAt(b - 1) === 0x09)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}
