/**
 * DNS wire pieces the responder needs, written here rather than trusted to a general decoder:
 * the question comes from the agent, so reading its name must be bounded byte by byte (RFC 1035
 * §4.1.4 compression is the classic way to make a decoder loop or read out of bounds).
 *
 * @module
 */

/** A name's longest wire form: labels with their length bytes plus the root byte (RFC 1035 §2.3.4). */
export const MAX_NAME_WIRE = 255;
/** Pointer hops followed in one name; real names need a handful. */
const MAX_POINTER_HOPS = 32;

/** A name read off the wire: its labels (views into the packet) and where the name ended. */
export type ReadName =
  | { ok: true; labels: Uint8Array[]; end: number }
  | { ok: false; reason: string };

/**
 * Reads the name at `offset`. A compression pointer must point strictly before the run of labels
 * it ends (so every hop goes backwards and the walk terminates: no self or mutual pointers, no
 * forward ones) and not below `minPointer` (e.g. 12, not into the header). Bounded by the packet,
 * 255 wire bytes and {@linkcode MAX_POINTER_HOPS}; never throws.
 */
export function readName(buf: Uint8Array, offset: number, minPointer: number): ReadName {
  const labels: Uint8Array[] = [];
  let pos = offset;
  let runStart = offset;
  let end = -1;
  let wire = 0;
  let hops = 0;
  for (;;) {
    if (pos >= buf.length) return { ok: false, reason: "name runs past the end of the packet" };
    const len = buf[pos];
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= buf.length) return { ok: false, reason: "pointer runs past the end" };
      const target = ((len & 0x3f) << 8) | buf[pos + 1];
      if (end < 0) end = pos + 2;
      if (target >= runStart) {
        return { ok: false, reason: "compression pointer does not point back" };
      }
      if (target < minPointer) return { ok: false, reason: "compression pointer into the header" };
      if (++hops > MAX_POINTER_HOPS) return { ok: false, reason: "too many compression pointers" };
      pos = runStart = target;
      continue;
    }
    // 0x40 and 0x80 prefixes are extended/obsolete label types (RFC 6891 §5): a length over 63.
    if ((len & 0xc0) !== 0) return { ok: false, reason: "label longer than 63 bytes" };
    wire += len + 1;
    if (wire > MAX_NAME_WIRE) return { ok: false, reason: "name longer than 255 bytes" };
    if (len === 0) return { ok: true, labels, end: end < 0 ? pos + 1 : end };
    if (pos + 1 + len > buf.length) return { ok: false, reason: "label runs past the end" };
    labels.push(buf.subarray(pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
}

/**
 * Lower-case presentation form (RFC 1035 §5.1): `.`, `\` and bytes outside printable ASCII are
 * escaped, so a label containing a dot can never read as two labels of a claimed name, and the
 * text is safe in a log line. The root name is `.`.
 */
export function presentName(labels: readonly Uint8Array[]): string {
  if (labels.length === 0) return ".";
  return labels.map(presentLabel).join(".");
}

function presentLabel(label: Uint8Array): string {
  let out = "";
  for (const b of label) {
    if (b >= 0x41 && b <= 0x5a) out += String.fromCharCode(b + 0x20);
    else if (b === 0x2e || b === 0x5c) out += "\\" + String.fromCharCode(b);
    else if (b > 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += "\\" + String(b).padStart(3, "0");
  }
  return out;
}

/** Whether a presented name is a plain host name (letters, digits, `-`, `_`), fit to resolve. */
export function isHostName(name: string): boolean {
  return name.length <= 253 &&
    /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/
      .test(name);
}

/** IPv4 text to its 4 bytes, or null. */
export function ipv4Bytes(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p))) return null;
  const bytes = parts.map(Number);
  return bytes.every((b) => b <= 255) ? new Uint8Array(bytes) : null;
}

/** IPv6 text (with `::`, optionally ending in dotted IPv4) to its 16 bytes, or null. */
export function ipv6Bytes(text: string): Uint8Array | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (half: string) => (half === "" ? [] : half.split(":"));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const words: number[] = [];
  for (const [i, g] of [...head, ...tail].entries()) {
    // Dotted IPv4 only as the very last groups, never just before a trailing `::`.
    const last = i === head.length + tail.length - 1 && (halves.length === 1 || tail.length > 0);
    const v4 = last && g.includes(".") ? ipv4Bytes(g) : null;
    if (v4) words.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
    else if (/^[0-9a-fA-F]{1,4}$/.test(g)) words.push(parseInt(g, 16));
    else return null;
  }
  const headWords = words.length - (tail.length === 0 ? 0 : wordsIn(tail));
  const missing = 8 - words.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [
    ...words.slice(0, headWords),
    ...new Array(missing).fill(0),
    ...words.slice(headWords),
  ];
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** Words a `::` tail takes: a trailing dotted IPv4 counts two. */
function wordsIn(tail: readonly string[]): number {
  return tail.length + (tail[tail.length - 1].includes(".") ? 1 : 0);
}
