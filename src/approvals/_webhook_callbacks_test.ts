import { deepStrictEqual as assertEquals, ok as assert, rejects, throws } from "node:assert/strict";
import { decisionOf, MAX_CALLBACK_BYTES, WebhookCallbacks } from "./_webhook_callbacks.ts";
import {
  SIGNATURE_HEADER,
  signWebhook,
  TIMESTAMP_HEADER,
  webhookKey,
} from "./_webhook_signature.ts";

const FP = "a".repeat(64);
const now = () => Math.floor(Date.now() / 1000);

interface CallbackOptions {
  timestamp?: number;
  /** Overrides the computed signature. */
  signature?: string;
}

async function signedRequest(
  key: CryptoKey,
  body: unknown,
  options: CallbackOptions = {},
): Promise<Request> {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  const timestamp = options.timestamp ?? now();
  return new Request("http://admin.test/approvals/webhook", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      [TIMESTAMP_HEADER]: String(timestamp),
      [SIGNATURE_HEADER]: options.signature ?? await signWebhook(key, timestamp, text),
    },
    body: text,
  });
}

async function send(
  callbacks: WebhookCallbacks,
  req: Request,
): Promise<{ status: number; body: Record<string, string> }> {
  const res = await callbacks.handle(req);
  return { status: res.status, body: await res.json() };
}

/** A registry with one approval waiting for `webhook_approver.hook`. */
async function waiting(id = "apr_1") {
  const callbacks = new WebhookCallbacks();
  const key = await webhookKey("whsec_hook");
  const wait = callbacks.open(id, {
    approver: "webhook_approver.hook",
    who: "webhook:hook",
    fingerprint: FP,
    key,
  });
  return { callbacks, key, wait };
}

const allow = { id: "apr_1", fingerprint: FP, decision: "allow", reason: "looks fine" };

Deno.test("a signed callback for a waiting id decides it, recorded as webhook:<name>", async () => {
  const { callbacks, key, wait } = await waiting();
  const res = await send(callbacks, await signedRequest(key, allow));
  assertEquals([res.status, res.body], [200, { status: "accepted" }]);
  assertEquals(await wait.answer, { decision: "allow", who: "webhook:hook", reason: "looks fine" });
  wait.close();
  assertEquals(callbacks.size, 0);
});

Deno.test("a callback with a bad signature is 401 and the approval keeps waiting", async () => {
  const { callbacks, key, wait } = await waiting();
  const forged = await signedRequest(await webhookKey("guessed"), allow);
  assertEquals((await send(callbacks, forged)).status, 401);
  const tampered = await signedRequest(key, allow, {
    signature: await signWebhook(key, now(), JSON.stringify({ ...allow, decision: "deny" })),
  });
  const res = await send(callbacks, tampered);
  assertEquals([res.status, res.body.error], [401, "bad signature"]);
  const unsigned = new Request("http://admin.test/approvals/webhook", {
    method: "POST",
    body: JSON.stringify(allow),
  });
  assertEquals((await send(callbacks, unsigned)).status, 401);
  assert(callbacks.has("apr_1"));
  assertEquals((await send(callbacks, await signedRequest(key, allow))).status, 200);
  assertEquals((await wait.answer).decision, "allow");
  wait.close();
});

Deno.test("a callback signed more than five minutes ago (or ahead) is 401", async () => {
  const { callbacks, key, wait } = await waiting();
  const old = await send(callbacks, await signedRequest(key, allow, { timestamp: now() - 301 }));
  assertEquals([old.status, old.body.error], [401, "timestamp outside the 5-minute window"]);
  const ahead = await send(callbacks, await signedRequest(key, allow, { timestamp: now() + 400 }));
  assertEquals(ahead.status, 401);
  assert(callbacks.has("apr_1"));
  wait.close();
});

Deno.test("a callback for another fingerprint is 409 and decides nothing", async () => {
  const { callbacks, key, wait } = await waiting();
  const other = { ...allow, fingerprint: "b".repeat(64) };
  const res = await send(callbacks, await signedRequest(key, other));
  assertEquals([res.status, res.body.error], [409, "fingerprint does not match approval 'apr_1'"]);
  assert(callbacks.has("apr_1"));
  const deny = { ...allow, decision: "deny", reason: "no" };
  assertEquals((await send(callbacks, await signedRequest(key, deny))).status, 200);
  assertEquals(await wait.answer, { decision: "deny", who: "webhook:hook", reason: "no" });
  wait.close();
});

Deno.test("a callback for an id nobody waits for is 404", async () => {
  const { callbacks, key, wait } = await waiting();
  const res = await send(callbacks, await signedRequest(key, { ...allow, id: "apr_nope" }));
  assertEquals([res.status, res.body.error], [404, "no approval 'apr_nope' is waiting"]);
  wait.close();
});

Deno.test("a replayed callback, or a second decision for a settled id, is 409", async () => {
  const { callbacks, key, wait } = await waiting();
  const first = await signedRequest(key, allow);
  const replay = first.clone();
  assertEquals((await send(callbacks, first)).status, 200);
  // Before the approver closes its wait, and after.
  const again = await send(callbacks, replay.clone());
  assertEquals([again.status, again.body.error], [409, "replayed callback"]);
  wait.close();
  assertEquals((await send(callbacks, replay)).status, 409);
  const second = { ...allow, decision: "deny", reason: "changed my mind" };
  const late = await send(callbacks, await signedRequest(key, second, { timestamp: now() - 1 }));
  assertEquals([late.status, late.body.error], [409, "approval 'apr_1' was already decided"]);
  assertEquals((await wait.answer).decision, "allow");
  // Knowing the id is not enough to learn that: an unsigned caller still gets 401.
  const forged = await send(callbacks, await signedRequest(await webhookKey("x"), second));
  assertEquals(forged.status, 401);
});

Deno.test("the same id waiting for a later webhook stage is not decided with the earlier stage's key", async () => {
  const { callbacks, key: first, wait } = await waiting();
  wait.settle({ decision: "allow", who: "webhook:hook", reason: "ok" });
  wait.close();
  const second = await webhookKey("whsec_other");
  const next = callbacks.open("apr_1", {
    approver: "webhook_approver.other",
    who: "webhook:other",
    fingerprint: FP,
    key: second,
  });
  const stale = await send(callbacks, await signedRequest(first, allow));
  assertEquals(stale.status, 409);
  assert(callbacks.has("apr_1"));
  assertEquals((await send(callbacks, await signedRequest(second, allow))).status, 200);
  assertEquals((await next.answer).who, "webhook:other");
  next.close();
});

Deno.test("malformed callbacks are 400, oversized 413, other methods 405", async () => {
  const { callbacks, key, wait } = await waiting();
  const cases: [unknown, string][] = [
    ["not json", "body is not JSON"],
    [[1, 2], "'id' must be a string"],
    [{ ...allow, id: 7 }, "'id' must be a string"],
    [{ ...allow, fingerprint: undefined }, "'fingerprint' must be a string"],
    [{ ...allow, decision: "pass" }, `'decision' must be "allow" or "deny", got "pass"`],
    [{ ...allow, decision: "ALLOW" }, `'decision' must be "allow" or "deny", got "ALLOW"`],
    [{ ...allow, reason: 5 }, "'reason' must be a string"],
  ];
  for (const [body, error] of cases) {
    const res = await send(callbacks, await signedRequest(key, body));
    assertEquals([res.status, res.body.error], [400, error], JSON.stringify(body));
  }
  const big = { ...allow, reason: "x".repeat(MAX_CALLBACK_BYTES) };
  assertEquals((await send(callbacks, await signedRequest(key, big))).status, 413);
  const get = new Request("http://admin.test/approvals/webhook");
  assertEquals((await send(callbacks, get)).status, 405);
  assert(callbacks.has("apr_1"), "nothing malformed decided the approval");
  wait.close();
});

Deno.test("a closed wait stops accepting callbacks and fails whoever still awaits it", async () => {
  const { callbacks, key, wait } = await waiting();
  wait.close();
  assertEquals(callbacks.size, 0);
  await rejects(wait.answer, /closed/);
  assertEquals((await send(callbacks, await signedRequest(key, allow))).status, 409);
  assertEquals(wait.settle({ decision: "allow", who: "x", reason: "" }), false);
});

Deno.test("only one wait per id at a time", async () => {
  const { callbacks, key, wait } = await waiting();
  const again = () =>
    callbacks.open("apr_1", { approver: "a", who: "webhook:a", fingerprint: FP, key });
  throws(again, /approval 'apr_1' is already waiting for a webhook/);
  wait.close();
});

Deno.test("decisionOf() accepts only allow or deny, and tidies the reason", () => {
  assertEquals(decisionOf({ decision: "deny", reason: "no\nway\u0000" }), {
    decision: "deny",
    reason: "no way",
  });
  assertEquals(decisionOf({ decision: "allow" }), {
    decision: "allow",
    reason: "webhook answered allow",
  });
  assertEquals(decisionOf({ decision: "allow", reason: "r".repeat(900) }), {
    decision: "allow",
    reason: "r".repeat(500),
  });
  assertEquals(decisionOf({}), `'decision' must be "allow" or "deny", got nothing`);
  assertEquals(decisionOf("allow"), "expected a JSON object {decision, reason}");
  assertEquals(decisionOf(null), "expected a JSON object {decision, reason}");
});
