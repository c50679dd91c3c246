/**
 * X.509 v3 certificates (RFC 5280) as the gateway makes and reads them: ECDSA P-256 keys signed
 * with ecdsa-with-SHA256 through WebCrypto, and the handful of extensions a CA and a TLS server
 * leaf carry. Reading covers what loading a CA needs: names, validity, the CA flags and keys.
 *
 * @module
 */

import { isIP } from "node:net";
import {
  bitString,
  boolean,
  DerReader,
  type Element,
  explicit,
  ia5Content,
  implicit,
  octetString,
  oid,
  readOid,
  readTime,
  sequence,
  smallInteger,
  TAG,
  time,
  tlv,
  unsignedInteger,
  utf8String,
} from "./_der.ts";
import { SIGNING_ALGORITHM, toHex } from "./_x509.ts";

const OID = {
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  commonName: "2.5.4.3",
  organization: "2.5.4.10",
  subjectKeyId: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  authorityKeyId: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
} as const;

/** keyUsage bits (RFC 5280 §4.2.1.3), numbered from the BIT STRING's first bit. */
export const KEY_USAGE = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const;

/** A subjectAltName entry. */
export interface AltName {
  type: "dns" | "ip";
  value: string;
}

/** One extension of a certificate being made: its OID, criticality and DER value. */
interface Extension {
  id: string;
  critical: boolean;
  value: Uint8Array;
}

/** What a certificate says, for {@linkcode signCertificate}. */
export interface CertificateFields {
  /** The serial's magnitude, big-endian (made positive and minimal when encoded). */
  serial: Uint8Array;
  /** The issuer Name, DER: the CA's subject exactly as its certificate encodes it. */
  issuer: Uint8Array;
  subject: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  /** The subject's key, SubjectPublicKeyInfo DER (WebCrypto's `spki` export). */
  publicKey: Uint8Array;
  extensions: Extension[];
}

/** A Name of one attribute per RDN, as UTF8String: `[["2.5.4.3", "x"]]` is `CN=x`. */
export function name(attributes: readonly [string, string][]): Uint8Array {
  return sequence(
    ...attributes.map(([type, value]) => tlv(TAG.set, sequence(oid(type), utf8String(value)))),
  );
}

/** `CN=commonName`, and `O=organization` after it when given. */
export function commonNameOf(commonName: string, organization?: string): Uint8Array {
  return name([
    [OID.commonName, commonName],
    ...(organization === undefined ? [] : [[OID.organization, organization] as [string, string]]),
  ]);
}

export function basicConstraints(ca: boolean): Extension {
  // cA defaults to FALSE, so a leaf's is left out (DER omits defaults); a CA's path length is 0:
  // it signs leaves only.
  const value = ca ? sequence(boolean(true), smallInteger(0)) : sequence();
  return { id: OID.basicConstraints, critical: true, value };
}

export function keyUsage(bits: readonly number[]): Extension {
  const highest = Math.max(...bits);
  const bytes = new Uint8Array(Math.floor(highest / 8) + 1);
  for (const bit of bits) bytes[bit >> 3] |= 0x80 >> (bit & 7);
  // DER drops the trailing zero bits after the last one set, and says how many it dropped.
  const unused = 7 - (highest & 7);
  return { id: OID.keyUsage, critical: true, value: bitString(bytes, unused) };
}

export function serverAuthOnly(): Extension {
  return { id: OID.extKeyUsage, critical: false, value: sequence(oid(OID.serverAuth)) };
}

export function subjectAltName(names: readonly AltName[]): Extension {
  const entries = names.map((n) =>
    n.type === "dns" ? implicit(2, ia5Content(n.value)) : implicit(7, ipBytes(n.value))
  );
  return { id: OID.subjectAltName, critical: false, value: sequence(...entries) };
}

export function subjectKeyId(keyId: Uint8Array): Extension {
  return { id: OID.subjectKeyId, critical: false, value: octetString(keyId) };
}

export function authorityKeyId(keyId: Uint8Array): Extension {
  return { id: OID.authorityKeyId, critical: false, value: sequence(implicit(0, keyId)) };
}

/**
 * The key identifier RFC 5280 §4.2.1.2 method 1 derives: SHA-1 of the subjectPublicKey bits (the
 * uncompressed point), as most CAs compute it.
 */
export async function keyIdOf(spki: Uint8Array): Promise<Uint8Array> {
  const point = readPublicKeyBits(spki);
  return new Uint8Array(await crypto.subtle.digest("SHA-1", point.slice()));
}

/** The certificate `fields` describe, signed by `signingKey` (ECDSA P-256): its DER. */
export async function signCertificate(
  fields: CertificateFields,
  signingKey: CryptoKey,
): Promise<Uint8Array<ArrayBuffer>> {
  const algorithm = sequence(oid(OID.ecdsaWithSha256));
  const tbs = sequence(
    explicit(0, smallInteger(2)), // v3
    unsignedInteger(fields.serial),
    algorithm,
    fields.issuer,
    sequence(time(fields.notBefore), time(fields.notAfter)),
    fields.subject,
    fields.publicKey,
    explicit(
      3,
      sequence(
        ...fields.extensions.map((e) =>
          sequence(oid(e.id), ...(e.critical ? [boolean(true)] : []), octetString(e.value))
        ),
      ),
    ),
  );
  const p1363 = new Uint8Array(
    await crypto.subtle.sign(SIGNING_ALGORITHM, signingKey, tbs),
  );
  return sequence(tbs, algorithm, bitString(ecdsaSignatureDer(p1363)));
}

/** WebCrypto's `r ‖ s` as the `ECDSA-Sig-Value` SEQUENCE certificates carry. */
function ecdsaSignatureDer(p1363: Uint8Array): Uint8Array {
  const half = p1363.length / 2;
  return sequence(
    unsignedInteger(p1363.subarray(0, half)),
    unsignedInteger(p1363.subarray(half)),
  );
}

function ipBytes(address: string): Uint8Array {
  const family = isIP(address);
  if (family === 4) return Uint8Array.from(address.split(".").map(Number));
  if (family !== 6) throw new TypeError(`not an IP address: '${address}'`);
  return ipv6Bytes(address);
}

/** The 16 bytes of an IPv6 address (`isIP` already said it is one) in any textual form. */
function ipv6Bytes(address: string): Uint8Array {
  // A zone (`fe80::1%eth0`) names an interface of this host, which no certificate can carry.
  if (address.includes("%")) throw new TypeError(`not a global IPv6 address: '${address}'`);
  let text = address;
  let tail: number[] = [];
  const embedded = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (embedded) {
    const [a, b, c, d] = ipBytes(embedded[2]);
    tail = [(a << 8) | b, (c << 8) | d];
    text = embedded[1].endsWith("::") ? embedded[1] : embedded[1].slice(0, -1);
  }
  const groups = (s: string) => s === "" ? [] : s.split(":").map((g) => parseInt(g, 16));
  const halves = text.split("::");
  const front = groups(halves[0]);
  const back = halves.length === 2 ? groups(halves[1]) : [];
  const gap = halves.length === 2 ? 8 - tail.length - front.length - back.length : 0;
  const words = [...front, ...new Array<number>(Math.max(gap, 0)).fill(0), ...back, ...tail];
  if (halves.length > 2 || words.length !== 8 || words.some((w) => !(w >= 0 && w <= 0xffff))) {
    throw new TypeError(`not an IPv6 address: '${address}'`);
  }
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** What the gateway reads from a certificate it loads. */
export interface ParsedCertificate {
  der: Uint8Array;
  /** The serial as lowercase hex of its DER content. */
  serialNumber: string;
  /** The subject Name, DER, exactly as encoded: a leaf's issuer. */
  subject: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  /** SubjectPublicKeyInfo, DER. */
  publicKey: Uint8Array;
  /** basicConstraints cA. */
  isCa: boolean;
  /** The keyUsage bits set, or null when the certificate has no keyUsage. */
  keyUsage: Set<number> | null;
  subjectKeyId: Uint8Array | null;
}

/** Reads a certificate's DER; throws `SyntaxError` when it is not one. */
export function parseCertificate(der: Uint8Array): ParsedCertificate {
  const outer = new DerReader(der);
  const certificate = new DerReader(outer.read(TAG.sequence).content);
  outer.end();
  const tbs = new DerReader(certificate.read(TAG.sequence).content);
  certificate.read(TAG.sequence); // signatureAlgorithm
  certificate.read(TAG.bitString);
  certificate.end();

  const version = tbs.optional(0xa0);
  if (version) {
    const v = new DerReader(version.content).read(TAG.integer).content;
    if (v.length !== 1 || v[0] > 2) throw new SyntaxError("unknown certificate version");
  }
  const serial = tbs.read(TAG.integer).content;
  tbs.read(TAG.sequence); // signature
  tbs.read(TAG.sequence); // issuer
  const validity = new DerReader(tbs.read(TAG.sequence).content);
  const notBefore = readTime(validity.read());
  const notAfter = readTime(validity.read());
  validity.end();
  const subject = tbs.read(TAG.sequence).encoded;
  const publicKey = tbs.read(TAG.sequence).encoded;
  tbs.optional(0x81); // issuerUniqueID
  tbs.optional(0x82); // subjectUniqueID
  const extensions = tbs.optional(0xa3);
  tbs.end();

  const parsed: ParsedCertificate = {
    der,
    serialNumber: toHex(serial),
    subject,
    notBefore,
    notAfter,
    publicKey,
    isCa: false,
    keyUsage: null,
    subjectKeyId: null,
  };
  if (extensions) readExtensions(new DerReader(extensions.content).read(TAG.sequence), parsed);
  return parsed;
}

function readExtensions(list: Element, into: ParsedCertificate): void {
  const seen = new Set<string>();
  const reader = new DerReader(list.content);
  while (!reader.done) {
    const extension = new DerReader(reader.read(TAG.sequence).content);
    const id = readOid(extension.read(TAG.oid).content);
    extension.optional(TAG.boolean);
    const value = extension.read(TAG.octetString).content;
    extension.end();
    // RFC 5280 §4.2: a certificate must not carry an extension twice.
    if (seen.has(id)) throw new SyntaxError(`extension ${id} appears twice`);
    seen.add(id);
    if (id === OID.basicConstraints) into.isCa = readBasicConstraints(value);
    else if (id === OID.keyUsage) into.keyUsage = readKeyUsage(value);
    else if (id === OID.subjectKeyId) into.subjectKeyId = readOctets(value);
  }
}

function readBasicConstraints(value: Uint8Array): boolean {
  const outer = new DerReader(value);
  const body = new DerReader(outer.read(TAG.sequence).content);
  outer.end();
  const ca = body.optional(TAG.boolean);
  return ca !== null && ca.content.length === 1 && ca.content[0] !== 0;
}

function readKeyUsage(value: Uint8Array): Set<number> {
  const outer = new DerReader(value);
  const bits = outer.read(TAG.bitString).content;
  outer.end();
  if (bits.length === 0 || bits[0] > 7) throw new SyntaxError("malformed keyUsage");
  const set = new Set<number>();
  for (let i = 1; i < bits.length; i++) {
    for (let b = 0; b < 8; b++) if (bits[i] & (0x80 >> b)) set.add((i - 1) * 8 + b);
  }
  return set;
}

function readOctets(value: Uint8Array): Uint8Array {
  const outer = new DerReader(value);
  const octets = outer.read(TAG.octetString).content;
  outer.end();
  return octets;
}

/** The subjectPublicKey bits of a SubjectPublicKeyInfo (for EC keys, the encoded point). */
function readPublicKeyBits(spki: Uint8Array): Uint8Array {
  const outer = new DerReader(spki);
  const info = new DerReader(outer.read(TAG.sequence).content);
  info.read(TAG.sequence);
  const bits = info.read(TAG.bitString).content;
  if (bits.length < 2 || bits[0] !== 0) throw new SyntaxError("malformed subjectPublicKey");
  return bits.subarray(1);
}
