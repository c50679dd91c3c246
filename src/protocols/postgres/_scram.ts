// The gateway's side of PostgreSQL password authentication: a SCRAM-SHA-256 client (RFC 5802,
// RFC 7677) on WebCrypto, and the legacy md5 response. Pure: no sockets, no state beyond one
// exchange.
import { createHash } from "node:crypto";

/** A SCRAM exchange failed: malformed server message, wrong nonce, or a server that cannot prove it knows the password. */
export class ScramError extends Error {
  override name = "ScramError";
}

const encoder = new TextEncoder();
// PostgreSQL's default is 4096; far above 10M a malicious server just burns our CPU.
const MAX_ITERATIONS = 10_000_000;

/**
 * One SCRAM-SHA-256 exchange without channel binding (gs2 header `n,,`). PostgreSQL takes the user
 * from the startup message and ignores the SCRAM username, so `n=` is sent empty, as libpq does.
 *
 * @example
 * ```ts
 * const scram = new ScramClient(password);
 * send(scram.clientFirst());                              // SASLInitialResponse
 * send(await scram.clientFinal(serverFirstFromContinue)); // SASLResponse
 * await scram.verifyServerFinal(serverFinalFromFinal);    // throws unless the server knew the verifier
 * ```
 */
export class ScramClient {
  #password: Uint8Array | null;
  readonly #nonce: string;
  readonly #user: string;
  #clientFirstBare: string | null = null;
  #expectedServerSignature: Uint8Array | null = null;

  /**
   * `nonce` and `user` are for tests (RFC vectors carry a username); the nonce defaults to 18
   * random bytes, base64 (never a comma), the user to empty.
   */
  constructor(password: string, nonce?: string, user = "") {
    this.#user = user.replaceAll("=", "=3D").replaceAll(",", "=2C");
    this.#password = encoder.encode(saslPrep(password));
    this.#nonce = nonce ?? base64(crypto.getRandomValues(new Uint8Array(18)));
    if (!/^[\x21-\x2b\x2d-\x7e]+$/.test(this.#nonce)) {
      throw new TypeError("Cannot start SCRAM: the nonce must be printable ASCII without ','");
    }
  }

  /** The client-first-message, for SASLInitialResponse. */
  clientFirst(): string {
    this.#clientFirstBare = `n=${this.#user},r=${this.#nonce}`;
    return `n,,${this.#clientFirstBare}`;
  }

  /** The client-final-message (with proof) answering the server-first-message. */
  async clientFinal(serverFirst: string): Promise<string> {
    const password = this.#password;
    if (this.#clientFirstBare === null || password === null) {
      throw new ScramError("SCRAM exchange out of order: clientFinal() before clientFirst()");
    }
    this.#password = null;
    try {
      const attrs = parseAttributes(serverFirst, "server-first-message");
      const nonce = attrs.get("r");
      const salt = attrs.get("s");
      const iterationText = attrs.get("i");
      if (attrs.has("m")) throw new ScramError("SCRAM server requires an unsupported extension");
      if (nonce === undefined || salt === undefined || iterationText === undefined) {
        throw new ScramError("Malformed SCRAM server-first-message: r, s or i missing");
      }
      // RFC 5802 §5.1: the server's nonce extends ours; anything else is a replayed or spliced exchange.
      if (!nonce.startsWith(this.#nonce) || nonce.length === this.#nonce.length) {
        throw new ScramError("SCRAM server nonce does not extend the client nonce");
      }
      if (!/^[\x21-\x2b\x2d-\x7e]+$/.test(nonce)) {
        throw new ScramError("Malformed SCRAM server nonce");
      }
      const iterations = /^[1-9][0-9]{0,9}$/.test(iterationText) ? Number(iterationText) : NaN;
      if (!(iterations >= 1 && iterations <= MAX_ITERATIONS)) {
        throw new ScramError(`SCRAM iteration count out of range: '${iterationText.slice(0, 12)}'`);
      }
      const saltBytes = unbase64(salt, "salt");

      const salted = await pbkdf2(password, saltBytes, iterations);
      const clientKey = await hmac(salted, "Client Key");
      const storedKey = new Uint8Array(await crypto.subtle.digest("SHA-256", clientKey));
      const withoutProof = `c=biws,r=${nonce}`;
      const authMessage = `${this.#clientFirstBare},${serverFirst},${withoutProof}`;
      const clientSignature = await hmac(storedKey, authMessage);
      const proof = clientKey.map((b, i) => b ^ clientSignature[i]);
      this.#expectedServerSignature = await hmac(await hmac(salted, "Server Key"), authMessage);
      salted.fill(0);
      clientKey.fill(0);
      return `${withoutProof},p=${base64(proof)}`;
    } finally {
      password.fill(0);
    }
  }

  /**
   * Checks the server-final-message. A server that got the proof right but cannot produce the
   * server signature does not hold the verifier: a man in the middle, so this throws.
   */
  // deno-lint-ignore require-await
  async verifyServerFinal(serverFinal: string): Promise<void> {
    const expected = this.#expectedServerSignature;
    if (expected === null) {
      throw new ScramError("SCRAM exchange out of order: verifyServerFinal() before clientFinal()");
    }
    this.#expectedServerSignature = null;
    const attrs = parseAttributes(serverFinal, "server-final-message");
    const error = attrs.get("e");
    if (error !== undefined) {
      throw new ScramError(`SCRAM server reported an error: '${error.slice(0, 64)}'`);
    }
    const signature = attrs.get("v");
    if (signature === undefined) throw new ScramError("Malformed SCRAM server-final-message");
    const actual = unbase64(signature, "server signature");
    let diff = actual.length ^ expected.length;
    for (let i = 0; i < expected.length; i++) diff |= expected[i] ^ (actual[i] ?? 0);
    if (diff !== 0) throw new ScramError("SCRAM server signature does not match");
  }
}

/**
 * The md5 AuthenticationMD5Password response: `"md5" + md5hex(md5hex(password + user) + salt)`.
 * WebCrypto has no MD5, so this uses node:crypto's (Deno implements it natively).
 *
 * @example
 * ```ts
 * md5Password("agent", "s3cret", new Uint8Array([1, 2, 3, 4])); // "md5…" (35 chars)
 * ```
 */
export function md5Password(user: string, password: string, salt: Uint8Array): string {
  const inner = createHash("md5").update(encoder.encode(password + user)).digest("hex");
  return "md5" + createHash("md5").update(encoder.encode(inner)).update(salt).digest("hex");
}

/** Parses `a=x,b=y` SCRAM attributes; values may contain `=` (base64) but never `,`. */
function parseAttributes(message: string, what: string): Map<string, string> {
  const attrs = new Map<string, string>();
  for (const part of message.split(",")) {
    if (!/^[a-zA-Z]=/.test(part) || attrs.has(part[0])) {
      throw new ScramError(`Malformed SCRAM ${what}`);
    }
    attrs.set(part[0], part.slice(2));
  }
  return attrs;
}

async function pbkdf2(password: Uint8Array, salt: Uint8Array, iterations: number) {
  const key = await crypto.subtle.importKey("raw", password as BufferSource, "PBKDF2", false, [
    "deriveBits",
  ]);
  const params = { name: "PBKDF2", hash: "SHA-256", salt: salt as BufferSource, iterations };
  return new Uint8Array(await crypto.subtle.deriveBits(params, key, 256));
}

async function hmac(key: Uint8Array, message: string): Promise<Uint8Array<ArrayBuffer>> {
  const hmacKey = await crypto.subtle.importKey(
    "raw",
    key as BufferSource,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", hmacKey, encoder.encode(message)));
}

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function unbase64(text: string, what: string): Uint8Array {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) {
    throw new ScramError(`Malformed SCRAM ${what}: not base64`);
  }
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

// RFC 4013 SASLprep, as PostgreSQL applies it to SCRAM passwords (src/common/saslprep.c): map
// non-ASCII spaces to space, drop "mapped to nothing" characters, NFKC. Like PostgreSQL, a password
// that still holds prohibited characters is used as-is rather than refused.
const NON_ASCII_SPACE = /[\u00a0\u1680\u2000-\u200b\u202f\u205f\u3000]/g;
const MAPPED_TO_NOTHING = /[\u00ad\u034f\u1806\u180b-\u180d\u200c\u200d\u2060\ufe00-\ufe0f\ufeff]/g;
// C.2 controls, C.3 private use, C.4 non-characters, C.5 surrogates, C.8 bidi/format, C.9 tags.
const PROHIBITED =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u001f\u007f-\u009f\u0340\u0341\u06dd\u070f\u180e\u200e\u200f\u202a-\u202e\u2028\u2029\u206a-\u206f\ue000-\uf8ff\ufdd0-\ufdef\ufff9-\ufffd\ud800-\udfff]/u;

function saslPrep(password: string): string {
  // deno-lint-ignore no-control-regex
  if (/^[\x00-\x7f]*$/.test(password)) return password; // PostgreSQL skips pure ASCII entirely.
  const prepared = password.replace(NON_ASCII_SPACE, " ").replace(MAPPED_TO_NOTHING, "")
    .normalize("NFKC");
  if (prepared === "" || PROHIBITED.test(prepared)) return password;
  return prepared;
}
