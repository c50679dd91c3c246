/**
 * IP address text to its bytes, as DNS answers and certificates' iPAddress names carry them. Only
 * the plain textual forms: no zone (`%eth0`), no brackets, no shortened IPv4 (`127.1`).
 *
 * @module
 */

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
