// Helpers shared by the CA and leaf generators. Private to src/tls.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

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
 * A random 128-bit serial number as hex. RFC 5280 §4.1.2.2 wants a positive integer of at most
 * 20 octets; the first octet is kept in 0x40..0x7f so the DER INTEGER is positive and minimal.
 */
export function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] & 0x3f) | 0x40;
  return toHex(bytes);
}

/** Lowercase hex of bytes. */
export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  return Array.from(view, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** SHA-256 of the certificate's DER encoding, lowercase hex. */
export async function certificateFingerprint(cert: x509.X509Certificate): Promise<string> {
  return toHex(await crypto.subtle.digest("SHA-256", cert.rawData));
}

/** PEM text (with a trailing newline) for DER bytes under `label` (`CERTIFICATE`, `PRIVATE KEY`). */
export function encodePem(der: ArrayBuffer, label: string): string {
  return `${x509.PemConverter.encode(der, label).trim()}\n`;
}
