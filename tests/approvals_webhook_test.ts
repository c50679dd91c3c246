/**
 * `webhook_approver` end to end: curl through the HTTPS proxy is held while a local webhook
 * receiver (a real server that checks the gateway's HMAC itself) decides, synchronously or by a
 * signed callback to the admin API's handler; every stage lands on the receipt.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { handleWebhookCallback, WEBHOOK_CALLBACK_PATH } from "../src/approvals/mod.ts";
import { DEFAULT_RULES, type ProxyFixture, withProxy } from "./_proxy_fixture.ts";
import { eventually } from "./_helpers.ts";
import { curlOutcome, curlPost } from "./_curl.ts";

const SECRET = "whsec_e2e_5f1d0c2a";

/** A request as the receiver got it. */
interface Received {
  verified: boolean;
  body: { id: string; fingerprint: string; summary: string; rule: string };
}

const enc = new TextEncoder();

async function hmacHex(secret: string, message: string): Promise<string> {
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

/** Starts a receiver answering with `answer`, then a gateway whose webhook approver calls it. */
async function withWebhook(
  answer: () => Response,
  fn: (fx: ProxyFixture, received: Received[]) => Promise<void>,
  timeout = "20s",
): Promise<void> {
  const received: Received[] = [];
  const receiver = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const text = await req.text();
    const ts = req.headers.get("x-clawpatrol-timestamp") ?? "";
    const expected = `v1=${await hmacHex(SECRET, `${ts}.${text}`)}`;
    const verified = req.headers.get("x-clawpatrol-signature") === expected &&
      Math.abs(Number(ts) - Date.now() / 1000) < 300;
    received.push({ verified, body: JSON.parse(text) });
    return verified ? answer() : new Response("bad signature", { status: 401 });
  });
  const rules = `
credential "webhook_secret" "hook" {}
approver "webhook_approver" "hook" {
  url        = "http://127.0.0.1:${receiver.addr.port}/approve"
  credential = webhook_secret.hook
  timeout    = "${timeout}"
}
rule "writes-need-approval" {
  endpoint  = https.api
  condition = "http.method == 'post' && http.path == '/write'"
  approve   = [webhook_approver.hook]
  reason    = "writes need the change system's approval"
}
${DEFAULT_RULES}`;
  try {
    await withProxy({ rules, secrets: { hook: SECRET } }, (fx) => fn(fx, received));
  } finally {
    await receiver.shutdown();
  }
}

async function heldReceipt(fx: ProxyFixture) {
  return await eventually(
    "the held request's receipt",
    async () => (await fx.receipts()).find((r) => r.rule === "writes-need-approval"),
  );
}

/** A callback request as a receiver would send it, signed with `secret`. */
async function callback(secret: string, body: object): Promise<Request> {
  const text = JSON.stringify(body);
  const ts = String(Math.floor(Date.now() / 1000));
  return new Request(`http://127.0.0.1${WEBHOOK_CALLBACK_PATH}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-clawpatrol-timestamp": ts,
      "x-clawpatrol-signature": `v1=${await hmacHex(secret, `${ts}.${text}`)}`,
    },
    body: text,
  });
}

Deno.test("a held POST is allowed when the webhook answers allow; the receipt names webhook:hook", async () => {
  await withWebhook(() => Response.json({ decision: "allow", reason: "CHG-42 approved" }), async (
    fx,
    received,
  ) => {
    const result = await curlOutcome(curlPost(fx));
    assertEquals(result.status, 200, result.body);
    assertEquals(fx.seen.map((r) => r.method), ["POST"]);
    assertEquals(received.length, 1);
    assert(received[0].verified, "the receiver verified the gateway's signature");
    assertEquals(received[0].body.summary, "POST api.test/write");
    assertEquals(received[0].body.rule, "writes-need-approval");
    const receipt = await heldReceipt(fx);
    assertEquals(receipt.verdict, "allow");
    assertEquals(receipt.approvals.map((a) => [a.approver, a.decision, a.who, a.reason]), [
      ["webhook_approver.hook", "allow", "webhook:hook", "CHG-42 approved"],
    ]);
    assert(!JSON.stringify(fx.log.lines).includes(SECRET), "the secret reached the log");
  });
});

Deno.test("a held POST is denied with the webhook's reason when it answers deny", async () => {
  await withWebhook(() => Response.json({ decision: "deny", reason: "change freeze" }), async (
    fx,
  ) => {
    const result = await curlOutcome(curlPost(fx));
    assertEquals(result.status, 403);
    const body = JSON.parse(result.body);
    assertEquals([body.error, body.reason, body.rule], [
      "denied",
      "change freeze",
      "writes-need-approval",
    ]);
    assertEquals(fx.seen.length, 0);
    const receipt = await heldReceipt(fx);
    assertEquals(receipt.approvals.map((a) => [a.decision, a.who]), [["deny", "webhook:hook"]]);
  });
});

Deno.test("after a 202 the request waits: a badly signed callback is refused, a good one allows it", async () => {
  await withWebhook(() => new Response(null, { status: 202 }), async (fx, received) => {
    const curl = curlPost(fx);
    const got = await eventually("the webhook request", () => received[0]);
    assert(got.verified);
    const decision = {
      id: got.body.id,
      fingerprint: got.body.fingerprint,
      decision: "allow",
      reason: "approved in CHG-7",
    };
    const forged = await handleWebhookCallback(await callback("not the secret", decision));
    assertEquals([forged.status, await forged.json()], [401, { error: "bad signature" }]);
    const wrong = await handleWebhookCallback(
      await callback(SECRET, { ...decision, fingerprint: "0".repeat(64) }),
    );
    assertEquals(wrong.status, 409);
    await wrong.body?.cancel();
    await new Promise((r) => setTimeout(r, 100));
    assertEquals(fx.seen.length, 0, "the upstream saw the request before it was approved");
    const good = await callback(SECRET, decision);
    const replay = good.clone();
    const accepted = await handleWebhookCallback(good);
    assertEquals([accepted.status, await accepted.json()], [200, { status: "accepted" }]);
    const result = await curlOutcome(curl);
    assertEquals(result.status, 200, result.body);
    assertEquals(fx.seen.map((r) => r.method), ["POST"]);
    const again = await handleWebhookCallback(replay);
    assertEquals(again.status, 409);
    await again.body?.cancel();
    const receipt = await heldReceipt(fx);
    assertEquals(receipt.approvals.map((a) => [a.decision, a.who, a.reason]), [
      ["allow", "webhook:hook", "approved in CHG-7"],
    ]);
    const refused = fx.log.messages("warn").filter((m) => m.startsWith("webhook callback"));
    assertEquals(refused, [
      "webhook callback refused: bad signature",
      `webhook callback refused: fingerprint does not match approval '${got.body.id}'`,
    ]);
    assert(fx.log.messages("info").includes("webhook callback accepted"));
  });
});

Deno.test("a held POST is denied when the webhook answers 500", async () => {
  await withWebhook(() => new Response("boom", { status: 500 }), async (fx) => {
    const result = await curlOutcome(curlPost(fx));
    assertEquals(result.status, 403);
    assertEquals(
      JSON.parse(result.body).reason,
      "approval stage 'webhook_approver.hook' failed: webhook answered HTTP 500",
    );
    assertEquals(fx.seen.length, 0);
    const receipt = await heldReceipt(fx);
    assertEquals(receipt.verdict, "deny");
    assertEquals(receipt.approvals.map((a) => a.decision), ["deny"]);
  });
});

Deno.test("a 202 never followed by a callback times out as a deny; a late callback is refused", async () => {
  await withWebhook(() => new Response(null, { status: 202 }), async (fx, received) => {
    const result = await curlOutcome(curlPost(fx));
    assertEquals(result.status, 403);
    assertEquals(
      JSON.parse(result.body).reason,
      "approval stage 'webhook_approver.hook' timed out after 500 ms",
    );
    const { id, fingerprint } = received[0].body;
    const late = await handleWebhookCallback(
      await callback(SECRET, { id, fingerprint, decision: "allow", reason: "too late" }),
    );
    assertEquals([late.status, await late.json()], [409, {
      error: `approval '${id}' was already decided`,
    }]);
    assertEquals(fx.seen.length, 0);
  }, "500ms");
});
