import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  SIGNATURE_HEADER,
  signedHeaders,
  signWebhook,
  TIMESTAMP_HEADER,
  verifyWebhook,
  webhookKey,
} from "./_webhook_signature.ts";
import { readLimited } from "../core/mod.ts";

const BODY = '{"id":"apr_1","decision":"allow"}';

/** HMAC-SHA256 hex computed here, independently of the module under test. */
async function referenceMac(secret: string, message: string): Promise<string> {
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey(
    "raw",
    enc.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(message)));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

function headers(timestamp: string, signature: string): Headers {
  return new Headers({ [TIMESTAMP_HEADER]: timestamp, [SIGNATURE_HEADER]: signature });
}

Deno.test("signWebhook() is v1= the hex HMAC-SHA256 of '<timestamp>.<body>'", async () => {
  const signature = await signWebhook(await webhookKey("whsec_test"), 1700000000, BODY);
  // Computed with Python's hmac module, and again here with WebCrypto.
  assertEquals(signature, "v1=18e148456518134f8be753a0bb84783c590674145102a02df0d745819d5f647d");
  assertEquals(signature, `v1=${await referenceMac("whsec_test", `1700000000.${BODY}`)}`);
  const bytes = await signWebhook(
    await webhookKey("whsec_test"),
    "1700000000",
    new TextEncoder().encode(BODY),
  );
  assertEquals(bytes, signature, "string and byte bodies sign alike");
});

Deno.test("verifyWebhook() accepts the right MAC and refuses a changed byte, body or key", async () => {
  const key = await webhookKey("whsec_test");
  const now = 1700000000_000;
  const ts = "1700000000";
  const good = signedHeaders(headers(ts, await signWebhook(key, ts, BODY)), now);
  assert(typeof good !== "string");
  const body = new TextEncoder().encode(BODY);
  assert(await verifyWebhook(key, good, body));
  assert(!await verifyWebhook(key, good, new TextEncoder().encode(BODY.replace("allow", "deny"))));
  assert(!await verifyWebhook(await webhookKey("other"), good, body));
  const flipped = { ...good, mac: good.mac.slice() };
  flipped.mac[31] ^= 1;
  assert(!await verifyWebhook(key, flipped, body));
  const otherTime = signedHeaders(headers("1700000001", await signWebhook(key, ts, BODY)), now);
  assert(typeof otherTime !== "string");
  assert(!await verifyWebhook(key, otherTime, body), "the timestamp is part of what is signed");
});

Deno.test("signedHeaders() refuses missing, malformed and stale headers", async () => {
  const now = 1700000000_000;
  const sig = await signWebhook(await webhookKey("k"), 1700000000, BODY);
  assertEquals(signedHeaders(new Headers(), now), "missing");
  assertEquals(signedHeaders(new Headers({ [TIMESTAMP_HEADER]: "1700000000" }), now), "missing");
  assertEquals(signedHeaders(headers("1700000000", sig.slice(3)), now), "malformed");
  assertEquals(signedHeaders(headers("1700000000", "v1=abcd"), now), "malformed");
  assertEquals(signedHeaders(headers("17e8", sig), now), "malformed");
  assertEquals(signedHeaders(headers("-1", sig), now), "malformed");
  assertEquals(signedHeaders(headers(String(1700000000 - 301), sig), now), "stale");
  assertEquals(signedHeaders(headers(String(1700000000 + 301), sig), now), "stale");
  const edge = signedHeaders(headers(String(1700000000 - 300), sig.toUpperCase()), now);
  assert(typeof edge !== "string", "five minutes old is still inside the window");
  assertEquals(edge.mac.length, 32);
});

Deno.test("readLimited() returns the body up to the limit and null past it", async () => {
  const stream = (n: number) => new Blob([new Uint8Array(n)]).stream();
  assertEquals((await readLimited(stream(100), 100))?.length, 100);
  assertEquals(await readLimited(stream(101), 100), null);
  assertEquals((await readLimited(null, 100))?.length, 0);
});
