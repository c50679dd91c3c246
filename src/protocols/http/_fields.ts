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
  const out: [string, string][] = [];
  for (const [name, value] of headers) {
    if (!drop.has(name.toLowerCase())) out.push([name, value]);
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
export function headerValues(headers: [string, string][], name: string): string[] {
  const lower = name.toLowerCase();
  const out: string[] = [];
  for (const [n, v] of headers) {
    if (n.length === lower.length && n.toLowerCase() === lower) out.push(v);
  }
  return out;
}

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
