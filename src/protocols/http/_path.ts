/**
 * Request-target normalisation: the one place that decides what path a rule sees. The proxy
 * forwards the normalised path, never the raw target, so an upstream cannot resolve a path the
 * rules did not see (`/a/%2e%2e/admin`, `//admin`, `/admin/.`).
 *
 * @module
 */

/** A request target split into the normalised path, the path as sent, and the raw query. */
export interface NormalisedTarget {
  /** Dot-segments removed, `/` runs collapsed, unreserved escapes decoded, other escapes uppercased. */
  path: string;
  /** The path exactly as sent. */
  rawPath: string;
  /** The query as sent, without the `?`; `""` when there is none. */
  query: string;
}

/** Options for {@linkcode normaliseTarget}. */
export interface NormaliseTargetOptions {
  /**
   * Keep `%2F` and `%5C` (encoded slash and backslash) as opaque path bytes instead of rejecting
   * the target. Only for upstreams that never decode them into separators.
   *
   * @default {false}
   */
  allowEncodedSlash?: boolean;
}

/**
 * A request target the proxy refuses to forward; the proxy answers 400 with the message.
 *
 * @example
 * ```ts
 * try {
 *   normaliseTarget("/a%2Fb");
 * } catch (e) {
 *   if (e instanceof PathRejected) console.log(e.message); // "Cannot forward path '/a%2Fb': ..."
 * }
 * ```
 */
export class PathRejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PathRejected";
  }
}

const SLASH = 0x2f;
const BACKSLASH = 0x5c;
const PERCENT = 0x25;
const QUESTION = 0x3f;
const HASH = 0x23;

// RFC 3986 §2.3 unreserved characters: the only escapes whose decoding never changes meaning.
const UNRESERVED = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9\-._~]/.test(ch)) UNRESERVED[c] = 1;
}

const HEX = "0123456789ABCDEF";

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * Normalises an origin-form request target (`/a/./b/../c?x=1`). What the rules see is what is
 * forwarded upstream, so the proxy sends `path` (+ `"?"` + `query`) upstream, never the raw target.
 *
 * Escapes of unreserved characters are decoded before dot-segments are removed (RFC 3986 §6.2.2),
 * so `%2e%2e` counts as `..`; every other escape is kept with uppercase hex. `..` above the root
 * stays at `/`. Runs of `/` collapse to one; a trailing slash is kept. The query is kept raw.
 *
 * @example
 * ```ts
 * normaliseTarget("/a/%2e%2E/b//c/?x=%2f");
 * // { path: "/b/c/", rawPath: "/a/%2e%2E/b//c/", query: "x=%2f" }
 * ```
 * @throws {PathRejected} for a target that is not origin-form, has a fragment, a backslash,
 * non-ASCII or control bytes, a malformed escape, `%00`, a dot-segment with `;` parameters, or
 * (unless `allowEncodedSlash`) an encoded slash or backslash.
 */
export function normaliseTarget(
  target: string,
  options: NormaliseTargetOptions = {},
): NormalisedTarget {
  const allowEncodedSlash = options.allowEncodedSlash ?? false;
  const n = target.length;
  if (n === 0 || target.charCodeAt(0) !== SLASH) {
    throw reject(target, "not an origin-form target (must start with '/')");
  }
  const scanned = scanPath(target, allowEncodedSlash);
  const end = scanned.end;
  checkQuery(target, end);
  const rawPath = target.slice(0, end);
  const query = end < n ? target.slice(end + 1) : "";
  let path = rawPath;
  if (scanned.changed) {
    path = "/" + scanned.segments.join("/");
    if (scanned.trailingSlash && scanned.segments.length > 0) path += "/";
  }
  if (scanned.highEscape) checkUtf8(target, path);
  return { path, rawPath, query };
}

/** The path of a request target, read once: its segments with dot-segments removed. */
interface ScannedPath {
  /** Segments left after removing dot-segments and empty ones, escapes normalised. */
  segments: string[];
  /** The path ends in `/` (or a dot-segment, which leaves one). */
  trailingSlash: boolean;
  /** False while the path equals the raw path byte for byte. */
  changed: boolean;
  /** An escape of a byte above 0x7f was seen: the path must be checked as UTF-8. */
  highEscape: boolean;
  /** Index of the `?` that ends the path, or the target's length. */
  end: number;
}

/**
 * Reads the path of `target` (which starts with `/`) up to `?` or the end: refuses bytes no path
 * may hold, decodes unreserved escapes, uppercases the others, and removes dot-segments.
 */
function scanPath(target: string, allowEncodedSlash: boolean): ScannedPath {
  const n = target.length;
  const segments: string[] = [];
  let trailingSlash = false;
  let changed = false;
  let highEscape = false;
  let segStart = 1;
  // Decoded text of the current segment, or null while it equals target[segStart, i).
  let decoded: string | null = null;
  let end = n;
  for (let i = 1; i <= n; i++) {
    const c = i < n ? target.charCodeAt(i) : -1;
    if (c === SLASH || c === QUESTION || c === -1) {
      const last = c !== SLASH;
      const raw = target.slice(segStart, i);
      const segment = decoded ?? raw;
      if (segment !== raw) changed = true;
      decoded = null;
      if (segment === "" || segment === "." || segment === "..") {
        if (segment === "..") segments.pop();
        // A dot-segment or empty segment at the end leaves a trailing slash (RFC 3986 §5.2.4);
        // anywhere else it disappears, so the path changes.
        if (segment !== "" || !last) changed = true;
        trailingSlash = last;
      } else {
        checkDotParameters(target, segment);
        segments.push(segment);
      }
      if (last) {
        end = i;
        break;
      }
      segStart = i + 1;
    } else if (c < 0x21 || c > 0x7e) {
      throw reject(target, "non-ASCII or control character");
    } else if (c === HASH) {
      throw reject(target, "fragment ('#') in request target");
    } else if (c === BACKSLASH) {
      // Some servers (IIS, many Windows stacks) treat a backslash as '/'.
      throw reject(target, "backslash in path");
    } else if (c === PERCENT) {
      const byte = escapedByte(target, i, allowEncodedSlash);
      if (byte >= 0x80) highEscape = true;
      if (decoded === null) decoded = target.slice(segStart, i);
      decoded += byte < 0x80 && UNRESERVED[byte] === 1
        ? String.fromCharCode(byte)
        : "%" + HEX[byte >> 4] + HEX[byte & 0xf];
      i += 2;
    } else if (decoded !== null) {
      decoded += target[i];
    }
  }
  return { segments, trailingSlash, changed, highEscape, end };
}

/**
 * The byte the `%XX` escape at `i` encodes. Refused when malformed, `%00`, or (unless
 * `allowEncodedSlash`) an encoded slash or backslash.
 */
function escapedByte(target: string, i: number, allowEncodedSlash: boolean): number {
  // Out-of-range reads give NaN, which hexValue() rejects.
  const hi = hexValue(target.charCodeAt(i + 1));
  const lo = hexValue(target.charCodeAt(i + 2));
  if (hi < 0 || lo < 0) throw reject(target, "malformed percent-escape");
  const byte = hi * 16 + lo;
  if (byte === 0) throw reject(target, "encoded NUL ('%00')");
  if ((byte === SLASH || byte === BACKSLASH) && !allowEncodedSlash) {
    throw reject(target, "encoded slash or backslash");
  }
  return byte;
}

/**
 * The query is forwarded raw, but it is part of the same request line: control bytes, non-ASCII
 * and a fragment are refused there too.
 */
function checkQuery(target: string, end: number): void {
  for (let j = end + 1; j < target.length; j++) {
    const c = target.charCodeAt(j);
    if (c < 0x21 || c > 0x7e) throw reject(target, "non-ASCII or control character");
    if (c === HASH) throw reject(target, "fragment ('#') in request target");
  }
}

/**
 * Escaped bytes must form valid UTF-8: overlong forms such as `%C0%AE` ('.') and `%C0%AF` ('/')
 * are decoded to separators by some servers (the IIS "unicode" traversal). Only called when a
 * non-ASCII escape was seen; every escape is well-formed by then, so only UTF-8 can fail.
 */
function checkUtf8(target: string, path: string): void {
  try {
    decodeURIComponent(path);
  } catch {
    throw reject(target, "escaped bytes are not valid UTF-8");
  }
}

/**
 * Tomcat and Spring treat `..;x` as `..` (path parameters, RFC 3986 §3.3), so `/a/..;/admin`
 * would reach `/admin` while the rules saw `/a/..;/admin`; servers that decode before stripping
 * parameters do the same with `..%3B`. No legitimate client sends these.
 */
function checkDotParameters(target: string, segment: string): void {
  // Escapes are uppercase by now, so `..%3b` shows up as `..%3B`.
  if (
    segment.startsWith(".;") || segment.startsWith("..;") || segment.startsWith(".%3B") ||
    segment.startsWith("..%3B")
  ) {
    throw reject(target, "dot-segment with ';' parameters");
  }
}

/**
 * A {@linkcode PathRejected} for `target` with the reason `why`, the target shown safely.
 *
 * @example
 * ```ts
 * reject("/;/admin", "path parameters").message; // "Cannot forward path '/;/admin': path parameters"
 * ```
 */
export function reject(target: string, why: string): PathRejected {
  // The message goes back to the client and into logs: escape anything not visible ASCII.
  const clipped = target.length > 200 ? target.slice(0, 200) + "..." : target;
  const shown = clipped.replace(
    /[^\x21-\x7e]/g,
    (ch) => "\\u" + ch.charCodeAt(0).toString(16).padStart(4, "0"),
  );
  return new PathRejected(`Cannot forward path '${shown}': ${why}`);
}
