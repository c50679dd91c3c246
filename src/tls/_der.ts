/**
 * The DER (X.690) the gateway's certificates need, written and read by hand: a few universal
 * types, context tags and a bounds-checked reader. It replaced `@peculiar/x509`, whose import
 * alone (with `asn1js`, `pvtsutils`, `tsyringe` and `reflect-metadata`) cost a started gateway
 * ~15 MB of RSS for the three certificate shapes below.
 *
 * @module
 */

/** Universal tags used here. */
export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
} as const;

/** One element: its tag byte and content. */
export function tlv(tag: number, ...content: Uint8Array[]): Uint8Array<ArrayBuffer> {
  let length = 0;
  for (const part of content) length += part.length;
  const head = lengthOctets(length);
  const out = new Uint8Array(1 + head.length + length);
  out[0] = tag;
  out.set(head, 1);
  let at = 1 + head.length;
  for (const part of content) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function lengthOctets(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

export const sequence = (...parts: Uint8Array[]): Uint8Array<ArrayBuffer> =>
  tlv(TAG.sequence, ...parts);

/** A constructed context tag `[n]`: EXPLICIT tagging, or IMPLICIT of a constructed type. */
export const explicit = (n: number, ...parts: Uint8Array[]): Uint8Array => tlv(0xa0 | n, ...parts);

/** A primitive context tag `[n]`: IMPLICIT tagging of a primitive type. */
export const implicit = (n: number, content: Uint8Array): Uint8Array => tlv(0x80 | n, content);

/**
 * An INTEGER from unsigned big-endian magnitude bytes: leading zeros dropped, one zero added
 * back when the top bit is set, so the encoding is minimal and the value stays positive.
 */
export function unsignedInteger(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const bytes = magnitude.subarray(start);
  return (bytes[0] & 0x80) !== 0
    ? tlv(TAG.integer, Uint8Array.of(0), bytes)
    : tlv(TAG.integer, bytes);
}

export const smallInteger = (n: number): Uint8Array => {
  if (!Number.isInteger(n) || n < 0 || n > 127) throw new RangeError(`DER small integer ${n}`);
  return tlv(TAG.integer, Uint8Array.of(n));
};

export const boolean = (value: boolean): Uint8Array =>
  tlv(TAG.boolean, Uint8Array.of(value ? 0xff : 0));

export const octetString = (bytes: Uint8Array): Uint8Array => tlv(TAG.octetString, bytes);

/** A BIT STRING: `bytes`, of which the last `unusedBits` bits are not part of the value. */
export const bitString = (bytes: Uint8Array, unusedBits = 0): Uint8Array =>
  tlv(TAG.bitString, Uint8Array.of(unusedBits), bytes);

export const utf8String = (text: string): Uint8Array =>
  tlv(TAG.utf8String, new TextEncoder().encode(text));

/** The content octets of an IA5String (ASCII), for a tag of the caller's: `[2]` dNSName. */
export function ia5Content(text: string): Uint8Array {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0x7f) throw new RangeError("IA5String takes ASCII only");
  }
  return new TextEncoder().encode(text);
}

/** An OBJECT IDENTIFIER from its dotted form. */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map(Number);
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0)) {
    throw new RangeError(`not an OID: '${dotted}'`);
  }
  const bytes: number[] = [];
  for (const arc of [arcs[0] * 40 + arcs[1], ...arcs.slice(2)]) {
    const base128: number[] = [arc & 0x7f];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) {
      base128.unshift(0x80 | (n & 0x7f));
    }
    bytes.push(...base128);
  }
  return tlv(TAG.oid, Uint8Array.from(bytes));
}

/**
 * A certificate time: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5), both
 * in whole seconds of UTC.
 */
export function time(at: Date): Uint8Array {
  const iso = at.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const year = at.getUTCFullYear();
  if (year < 1950 || year > 9999) throw new RangeError(`certificate time out of range: ${iso}`);
  const digits = iso.slice(0, 19).replace(/[-:T]/g, "") + "Z";
  return year < 2050
    ? tlv(TAG.utcTime, new TextEncoder().encode(digits.slice(2)))
    : tlv(TAG.generalizedTime, new TextEncoder().encode(digits));
}

/** A DER element read from a buffer: where its content lies, and its whole encoding. */
export interface Element {
  tag: number;
  content: Uint8Array;
  /** Tag, length and content: the bytes to copy when the element is reused as it is. */
  encoded: Uint8Array;
}

/**
 * Reads elements one after another from `bytes`. Every length is checked against what is left,
 * so malformed input throws a `SyntaxError` and never reads outside `bytes`. Only definite,
 * minimally encoded lengths are accepted, as DER requires.
 */
export class DerReader {
  #bytes: Uint8Array;
  #at = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  get done(): boolean {
    return this.#at >= this.#bytes.length;
  }

  /** The next element's tag, without reading it; -1 at the end. */
  peekTag(): number {
    return this.done ? -1 : this.#bytes[this.#at];
  }

  /** The next element, which must have `tag` when given. */
  read(tag?: number): Element {
    const bytes = this.#bytes;
    const start = this.#at;
    if (start + 2 > bytes.length) throw malformed("element cut short");
    const found = bytes[start];
    if ((found & 0x1f) === 0x1f) throw malformed("multi-byte tags are not used here");
    if (tag !== undefined && found !== tag) {
      throw malformed(`expected tag 0x${hex(tag)}, found 0x${hex(found)}`);
    }
    let length = bytes[start + 1];
    let at = start + 2;
    if (length & 0x80) {
      const octets = length & 0x7f;
      if (octets === 0 || octets > 4) throw malformed("indefinite or oversized length");
      if (at + octets > bytes.length) throw malformed("length cut short");
      length = 0;
      for (let i = 0; i < octets; i++) length = length * 256 + bytes[at + i];
      if (length < 0x80 || bytes[at] === 0) throw malformed("length not minimally encoded");
      at += octets;
    }
    if (at + length > bytes.length) throw malformed("content cut short");
    this.#at = at + length;
    return {
      tag: found,
      content: bytes.subarray(at, at + length),
      encoded: bytes.subarray(start, at + length),
    };
  }

  /** The next element when it has `tag`; otherwise nothing is read. */
  optional(tag: number): Element | null {
    return this.peekTag() === tag ? this.read(tag) : null;
  }

  /** Throws unless every byte was read. */
  end(): void {
    if (!this.done) throw malformed("trailing bytes");
  }
}

/** The dotted form of an OBJECT IDENTIFIER's content. */
export function readOid(content: Uint8Array): string {
  if (content.length === 0) throw malformed("empty OID");
  const arcs: number[] = [];
  let value = 0;
  for (let i = 0; i < content.length; i++) {
    if (value === 0 && content[i] === 0x80) throw malformed("OID arc not minimal");
    value = value * 128 + (content[i] & 0x7f);
    if (!Number.isSafeInteger(value)) throw malformed("OID arc too large");
    if ((content[i] & 0x80) === 0) {
      arcs.push(value);
      value = 0;
    } else if (i === content.length - 1) {
      throw malformed("OID cut short");
    }
  }
  const first = arcs[0] < 80 ? Math.floor(arcs[0] / 40) : 2;
  return [first, arcs[0] - first * 40, ...arcs.slice(1)].join(".");
}

/** A UTCTime or GeneralizedTime element as a Date (UTC, whole seconds, `Z` form only). */
export function readTime(element: Element): Date {
  const text = new TextDecoder().decode(element.content);
  const match = element.tag === TAG.utcTime
    ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
    : element.tag === TAG.generalizedTime
    ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
    : null;
  if (!match) throw malformed("not a certificate time");
  const [y, mo, d, h, mi, s] = match.slice(1).map(Number);
  const year = element.tag === TAG.utcTime ? (y < 50 ? 2000 + y : 1900 + y) : y;
  const date = new Date(Date.UTC(year, mo - 1, d, h, mi, s));
  const exact = date.getUTCFullYear() === year && date.getUTCMonth() === mo - 1 &&
    date.getUTCDate() === d && date.getUTCHours() === h && date.getUTCMinutes() === mi &&
    date.getUTCSeconds() === s;
  if (!exact) {
    throw malformed("not a calendar time");
  }
  return date;
}

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}

function malformed(why: string): SyntaxError {
  return new SyntaxError(`malformed DER: ${why}`);
}
