/**
 * A fake OAuth token endpoint (plain HTTP on loopback) for two grants: Google's JWT bearer grant,
 * whose assertion it verifies against the service account's public key as Google does, and the
 * refresh token grant, rotating the refresh token on every use as GitHub apps do. Tokens live
 * `lifetimeS` seconds; {@linkcode FakeTokenEndpoint.validBearer} is what a fake API checks.
 *
 * @module
 */

/** A service account key file and the public key that verifies its assertions. */
export interface TestServiceAccount {
  json: string;
  email: string;
  publicKey: CryptoKey;
}

/** Mints an RSA service account key whose `token_uri` is `tokenUri`. */
export async function testServiceAccount(tokenUri: string): Promise<TestServiceAccount> {
  const keys = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  );
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  const b64 = btoa(String.fromCharCode(...pkcs8)).replace(/.{64}/g, "$&\n");
  const email = "agent-runner@project.iam.gserviceaccount.com";
  const json = JSON.stringify({
    type: "service_account",
    client_email: email,
    private_key_id: "k1",
    private_key: `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`,
    token_uri: tokenUri,
  });
  return { json, email, publicKey: keys.publicKey };
}

/** A running fake token endpoint. */
export interface FakeTokenEndpoint {
  /** `http://127.0.0.1:PORT/token` */
  url: string;
  /** Grant requests received, in order (`grant_type`, and the refresh token used). */
  grants: { type: string; refreshToken?: string; scope?: string }[];
  /** The refresh token it accepts now (it rotates on each use). */
  refreshToken: string;
  /** While true every grant is refused with `invalid_grant` (revoked key or token). */
  revoked: boolean;
  /** Whether `Authorization` carries a token it issued that has not expired. */
  validBearer(authorization: string | null): boolean;
  close(): Promise<void>;
}

/** Starts the endpoint; `serviceAccount` is set once its URL is known. */
export function startFakeTokenEndpoint(
  options: { lifetimeS: number; refreshToken: string; clientId?: string },
): FakeTokenEndpoint & { serviceAccount?: TestServiceAccount } {
  const issued = new Map<string, number>();
  let counter = 0;
  const refuse = (status: number, error: string) => Response.json({ error }, { status });
  const state: FakeTokenEndpoint & { serviceAccount?: TestServiceAccount } = {
    url: "",
    grants: [],
    refreshToken: options.refreshToken,
    revoked: false,
    validBearer: (authorization) => {
      const m = /^Bearer (\S+)$/.exec(authorization ?? "");
      const at = m ? issued.get(m[1]) : undefined;
      return at !== undefined && Date.now() < at + options.lifetimeS * 1000;
    },
    close: () => server.shutdown(),
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const form = new URLSearchParams(await req.text());
    const type = form.get("grant_type") ?? "";
    state.grants.push({
      type,
      refreshToken: form.get("refresh_token") ?? undefined,
      scope: form.get("scope") ?? undefined,
    });
    if (state.revoked) return refuse(400, "invalid_grant");
    if (type === "urn:ietf:params:oauth:grant-type:jwt-bearer") {
      const problem = await assertionProblem(form.get("assertion") ?? "", state);
      if (problem) return refuse(400, "invalid_grant");
    } else if (type === "refresh_token") {
      if (form.get("refresh_token") !== state.refreshToken) return refuse(400, "invalid_grant");
      if (options.clientId && form.get("client_id") !== options.clientId) {
        return refuse(401, "invalid_client");
      }
      state.refreshToken = `rt-${++counter}-${crypto.randomUUID()}`;
    } else {
      return refuse(400, "unsupported_grant_type");
    }
    const token = `ya29.test-${++counter}-${crypto.randomUUID()}`;
    issued.set(token, Date.now());
    return Response.json({
      access_token: token,
      token_type: "Bearer",
      expires_in: options.lifetimeS,
      ...type === "refresh_token" ? { refresh_token: state.refreshToken } : {},
    });
  });
  state.url = `http://127.0.0.1:${server.addr.port}/token`;
  return state;
}

/** What Google checks in an assertion: RS256 by the account's key, for this endpoint, current. */
async function assertionProblem(
  jwt: string,
  state: { url: string; serviceAccount?: TestServiceAccount },
): Promise<string | null> {
  const account = state.serviceAccount;
  const [h, c, s] = jwt.split(".");
  if (!account || !h || !c || !s) return "malformed";
  const decode = (part: string) =>
    Uint8Array.from(atob(part.replace(/-/g, "+").replace(/_/g, "/")), (ch) => ch.charCodeAt(0));
  const ok = await crypto.subtle.verify(
    "RSASSA-PKCS1-v1_5",
    account.publicKey,
    decode(s),
    new TextEncoder().encode(`${h}.${c}`),
  );
  if (!ok) return "bad signature";
  const header = JSON.parse(new TextDecoder().decode(decode(h)));
  const claims = JSON.parse(new TextDecoder().decode(decode(c)));
  const now = Date.now() / 1000;
  if (header.alg !== "RS256" || claims.iss !== account.email || claims.aud !== state.url) {
    return "wrong claims";
  }
  return claims.iat <= now + 60 && claims.exp > now ? null : "expired";
}
