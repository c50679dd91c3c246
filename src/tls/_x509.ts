// Helpers shared by the CA and leaf generators. Private to src/tls.

/** Key generation parameters: ECDSA on P-256, what every TLS client accepts. */
export const EC_KEY_ALGORITHM: EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };

/** Certificate signature algorithm: ecdsa-with-SHA256. */
export const SIGNING_ALGORITHM: EcdsaParams = { name: "ECDSA", hash: "SHA-256" };

const DAY_MS = 24 * 60 * 60 * 1000;

/** Backdating for notBefore, so a client whose clock runs a little slow still accepts the cert. */
export const BACKDATE_MS = 60 * 60 * 1000;

/** Returns `days` after `from`. */
export function addDays(from: Date, days: number): Date {
  return new Date(from.getTime() + days * DAY_MS);
}

/** Now, truncated to whole seconds (X.509 times carry no fractions). */
export function nowSeconds(): Date {
  return new Date(Math.floor(Date.now() / 1000) * 1000);
}

/**
 * A random 128-bit serial number. RFC 5280 §4.1.2.2 wants a positive integer of at most 20
 * octets; the first octet is kept in 0x40..0x7f so the DER INTEGER is positive and minimal.
 */
export function randomSerial(): Uint8Array {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] & 0x3f) | 0x40;
  return bytes;
}

/** Lowercase hex of bytes. */
export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  return Array.from(view, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** SHA-256 of the certificate's DER encoding, lowercase hex. */
export async function certificateFingerprint(der: Uint8Array<ArrayBuffer>): Promise<string> {
  return toHex(await crypto.subtle.digest("SHA-256", der));
}

/**
 * PEM text (RFC 7468: base64 in lines of 64, and a trailing newline) for DER bytes under `label`
 * (`CERTIFICATE`, `PRIVATE KEY`).
 */
export function encodePem(der: Uint8Array, label: string): string {
  const base64 = der.toBase64();
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += 64) lines.push(base64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([^-]*)-----END ([A-Z0-9 ]+)-----/g;

/**
 * DER of the one PEM block in `text`, when it is labelled `label`; null when there is none, more
 * than one, or it is not plain base64 (an encrypted key's `Proc-Type:` headers, say). Text around
 * the block (openssl's `Bag Attributes`, comments) is allowed.
 */
export function decodePem(text: string, label: string): Uint8Array<ArrayBuffer> | null {
  const blocks = [...text.matchAll(PEM_BLOCK)];
  if (blocks.length !== 1 || text.split("-----BEGIN ").length !== 2) return null;
  const [, begin, body, end] = blocks[0];
  if (begin !== label || end !== label) return null;
  const base64 = body.replace(/[ \t\r\n]+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 !== 0) return null;
  try {
    return Uint8Array.fromBase64(base64);
  } catch {
    return null;
  }
}
