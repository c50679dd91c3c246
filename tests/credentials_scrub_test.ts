/**
 * Response scrubbing end to end (issue 27): an upstream that echoes the injected secret back in
 * every encoding a server plausibly uses, in the body and in headers, through the real proxy.
 * The agent must receive none of them.
 *
 * @module
 */

import { equal, ok } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { type ProxyFixture, withProxy } from "./_proxy_fixture.ts";

// Characters every encoding treats differently: `/`, `+`, `&`, `"`, `<`, upper and lower case.
const SECRET = 'ghp_REAL/secret+VALUE&"0123<456789>abcdef';
const HEX_KEY = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b";
const enc = new TextEncoder();

/** Each encoded form of `secret`, by a name usable in a header name. */
function encodedForms(secret: string): Record<string, string> {
  const bytes = enc.encode(secret);
  const hex = Buffer.from(bytes).toString("hex");
  const percentAll = [...bytes].map((b) => "%" + b.toString(16).padStart(2, "0")).join("");
  const unicodeAll = [...secret].map((c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"))
    .join("");
  // The secret inside longer blobs, at each of the three base64 alignments.
  const blobs = Object.fromEntries([0, 1, 2].flatMap((lead) => {
    const blob = enc.encode(`${"x".repeat(lead)}{"sub":"${secret}","iat":1}`);
    return [
      [`blob-b64-${lead}`, Buffer.from(blob).toString("base64")],
      [`blob-b64url-${lead}`, "eyJhbGciOiJIUzI1NiJ9." + Buffer.from(blob).toString("base64url")],
    ];
  }));
  return {
    "raw": secret,
    "upper": secret.toUpperCase(),
    "lower": secret.toLowerCase(),
    "b64": Buffer.from(bytes).toString("base64"),
    "b64url": Buffer.from(bytes).toString("base64url"),
    "hex": hex,
    "hex-upper": hex.toUpperCase(),
    "pct": encodeURIComponent(secret),
    "pct-all": percentAll,
    "pct-all-upper": percentAll.toUpperCase(),
    "json": JSON.stringify(secret).slice(1, -1),
    "json-u-all": unicodeAll,
    "json-u-all-upper": unicodeAll.replace(
      /u([0-9a-f]{4})/g,
      (_, h: string) => "u" + h.toUpperCase(),
    ),
    "json-go": JSON.stringify(secret).slice(1, -1).replace(
      /[<>&]/g,
      (c) => "\\u00" + c.charCodeAt(0).toString(16),
    ),
    "html-min": secret.replace(
      /[&<>"']/g,
      (c) => `&${{ "&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "#39" }[c]};`,
    ),
    "html-dec": [...secret].map((c) => `&#${c.codePointAt(0)};`).join(""),
    "html-hex": [...secret].map((c) => `&#x${c.codePointAt(0)!.toString(16)};`).join(""),
    ...blobs,
  };
}

/** Echoes the injected secrets back in every form, in the body and one header per form. */
function encodingEcho(req: Request): Response {
  const token = (req.headers.get("authorization") ?? "").replace(/^Bearer /, "");
  const key = req.headers.get("x-api-key") ?? "";
  const forms = { ...encodedForms(token), ...prefixed("key-", encodedForms(key)) };
  const headers = new Headers();
  for (const [name, form] of Object.entries(forms)) headers.set(`x-echo-${name}`, form);
  return Response.json(forms, { headers });
}

function prefixed(prefix: string, forms: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(forms).map(([k, v]) => [prefix + k, v]));
}

/** What must never reach the agent: each form, and the secret decoded out of any blob. */
function assertClean(where: string, text: string, received: Record<string, string>): void {
  for (
    const [secret, forms] of [[SECRET, encodedForms(SECRET)], [
      HEX_KEY,
      encodedForms(HEX_KEY),
    ]] as const
  ) {
    for (const [name, form] of Object.entries(forms)) {
      // The blobs themselves are not secret; what they decode to is checked below.
      if (name.startsWith("blob-")) continue;
      ok(!text.includes(form), `${where} holds the ${name} form of a secret`);
    }
    for (const [name, value] of Object.entries(received)) {
      const payload = value.split(".").at(-1)!;
      for (const decoded of [Buffer.from(payload, "base64"), Buffer.from(payload, "base64url")]) {
        ok(
          !decoded.toString("latin1").includes(secret.slice(4, 20)),
          `${where} ${name} decodes to a secret`,
        );
      }
    }
  }
}

async function fetchThrough(fx: ProxyFixture): Promise<Response> {
  const client = Deno.createHttpClient({
    proxy: {
      url: `http://127.0.0.1:${fx.proxyPort}`,
      basicAuth: { username: fx.agent, password: fx.token },
    },
    caCerts: [await Deno.readTextFile(fx.caFile)],
  });
  try {
    const res = await fetch("https://api.test/echo-encoded", {
      headers: { authorization: "Bearer {{api_token}}" },
      client,
    });
    // Read whole before the client closes.
    return new Response(await res.arrayBuffer(), { status: res.status, headers: res.headers });
  } finally {
    client.close();
  }
}

Deno.test("an upstream echoing the injected secret in every covered encoding leaks none of them to the agent", async () => {
  await withProxy({
    credentials: `
credential "bearer_token" "api_token" {
  endpoint = https.api
}
credential "header_token" "api_key" {
  endpoint = https.api
  header   = "X-Api-Key"
  inject   = "always"
}
`,
    botCredentials: ["bearer_token.api_token", "header_token.api_key"],
    secrets: { api_token: SECRET, api_key: HEX_KEY },
    handler: encodingEcho,
  }, async (fx) => {
    const res = await fetchThrough(fx);
    equal(res.status, 200);
    // The upstream did get the real secrets (the echo is of them, not of the placeholders).
    equal(fx.seen.at(-1)!.headers.get("authorization"), `Bearer ${SECRET}`);
    equal(fx.seen.at(-1)!.headers.get("x-api-key"), HEX_KEY);

    const body = await res.text();
    const received = JSON.parse(body) as Record<string, string>;
    assertClean("the body", body, received);
    equal(Object.keys(received).length, 2 * Object.keys(encodedForms(SECRET)).length);
    ok(received["raw"].includes("{{api_token}}"), received["raw"]);
    ok(received["key-upper"].includes("{{api_key}}"), received["key-upper"]);

    const echoed: Record<string, string> = {};
    for (const [name, value] of res.headers) {
      if (name.startsWith("x-echo-")) echoed[name.slice("x-echo-".length)] = value;
    }
    equal(Object.keys(echoed).length, Object.keys(received).length);
    assertClean("the headers", JSON.stringify([...res.headers]), echoed);
  });
});
