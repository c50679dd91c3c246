/**
 * The vault's cryptography (WebCrypto only): the key-encryption key from a key or a passphrase,
 * the wrapped root key, the keys derived from it, and sealing of secret values.
 *
 * Layout: KEK --AES-256-GCM--> root (32 random bytes) --HKDF-SHA256--> data key ("seal") and
 * fingerprint key ("fingerprint"). Rotating the KEK re-wraps the root only, so sealed rows never
 * change and a running gateway keeps its derived keys.
 *
 * @module
 */

/** PBKDF2-SHA256 iterations for new passphrase vaults (OWASP 2023 guidance). */
export const PBKDF2_ITERATIONS = 600_000;

/** Name of the passphrase KDF as stored in the vault's metadata. */
export const PBKDF2_ALGORITHM = "PBKDF2-SHA256";

/** Salt length for the passphrase KDF, in bytes. */
export const SALT_BYTES = 16;

/** AES-GCM nonce length: 96 bits, the size GCM is specified for (NIST SP 800-38D §8.2). */
export const NONCE_BYTES = 12;

/** Length of a wrapped root: nonce, 32 bytes of ciphertext, 16-byte tag. */
export const WRAPPED_ROOT_BYTES = NONCE_BYTES + 32 + 16;

const ROOT_BYTES = 32;
const ROOT_AAD = new TextEncoder().encode("clawpatrol vault root v1");
const SEAL_AAD_PREFIX = "clawpatrol vault v1\0";

/** PBKDF2 parameters of a passphrase vault, as stored in its metadata. */
export interface KdfParams {
  iterations: number;
  salt: Uint8Array<ArrayBuffer>;
}

/** The keys derived from the root: neither is extractable. */
export interface DataKeys {
  /** AES-256-GCM key sealing secret values. */
  seal: CryptoKey;
  /** HMAC-SHA256 key for fingerprints of values. */
  fingerprint: CryptoKey;
}

/** One sealed value. */
export interface Sealed {
  nonce: Uint8Array<ArrayBuffer>;
  ciphertext: Uint8Array<ArrayBuffer>;
}

const encoder = new TextEncoder();

function copy(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}

/** Imports a raw 32-byte key as a non-extractable AES-256-GCM KEK. */
export function kekFromKey(key: Uint8Array): Promise<CryptoKey> {
  if (key.length !== 32) throw new RangeError(`A vault key is 32 bytes, not ${key.length}`);
  return crypto.subtle.importKey("raw", copy(key), "AES-GCM", false, ["encrypt", "decrypt"]);
}

/** New random PBKDF2 parameters for a passphrase vault. */
export function newKdfParams(): KdfParams {
  return {
    iterations: PBKDF2_ITERATIONS,
    salt: crypto.getRandomValues(new Uint8Array(SALT_BYTES)),
  };
}

/** Stretches a passphrase (NFC-normalised, so the same text typed anywhere matches) to a KEK. */
export async function kekFromPassphrase(passphrase: string, params: KdfParams): Promise<CryptoKey> {
  const material = await crypto.subtle.importKey(
    "raw",
    encoder.encode(passphrase.normalize("NFC")),
    "PBKDF2",
    false,
    ["deriveKey"],
  );
  return crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt: params.salt, iterations: params.iterations },
    material,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

/** A new random root key. The caller zeroes it once wrapped and derived from. */
export function newRoot(): Uint8Array<ArrayBuffer> {
  return crypto.getRandomValues(new Uint8Array(ROOT_BYTES));
}

/** Encrypts the root under the KEK: nonce ‖ ciphertext ‖ tag. */
export async function wrapRoot(kek: CryptoKey, root: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  const ciphertext = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce, additionalData: ROOT_AAD },
      kek,
      copy(root),
    ),
  );
  const wrapped = new Uint8Array(NONCE_BYTES + ciphertext.length);
  wrapped.set(nonce);
  wrapped.set(ciphertext, NONCE_BYTES);
  return wrapped;
}

/** Decrypts a wrapped root; `null` when the KEK does not match (or the blob was altered). */
export async function unwrapRoot(
  kek: CryptoKey,
  wrapped: Uint8Array,
): Promise<Uint8Array<ArrayBuffer> | null> {
  if (wrapped.length !== WRAPPED_ROOT_BYTES) return null;
  try {
    const root = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: copy(wrapped.subarray(0, NONCE_BYTES)), additionalData: ROOT_AAD },
      kek,
      copy(wrapped.subarray(NONCE_BYTES)),
    );
    return new Uint8Array(root);
  } catch {
    return null;
  }
}

/** Derives the data and fingerprint keys from the root with HKDF-SHA256. */
export async function deriveDataKeys(root: Uint8Array): Promise<DataKeys> {
  const base = await crypto.subtle.importKey("raw", copy(root), "HKDF", false, ["deriveKey"]);
  const hkdf = (info: string) => ({
    name: "HKDF",
    hash: "SHA-256",
    salt: new Uint8Array(0),
    info: encoder.encode(info),
  });
  const [seal, fingerprint] = await Promise.all([
    crypto.subtle.deriveKey(hkdf("seal"), base, { name: "AES-GCM", length: 256 }, false, [
      "encrypt",
      "decrypt",
    ]),
    crypto.subtle.deriveKey(
      hkdf("fingerprint"),
      base,
      { name: "HMAC", hash: "SHA-256", length: 256 },
      false,
      ["sign"],
    ),
  ]);
  return { seal, fingerprint };
}

/**
 * The additional data a value is sealed with: binds the ciphertext to its name and slot, so a row
 * copied or moved to another credential fails authentication. Names and slots never hold NUL,
 * so the encoding is unambiguous.
 */
function sealAad(name: string, slot: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(`${SEAL_AAD_PREFIX}${name}\0${slot}`);
}

/** Seals `value` for `name`/`slot` with a fresh random nonce. */
export async function seal(
  key: CryptoKey,
  name: string,
  slot: string,
  value: string,
): Promise<Sealed> {
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  const plaintext = encoder.encode(value);
  try {
    const ciphertext = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce, additionalData: sealAad(name, slot) },
      key,
      plaintext,
    );
    return { nonce, ciphertext: new Uint8Array(ciphertext) };
  } finally {
    plaintext.fill(0);
  }
}

/** Opens a sealed value; `null` when it fails authentication (tampered, moved, other key). */
export async function unseal(
  key: CryptoKey,
  name: string,
  slot: string,
  sealed: Sealed,
): Promise<string | null> {
  if (sealed.nonce.length !== NONCE_BYTES) return null;
  let plaintext: Uint8Array;
  try {
    plaintext = new Uint8Array(
      await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: sealed.nonce, additionalData: sealAad(name, slot) },
        key,
        sealed.ciphertext,
      ),
    );
  } catch {
    return null;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(plaintext);
  } catch {
    return null;
  } finally {
    plaintext.fill(0);
  }
}

/** First 12 hex digits of HMAC-SHA256(fingerprint key, value): keyed, so not a guessing oracle. */
export async function fingerprintOf(key: CryptoKey, value: string): Promise<string> {
  const plaintext = encoder.encode(value);
  try {
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, plaintext));
    return Array.from(mac.subarray(0, 6), (b) => b.toString(16).padStart(2, "0")).join("");
  } finally {
    plaintext.fill(0);
  }
}
