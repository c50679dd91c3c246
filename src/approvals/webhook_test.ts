import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import type { ApprovalRequest } from "../core/mod.ts";
import type { Approver as ApproverConfig, Config } from "../config/mod.ts";
import type { ApproverDeps } from "./approvals.ts";
import { ApprovalQueue } from "./queue.ts";
import {
  SIGNATURE_HEADER,
  signWebhook,
  TIMESTAMP_HEADER,
  WebhookApprover,
  WebhookCallbacks,
  webhookKey,
} from "./webhook.ts";

const SECRET = "whsec_0123456789abcdef";

/** One request as the receiver saw it. */
interface Received {
  /** Whether the signature matched an HMAC computed by the receiver itself. */
  verified: boolean;
  timestamp: number;
  body: Record<string, unknown>;
}

/**
 * A webhook receiver on a real socket: checks the gateway's signature with its own WebCrypto
 * code, records the request, and answers with `answer`.
 */
async function withReceiver(
  answer: (got: Received) => Response | Promise<Response>,
  fn: (url: string, received: Received[]) => Promise<void>,
): Promise<void> {
  const received: Received[] = [];
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey(
    "raw",
    enc.encode(SECRET),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const text = await req.text();
    const timestamp = req.headers.get(TIMESTAMP_HEADER) ?? "";
    const hex = (req.headers.get(SIGNATURE_HEADER) ?? "").replace(/^v1=/, "");
    const mac = new Uint8Array((hex.match(/../g) ?? []).map((h) => parseInt(h, 16)));
    const verified = req.headers.get("content-type") === "application/json" &&
      await crypto.subtle.verify("HMAC", key, mac, enc.encode(`${timestamp}.${text}`));
    const got = { verified, timestamp: Number(timestamp), body: JSON.parse(text) };
    received.push(got);
    if (!verified) return new Response("bad signature", { status: 401 });
    return answer(got);
  });
  try {
    await fn(`http://127.0.0.1:${server.addr.port}/approve`, received);
  } finally {
    await server.shutdown();
  }
}

function request(id = `apr_${crypto.randomUUID().slice(0, 8)}`): ApprovalRequest {
  return {
    id,
    fingerprint: "f".repeat(64),
    protocol: "https",
    endpoint: "api",
    agent: { name: "bot", profile: "bots" },
    rule: "writes-need-approval",
    reason: "writes need a webhook",
    summary: "POST api.test/write",
    facts: {
      agent: { name: "bot", profile: "bots" },
      http: { method: "post", port: 443n, path: "/write" },
    } as unknown as ApprovalRequest["facts"],
    createdAt: new Date("2025-01-02T03:04:05Z"),
  };
}

interface Harness {
  hook: WebhookApprover;
  callbacks: WebhookCallbacks;
  logs: string[];
}

function harness(url: string, options: { secret?: string | null; credential?: string } = {}) {
  const logs: string[] = [];
  const config: ApproverConfig = {
    kind: "webhook_approver",
    name: "hook",
    timeoutMs: null,
    settings: { url, credential: options.credential ?? "webhook_secret.hook" },
    source: { file: "t.hcl", line: 1 },
  };
  const deps: ApproverDeps = {
    queue: new ApprovalQueue(),
    secret: (name) =>
      Promise.resolve(
        name === "hook" ? (options.secret === undefined ? SECRET : options.secret) : null,
      ),
    fetch: globalThis.fetch,
    log: (level, message, fields) => logs.push(`${level} ${message} ${JSON.stringify(fields)}`),
    defaults: {} as Config["defaults"],
  };
  const callbacks = new WebhookCallbacks();
  return { hook: new WebhookApprover(config, deps, { callbacks }), callbacks, logs } as Harness;
}

const never = new AbortController().signal;

Deno.test("decide() posts the signed request and takes a 200 allow as the stage's answer", async () => {
  await withReceiver(() => Response.json({ decision: "allow", reason: "ticket OPS-1" }), async (
    url,
    received,
  ) => {
    const { hook, callbacks, logs } = harness(url);
    const req = request();
    const answer = await hook.decide(req, never);
    assertEquals(answer, { decision: "allow", who: "webhook:hook", reason: "ticket OPS-1" });
    assertEquals(received.length, 1);
    const [got] = received;
    assert(got.verified, "the receiver's own HMAC check passed");
    assert(Math.abs(got.timestamp - Date.now() / 1000) < 5);
    assertEquals(got.body.id, req.id);
    assertEquals(got.body.fingerprint, req.fingerprint);
    assertEquals(got.body.summary, "POST api.test/write");
    assertEquals(got.body.agent, { name: "bot", profile: "bots" });
    assertEquals(got.body.created_at, "2025-01-02T03:04:05.000Z");
    assertEquals((got.body.facts as { http: { port: number } }).http.port, 443);
    assertEquals(
      (got.body.callback as { hint: string }).hint,
      "POST the decision to /approvals/webhook on the gateway's admin API",
    );
    assertEquals(callbacks.size, 0, "a decided request stops waiting for callbacks");
    assert(!logs.join("\n").includes(SECRET));
  });
});

Deno.test("decide() takes a 200 deny as a deny with the receiver's reason", async () => {
  await withReceiver(
    () => Response.json({ decision: "deny", reason: "outside the change window" }),
    async (url) => {
      const answer = await harness(url).hook.decide(request(), never);
      assertEquals(answer, {
        decision: "deny",
        who: "webhook:hook",
        reason: "outside the change window",
      });
    },
  );
});

Deno.test("decide() after a 202 waits for the signed callback, and ignores a bad one", async () => {
  await withReceiver(() => new Response(null, { status: 202 }), async (url, received) => {
    const { hook, callbacks } = harness(url);
    const req = request();
    const pending = hook.decide(req, never);
    let settled = false;
    pending.finally(() => settled = true);
    while (!callbacks.has(req.id) || received.length === 0) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const body = JSON.stringify({
      id: req.id,
      fingerprint: req.fingerprint,
      decision: "allow",
      reason: "approved in the ticket",
    });
    const post = async (secret: string) => {
      const ts = Math.floor(Date.now() / 1000);
      const res = await callbacks.handle(
        new Request("http://admin.test/approvals/webhook", {
          method: "POST",
          headers: {
            [TIMESTAMP_HEADER]: String(ts),
            [SIGNATURE_HEADER]: await signWebhook(await webhookKey(secret), ts, body),
          },
          body,
        }),
      );
      await res.body?.cancel();
      return res.status;
    };
    assertEquals(await post("wrong secret"), 401);
    await new Promise((r) => setTimeout(r, 20));
    assert(!settled, "a forged callback decided nothing");
    assertEquals(await post(SECRET), 200);
    assertEquals(await pending, {
      decision: "allow",
      who: "webhook:hook",
      reason: "approved in the ticket",
    });
    assertEquals(callbacks.size, 0);
  });
});

Deno.test("decide() rejects when the receiver answers 500, so the chain denies", async () => {
  await withReceiver(() => new Response("oops", { status: 500 }), async (url) => {
    const { hook, callbacks } = harness(url);
    await rejects(hook.decide(request(), never), { message: "webhook answered HTTP 500" });
    assertEquals(callbacks.size, 0);
  });
});

Deno.test("decide() rejects a reply that is not JSON, or not exactly allow/deny", async () => {
  const replies: [() => Response, RegExp][] = [
    [() => new Response("<html>ok</html>"), /: webhook reply is not JSON$/],
    [() => Response.json({ decision: "pass" }), /'decision' must be "allow" or "deny", got "pass"/],
    [() => Response.json({ decision: "yes" }), /got "yes"/],
    [() => Response.json({ approved: true }), /got nothing/],
    [() => Response.json({ decision: "allow", reason: 1 }), /'reason' must be a string/],
    [() => Response.json(["allow"]), /expected a JSON object/],
    [() => new Response("x".repeat(70_000)), /larger than 65536 bytes/],
    [() => Response.redirect("http://127.0.0.1:1/elsewhere", 307), /webhook answered HTTP 307/],
  ];
  for (const [reply, message] of replies) {
    await withReceiver(reply, async (url) => {
      await rejects(harness(url).hook.decide(request(), never), message);
    });
  }
});

Deno.test("decide() rejects naming the credential when the vault has no secret", async () => {
  await withReceiver(() => Response.json({ decision: "allow" }), async (url, received) => {
    const { hook, logs } = harness(url, { secret: null });
    await rejects(hook.decide(request(), never), {
      message: "credential 'hook' has no value in the vault",
    });
    assertEquals(received.length, 0, "nothing unsigned was sent");
    assert(logs.some((l) => l.includes("clawpatrol vault set hook")), logs.join("\n"));
  });
});

Deno.test("decide() rejects when the approver names no credential", async () => {
  const logs: string[] = [];
  const hook = new WebhookApprover({
    kind: "webhook_approver",
    name: "hook",
    timeoutMs: null,
    settings: { url: "http://127.0.0.1:1/approve" },
    source: { file: "t.hcl", line: 1 },
  }, {
    queue: new ApprovalQueue(),
    secret: () => Promise.resolve(SECRET),
    fetch: () => Promise.reject(new Error("must not be called")),
    log: (_level, message) => logs.push(message),
    defaults: {} as Config["defaults"],
  });
  assert(logs.some((l) => l.includes("has no credential")), "warned when built");
  await rejects(hook.decide(request(), never), {
    message: "approver 'webhook_approver.hook' has no credential",
  });
});

Deno.test("decide() rejects when the receiver is unreachable, without the URL in the reason", async () => {
  const port = (() => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const p = (l.addr as Deno.NetAddr).port;
    l.close();
    return p;
  })();
  const { hook, logs } = harness(`http://127.0.0.1:${port}/approve?token=abc`);
  await rejects(hook.decide(request(), never), { message: "webhook unreachable" });
  const line = logs.find((l) => l.includes("webhook unreachable"))!;
  assert(line.includes(`127.0.0.1:${port}/approve`) && !line.includes("token=abc"), line);
});

Deno.test("an aborted decide() stops waiting: the id leaves the registry and callbacks are refused", async () => {
  await withReceiver(() => new Response(null, { status: 202 }), async (url, received) => {
    const { hook, callbacks } = harness(url);
    const req = request();
    const stage = new AbortController();
    const pending = hook.decide(req, stage.signal);
    while (received.length === 0) await new Promise((r) => setTimeout(r, 5));
    assert(callbacks.has(req.id));
    stage.abort();
    await rejects(pending, /cancelled/);
    assertEquals(callbacks.size, 0);
    const body = JSON.stringify({ id: req.id, fingerprint: req.fingerprint, decision: "allow" });
    const ts = Math.floor(Date.now() / 1000);
    const res = await callbacks.handle(
      new Request("http://admin.test/approvals/webhook", {
        method: "POST",
        headers: {
          [TIMESTAMP_HEADER]: String(ts),
          [SIGNATURE_HEADER]: await signWebhook(await webhookKey(SECRET), ts, body),
        },
        body,
      }),
    );
    assertEquals(res.status, 409);
    await res.body?.cancel();
  });
});

Deno.test("an aborted decide() also cancels a POST still in flight", async () => {
  let release!: () => void;
  const hung = new Promise<void>((r) => release = r);
  await withReceiver(async () => {
    await hung;
    return Response.json({ decision: "allow" });
  }, async (url, received) => {
    const { hook, callbacks } = harness(url);
    const stage = new AbortController();
    const pending = hook.decide(request(), stage.signal);
    while (received.length === 0) await new Promise((r) => setTimeout(r, 5));
    stage.abort();
    await rejects(pending, /cancelled/);
    assertEquals(callbacks.size, 0);
    release();
  });
});
