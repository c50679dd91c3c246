// The gateway CA: a self-signed ECDSA P-256 root kept in the state directory. Agents trust its
// certificate; the gateway signs per-host leaf certificates with its key to terminate TLS.
import { join } from "node:path";
import { concatBytes, pathExists, writeFileAtomic } from "../core/mod.ts";
import {
  addDays,
  BACKDATE_MS,
  certificateFingerprint,
  decodePem,
  EC_KEY_ALGORITHM,
  encodePem,
  nowSeconds,
  randomSerial,
  SIGNING_ALGORITHM,
} from "./_x509.ts";
import {
  basicConstraints,
  commonNameOf,
  KEY_USAGE,
  keyIdOf,
  keyUsage,
  parseCertificate as parseDer,
  type ParsedCertificate,
  signCertificate,
  subjectKeyId,
} from "./_cert.ts";

/** File name of the CA certificate inside the state directory (PEM, mode 0644). */
export const CA_CERT_FILE = "ca.pem";

/** File name of the CA private key inside the state directory (PKCS#8 PEM, mode 0600). */
export const CA_KEY_FILE = "ca.key";

/** The gateway's certificate authority, as created by {@linkcode createGatewayCa} or loaded. */
export interface GatewayCa {
  /** The CA certificate as PEM: what agents and their tools install as a trusted root. */
  readonly certPem: string;
  /** What the CA certificate says: its subject, validity, key and key identifier. */
  readonly cert: ParsedCertificate;
  /** The CA signing key (ECDSA P-256, usage `sign`). Not extractable: it never leaves the key file. */
  readonly privateKey: CryptoKey;
  /** SHA-256 of the certificate's DER encoding, lowercase hex, so operators can compare it out of band. */
  readonly fingerprint: string;
}

/** Options for {@linkcode createGatewayCa}. */
export interface CreateGatewayCaOptions {
  /**
   * Subject common name of the CA certificate.
   * @default {"clawpatrol gateway CA"}
   */
  commonName?: string;
  /**
   * Days the CA certificate stays valid.
   * @default {3650}
   */
  validDays?: number;
  /**
   * Replace an existing `ca.pem`/`ca.key`. Agents that trusted the old CA stop trusting the gateway.
   * @default {false}
   */
  force?: boolean;
}

/** Key usages the CA needs: it signs certificates and, later, CRLs. */
const CA_KEY_USAGES = [KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign];

/**
 * Generates a new gateway CA and writes it to `<stateDir>/ca.pem` and `<stateDir>/ca.key`.
 *
 * The certificate is self-signed ECDSA P-256 with a random serial, basicConstraints CA:true
 * (pathLen 0, critical), keyUsage keyCertSign|cRLSign (critical) and a subjectKeyIdentifier.
 * The key file is created with mode 0600 from the start, so it is never readable by others, even
 * for a moment. `stateDir` is created (mode 0700) when missing.
 *
 * @throws {Deno.errors.AlreadyExists} when either file exists and `force` is not set.
 * @throws {RangeError} when `validDays` is not a positive integer or `commonName` is empty.
 *
 * @example
 * ```ts
 * const ca = await createGatewayCa("./state");
 * console.log(`Gateway CA ${ca.fingerprint} written to ./state/ca.pem`);
 * ```
 */
export async function createGatewayCa(
  stateDir: string,
  options: CreateGatewayCaOptions = {},
): Promise<GatewayCa> {
  const { commonName = "clawpatrol gateway CA", validDays = 3650, force = false } = options;
  if (!Number.isInteger(validDays) || validDays <= 0) {
    throw new RangeError(
      `Cannot create gateway CA: validDays must be a positive integer, got '${validDays}'`,
    );
  }
  if (commonName.trim() === "") {
    throw new RangeError("Cannot create gateway CA: commonName is empty");
  }
  const certPath = join(stateDir, CA_CERT_FILE);
  const keyPath = join(stateDir, CA_KEY_FILE);
  if (!force) {
    for (const path of [certPath, keyPath]) {
      if (await pathExists(path)) throw alreadyExists(path);
    }
  }

  const keys = await crypto.subtle.generateKey(EC_KEY_ALGORITHM, true, ["sign", "verify"]);
  const now = nowSeconds();
  const publicKey = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  const subject = commonNameOf(commonName, "clawpatrol");
  const der = await signCertificate({
    serial: randomSerial(),
    issuer: subject,
    subject,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: addDays(now, validDays),
    publicKey,
    extensions: [
      basicConstraints(true),
      keyUsage(CA_KEY_USAGES),
      subjectKeyId(await keyIdOf(publicKey)),
    ],
  }, keys.privateKey);
  const cert = parseDer(der);
  const certPem = encodePem(der, "CERTIFICATE");
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  const keyPem = new TextEncoder().encode(encodePem(pkcs8, "PRIVATE KEY"));
  // The returned key is re-imported non-extractable, so later code cannot export it again.
  const privateKey = await importSigningKey(pkcs8, keyPath);

  await Deno.mkdir(stateDir, { recursive: true, mode: 0o700 });
  // Key first: a crash between the two writes leaves a key without a certificate, which load rejects.
  try {
    await writeCaFile(keyPath, keyPem, 0o600, force);
  } finally {
    keyPem.fill(0);
  }
  await writeCaFile(certPath, new TextEncoder().encode(certPem), 0o644, force);

  return { certPem, cert, privateKey, fingerprint: await certificateFingerprint(der) };
}

/** Options for {@linkcode loadGatewayCa}. */
export interface LoadGatewayCaOptions {
  /** The CA key as PKCS#8 PEM (from the vault) instead of `ca.key`. */
  privateKeyPem?: string;
  /**
   * Where `privateKeyPem` came from, for error messages.
   * @default {"the vault"}
   */
  privateKeySource?: string;
}

/**
 * Reads `<stateDir>/ca.key` as PEM text, refusing a file group or others can access: for moving
 * the key into the vault.
 *
 * @example
 * ```ts
 * const pem = await readGatewayCaKey("./state");
 * ```
 */
export async function readGatewayCaKey(stateDir: string): Promise<string> {
  const path = join(stateDir, CA_KEY_FILE);
  const der = await readPrivateKeyFile(path);
  try {
    return encodePem(der, "PRIVATE KEY");
  } finally {
    der.fill(0);
  }
}

/**
 * Loads the gateway CA written by {@linkcode createGatewayCa} from `stateDir`.
 *
 * Errors name the file at fault and never include key material. A key file that group or others
 * may access is refused, with the `chmod 600` to run.
 *
 * @throws {Deno.errors.NotFound} when `ca.pem` or `ca.key` is missing.
 * @throws {SyntaxError} when a file is not the PEM it should be.
 * @throws {Error} when the key file is too open, the certificate is not a CA, or key and certificate
 * do not belong together.
 *
 * @example
 * ```ts
 * const ca = await loadGatewayCa("./state");
 * console.log(ca.fingerprint);
 * ```
 */
export async function loadGatewayCa(
  stateDir: string,
  options: LoadGatewayCaOptions = {},
): Promise<GatewayCa> {
  const certPath = join(stateDir, CA_CERT_FILE);
  const keyPath = options.privateKeyPem === undefined
    ? join(stateDir, CA_KEY_FILE)
    : options.privateKeySource ?? "the vault";

  const certPem = await readCaFile(certPath);
  const { der: certDer, cert } = parseCertificate(certPem, certPath);
  if (!cert.isCa || !cert.keyUsage?.has(KEY_USAGE.keyCertSign)) {
    throw new Error(`Cannot load gateway CA: '${certPath}' is not a CA certificate`);
  }

  const der = options.privateKeyPem === undefined
    ? await readPrivateKeyFile(keyPath)
    : pkcs8Of(options.privateKeyPem, keyPath);
  const privateKey = await importSigningKey(der, keyPath);
  if (!(await keyMatchesCertificate(privateKey, cert))) {
    throw new Error(`Cannot load gateway CA: '${keyPath}' is not the key of '${certPath}'`);
  }
  return { certPem, cert, privateKey, fingerprint: await certificateFingerprint(certDer) };
}

function alreadyExists(path: string): Deno.errors.AlreadyExists {
  return new Deno.errors.AlreadyExists(
    `Cannot create gateway CA: '${path}' already exists (use force to replace it)`,
  );
}

/** {@linkcode writeFileAtomic}, refusing (without `force`) a file that appeared meanwhile. */
async function writeCaFile(
  path: string,
  data: Uint8Array,
  mode: number,
  force: boolean,
): Promise<void> {
  try {
    await writeFileAtomic(path, data, { mode, overwrite: force });
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) throw alreadyExists(path);
    throw err;
  }
}

async function readCaFile(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    throw readError(err, path);
  }
}

function readError(err: unknown, path: string): Error {
  if (err instanceof Deno.errors.NotFound) {
    return new Deno.errors.NotFound(
      `Cannot load gateway CA: '${path}' does not exist (run 'clawpatrol init' to create it)`,
    );
  }
  const reason = err instanceof Error ? err.message : String(err);
  return new Error(`Cannot load gateway CA: cannot read '${path}': ${reason}`);
}

function parseCertificate(
  pem: string,
  path: string,
): { der: Uint8Array<ArrayBuffer>; cert: ParsedCertificate } {
  const der = decodePem(pem, "CERTIFICATE");
  if (der) {
    try {
      return { der, cert: parseDer(der) };
    } catch {
      // Fall through to the uniform message below.
    }
  }
  throw new SyntaxError(`Cannot load gateway CA: '${path}' is not a PEM certificate`);
}

/**
 * Reads the key file after checking its mode on the open handle (no window between check and
 * read). Returns the PKCS#8 DER; the caller imports it.
 */
async function readPrivateKeyFile(path: string): Promise<Uint8Array<ArrayBuffer>> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (err) {
    throw readError(err, path);
  }
  let text: string;
  try {
    const info = await file.stat();
    // mode is null on Windows, where POSIX permission bits do not apply.
    if (info.mode !== null && (info.mode & 0o077) !== 0) {
      const octal = (info.mode & 0o777).toString(8).padStart(4, "0");
      throw new Error(
        `Refusing to load gateway CA key '${path}': group or others can access it (mode ${octal}); ` +
          `run 'chmod 600 ${path}'`,
      );
    }
    if (!info.isFile) throw new Error(`Cannot load gateway CA: '${path}' is not a regular file`);
    text = new TextDecoder().decode(await readAll(file));
  } finally {
    file.close();
  }
  const der = decodePem(text, "PRIVATE KEY");
  if (!der) {
    throw new SyntaxError(`Cannot load gateway CA: '${path}' is not a PKCS#8 PEM private key`);
  }
  return der;
}

function pkcs8Of(pem: string, source: string): Uint8Array<ArrayBuffer> {
  const der = decodePem(pem, "PRIVATE KEY");
  if (!der) {
    throw new SyntaxError(`Cannot load gateway CA: the key in ${source} is not a PKCS#8 PEM key`);
  }
  return der;
}

async function readAll(file: Deno.FsFile): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(16 * 1024);
  for (;;) {
    const n = await file.read(buf);
    if (n === null) break;
    chunks.push(buf.slice(0, n));
  }
  const out = concatBytes(chunks);
  for (const chunk of chunks) chunk.fill(0);
  buf.fill(0);
  return out;
}

/** Imports PKCS#8 DER as a non-extractable ECDSA P-256 signing key; zeroes the DER afterwards. */
async function importSigningKey(der: Uint8Array<ArrayBuffer>, path: string): Promise<CryptoKey> {
  try {
    return await crypto.subtle.importKey("pkcs8", der, EC_KEY_ALGORITHM, false, ["sign"]);
  } catch {
    // The WebCrypto error text is dropped on purpose: it has nothing for the operator, and the
    // rule is that nothing derived from key bytes reaches a message.
    throw new SyntaxError(
      `Cannot load gateway CA: '${path}' is not an ECDSA P-256 PKCS#8 private key`,
    );
  } finally {
    der.fill(0);
  }
}

/** Signs a random challenge with `key` and verifies it with the certificate's public key. */
async function keyMatchesCertificate(key: CryptoKey, cert: ParsedCertificate): Promise<boolean> {
  const challenge = crypto.getRandomValues(new Uint8Array(32));
  const signature = await crypto.subtle.sign(SIGNING_ALGORITHM, key, challenge);
  let publicKey: CryptoKey;
  try {
    const spki = new Uint8Array(cert.publicKey);
    publicKey = await crypto.subtle.importKey("spki", spki, EC_KEY_ALGORITHM, false, ["verify"]);
  } catch {
    return false;
  }
  return await crypto.subtle.verify(SIGNING_ALGORITHM, publicKey, signature, challenge);
}
