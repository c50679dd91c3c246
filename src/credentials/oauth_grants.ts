/**
 * The two OAuth 2.0 grants the gateway uses to keep a short-lived access token for an agent:
 * a Google service account's JWT bearer grant (RFC 7523, signed RS256 with WebCrypto) and a
 * refresh token grant (RFC 6749 §6). Each returns the form to POST to the token endpoint; the
 * gateway does the I/O. Pure apart from WebCrypto.
 *
 * Security invariant: error messages name fields, never their values.
 *
 * @module
 */

/** The fields of a service account key file (`gcloud iam service-accounts keys create`). */
export interface ServiceAccountKey {
  client_email: string;
  private_key: string;
  private_key_id?: string;
  /** Where the assertion is exchanged. @default {"https://oauth2.googleapis.com/token"} */
  token_uri?: string;
}

/** A token request: where to POST, and the form (and any Basic credentials) to send. */
export interface TokenRequest {
  url: string;
  form: URLSearchParams;
  /** `Authorization: Basic …` for client credentials sent that way, else absent. */
  basic?: string;
}

const GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token";
const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/**
 * Parses a service account key file; the message of a bad one names what is wrong, never a
 * value.
 *
 * @throws {TypeError} when it is not JSON or lacks `client_email` or `private_key`.
 */
export function parseServiceAccountKey(text: string): ServiceAccountKey {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new TypeError("the service account key is not JSON");
  }
  const key = json as Record<string, unknown>;
  for (const field of ["client_email", "private_key"]) {
    if (typeof key?.[field] !== "string") {
      throw new TypeError(`the service account key has no '${field}'`);
    }
  }
  return key as unknown as ServiceAccountKey;
}

/**
 * The JWT bearer grant for `key`: an assertion for `scopes`, valid for an hour, signed with the
 * key's RSA private key.
 *
 * @example
 * ```ts
 * const request = await serviceAccountGrant(key, { scopes: ["https://www.googleapis.com/auth/cloud-platform"] });
 * await fetch(request.url, { method: "POST", body: request.form });
 * ```
 */
export async function serviceAccountGrant(
  key: ServiceAccountKey,
  { scopes, now = new Date() }: { scopes: readonly string[]; now?: Date },
): Promise<TokenRequest> {
  const url = key.token_uri ?? GOOGLE_TOKEN_URI;
  const iat = Math.floor(now.getTime() / 1000);
  const header = {
    alg: "RS256",
    typ: "JWT",
    ...key.private_key_id ? { kid: key.private_key_id } : {},
  };
  const claims = {
    iss: key.client_email,
    scope: scopes.join(" "),
    aud: url,
    iat,
    exp: iat + 3600,
  };
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature = await crypto.subtle.sign(
    "RSASSA-PKCS1-v1_5",
    await importPrivateKey(key.private_key),
    new TextEncoder().encode(input),
  );
  const form = new URLSearchParams({
    grant_type: JWT_BEARER,
    assertion: `${input}.${base64url(new Uint8Array(signature))}`,
  });
  return { url, form };
}

/** The refresh token grant, client credentials in the form or as Basic (`client_auth`). */
export function refreshTokenGrant(options: {
  tokenUrl: string;
  refreshToken: string;
  clientId?: string;
  clientSecret?: string;
  clientAuth?: "form" | "basic";
  scope?: string;
}): TokenRequest {
  const form = new URLSearchParams({
    grant_type: "refresh_token",
    refresh_token: options.refreshToken,
  });
  if (options.scope) form.set("scope", options.scope);
  const { clientId, clientSecret } = options;
  if (options.clientAuth === "basic" && clientId !== undefined) {
    // RFC 6749 §2.3.1: both parts form-encoded before they are joined.
    const pair = `${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret ?? "")}`;
    return { url: options.tokenUrl, form, basic: btoa(pair) };
  }
  if (clientId !== undefined) form.set("client_id", clientId);
  if (clientSecret !== undefined) form.set("client_secret", clientSecret);
  return { url: options.tokenUrl, form };
}

async function importPrivateKey(pem: string): Promise<CryptoKey> {
  const body = pem.replace(/-----(BEGIN|END) PRIVATE KEY-----/g, "").replace(/\s+/g, "");
  let der: Uint8Array<ArrayBuffer>;
  try {
    der = Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
  } catch {
    throw new TypeError("the service account's private_key is not a PEM PKCS#8 key");
  }
  try {
    return await crypto.subtle.importKey(
      "pkcs8",
      der,
      { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      false,
      ["sign"],
    );
  } catch {
    throw new TypeError("the service account's private_key is not an RSA PKCS#8 key");
  }
}

function base64url(data: string | Uint8Array): string {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
