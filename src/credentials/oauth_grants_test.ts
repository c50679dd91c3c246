import { deepStrictEqual as equal, ok, throws } from "node:assert/strict";
import { parseServiceAccountKey, refreshTokenGrant, serviceAccountGrant } from "./oauth_grants.ts";

async function rsaKey() {
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
  const pem = `-----BEGIN PRIVATE KEY-----\n${
    btoa(String.fromCharCode(...pkcs8)).replace(/.{64}/g, "$&\n")
  }\n-----END PRIVATE KEY-----\n`;
  return { pem, publicKey: keys.publicKey };
}

function decode(part: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(part.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
}

Deno.test("serviceAccountGrant() signs an RS256 assertion the account's public key verifies", async () => {
  const { pem, publicKey } = await rsaKey();
  const now = new Date("2026-12-05T10:00:00Z");
  const request = await serviceAccountGrant(
    { client_email: "bot@p.iam.gserviceaccount.com", private_key: pem, private_key_id: "k1" },
    { scopes: ["https://www.googleapis.com/auth/cloud-platform"], now },
  );
  equal(request.url, "https://oauth2.googleapis.com/token");
  equal(request.form.get("grant_type"), "urn:ietf:params:oauth:grant-type:jwt-bearer");
  const [h, c, s] = request.form.get("assertion")!.split(".");
  ok(
    await crypto.subtle.verify(
      "RSASSA-PKCS1-v1_5",
      publicKey,
      decode(s),
      new TextEncoder().encode(`${h}.${c}`),
    ),
  );
  equal(JSON.parse(new TextDecoder().decode(decode(h))), { alg: "RS256", typ: "JWT", kid: "k1" });
  equal(JSON.parse(new TextDecoder().decode(decode(c))), {
    iss: "bot@p.iam.gserviceaccount.com",
    scope: "https://www.googleapis.com/auth/cloud-platform",
    aud: "https://oauth2.googleapis.com/token",
    iat: 1796464800,
    exp: 1796468400,
  });
});

Deno.test("a broken service account key is refused naming the field, never its value", async () => {
  throws(
    () => parseServiceAccountKey("not json SECRETVALUE"),
    (e: Error) => !e.message.includes("SECRETVALUE"),
  );
  throws(() => parseServiceAccountKey('{"client_email":"x"}'), /has no 'private_key'/);
  const bad = { client_email: "x", private_key: "-----BEGIN PRIVATE KEY-----\nSECRETVALUE\n" };
  try {
    await serviceAccountGrant(bad, { scopes: [] });
    ok(false, "accepted a broken key");
  } catch (err) {
    ok(err instanceof TypeError && !err.message.includes("SECRETVALUE"), String(err));
  }
});

Deno.test("refreshTokenGrant() sends client credentials in the form or as Basic", () => {
  const form = refreshTokenGrant({
    tokenUrl: "https://github.com/login/oauth/access_token",
    refreshToken: "rt",
    clientId: "Iv1.x",
    clientSecret: "s e",
  });
  equal(Object.fromEntries(form.form), {
    grant_type: "refresh_token",
    refresh_token: "rt",
    client_id: "Iv1.x",
    client_secret: "s e",
  });
  const basic = refreshTokenGrant({
    tokenUrl: "https://t",
    refreshToken: "rt",
    clientId: "Iv1.x",
    clientSecret: "s e",
    clientAuth: "basic",
  });
  equal(basic.basic, btoa("Iv1.x:s%20e"));
  equal(basic.form.has("client_secret"), false);
});
