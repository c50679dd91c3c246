// The admin API's approval routes, driven through adminHandler with a real ApprovalQueue:
// authentication, listing, deciding, and every refusal.
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { ApprovalQueue } from "../approvals/mod.ts";
import type { ApprovalRequest, StageDecision } from "../core/mod.ts";
import { Metrics } from "./metrics.ts";
import { adminHandler } from "./server.ts";
import { generateAdminToken, hashAdminToken } from "./token.ts";
import { MAX_BODY_BYTES } from "./_approvals.ts";

const TOKEN = generateAdminToken();

function request(id: string): ApprovalRequest {
  return {
    id,
    fingerprint: "ab".repeat(32),
    protocol: "https",
    endpoint: "api",
    agent: { name: "bot", profile: "bots" },
    rule: "writes-need-approval",
    reason: "writes need a human",
    summary: "POST api.test/write",
    facts: { http: { method: "post", host: "api.test", path: "/write" } } as never,
    createdAt: new Date(),
  };
}

/** The operator log lines the handler wrote. */
class Log {
  readonly lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  messages(level: string): string[] {
    return this.lines.filter((l) => l.level === level).map((l) => l.message);
  }
}

interface Fixture {
  queue: ApprovalQueue;
  log: Log;
  call(path: string, init?: RequestInit & { token?: string | null }): Promise<Response>;
  /** Holds `id` in the queue; resolves with the stage's decision. */
  hold(id: string, quorum?: number): Promise<StageDecision>;
  abort: AbortController;
}

function fixture(): Fixture {
  const queue = new ApprovalQueue();
  const log = new Log();
  const handler = adminHandler({
    version: "1.2.3",
    metrics: new Metrics(),
    status: () => ({}),
    approvals: queue,
    adminTokenHash: hashAdminToken(TOKEN),
    log: (level, message, fields) => log.lines.push({ level, message, fields }),
  });
  const abort = new AbortController();
  return {
    queue,
    log,
    abort,
    call: (path, init = {}) => {
      const headers = new Headers(init.headers);
      const token = init.token === undefined ? TOKEN : init.token;
      if (token !== null) headers.set("authorization", `Bearer ${token}`);
      return handler(new Request(`http://127.0.0.1${path}`, { ...init, headers }));
    },
    hold: (id, quorum = 1) =>
      queue.wait(request(id), "human_approver.ops", abort.signal, { quorum }),
  };
}

const decide = (who: string, reason?: string) => ({
  method: "POST",
  body: JSON.stringify({ who, reason }),
});

Deno.test("approval routes answer 401 without a token, never echoing what was sent", async () => {
  const fx = fixture();
  const held = fx.hold("apr_0001");
  for (const path of ["/approvals", "/approvals/apr_0001"]) {
    const res = await fx.call(path, { token: null });
    equal(res.status, 401, path);
    equal(res.headers.get("www-authenticate"), 'Bearer realm="clawpatrol-admin"');
    match((await res.json()).error, /^unauthorized: send 'Authorization: Bearer <admin token>'/);
  }
  const res = await fx.call("/approvals/apr_0001/approve", { ...decide("alice"), token: null });
  equal(res.status, 401);
  await res.body?.cancel();
  equal(fx.queue.list().length, 1, "an unauthenticated approve decided the request");
  fx.abort.abort();
  await held.catch(() => {});
});

Deno.test("approval routes answer 401 to a wrong token, a token of the wrong shape and a non-Bearer scheme", async () => {
  const fx = fixture();
  const wrong = generateAdminToken();
  for (
    const header of [`Bearer ${wrong}`, `Bearer ${TOKEN}x`, `Basic ${btoa(`a:${TOKEN}`)}`, "Bearer"]
  ) {
    const res = await fx.call("/approvals", { headers: { authorization: header }, token: null });
    equal(res.status, 401, header);
    const text = await res.text();
    ok(!text.includes(wrong) && !text.includes(TOKEN), "the 401 echoes the token");
    match(JSON.parse(text).error, /^unauthorized/);
  }
  ok(!JSON.stringify(fx.log.lines).includes(wrong), "the log holds the presented token");
  match(fx.log.messages("warn")[0], /refused a request without a valid admin token/);
});

Deno.test("/healthz and /metrics stay open without a token", async () => {
  const fx = fixture();
  equal((await fx.call("/healthz", { token: null })).status, 200);
  equal((await fx.call("/metrics", { token: null })).status, 200);
});

Deno.test("GET /approvals lists held requests with the fields the CLI prints", async () => {
  const fx = fixture();
  let res = await fx.call("/approvals");
  equal(res.status, 200);
  deepEqual(await res.json(), { approvals: [] });
  const held = fx.hold("apr_0001", 2);
  res = await fx.call("/approvals");
  const { approvals } = await res.json();
  equal(approvals.length, 1);
  const [a] = approvals;
  deepEqual(
    { ...a, since: undefined, waiting_ms: undefined },
    {
      id: "apr_0001",
      fingerprint: "ab".repeat(32),
      agent: "bot",
      profile: "bots",
      endpoint: "api",
      protocol: "https",
      rule: "writes-need-approval",
      reason: "writes need a human",
      summary: "POST api.test/write",
      facts: { http: { method: "post", host: "api.test", path: "/write" } },
      approver: "human_approver.ops",
      quorum: 2,
      allowed_by: [],
      since: undefined,
      waiting_ms: undefined,
    },
  );
  ok(Date.parse(a.since) <= Date.now());
  ok(typeof a.waiting_ms === "number" && a.waiting_ms >= 0);
  res = await fx.call("/approvals/apr_0001");
  equal(res.status, 200);
  equal((await res.json()).id, "apr_0001");
  fx.abort.abort();
  await held.catch(() => {});
});

Deno.test("POST /approvals/ID/approve allows the request as cli:<who>, with the reason", async () => {
  const fx = fixture();
  const held = fx.hold("apr_0001");
  const res = await fx.call("/approvals/apr_0001/approve", decide("alice", "looks fine"));
  equal(res.status, 200);
  deepEqual(await res.json(), {
    result: "decided",
    id: "apr_0001",
    decision: "allow",
    who: "cli:alice",
  });
  deepEqual(await held, { decision: "allow", who: "cli:alice", reason: "looks fine" });
  deepEqual(fx.queue.list(), []);
  match(fx.log.messages("info")[0], /^approval apr_0001: allow by cli:alice$/);
});

Deno.test("POST /approvals/ID/deny denies the request as cli:<who>; without a reason one is made", async () => {
  const fx = fixture();
  let held = fx.hold("apr_0001");
  let res = await fx.call("/approvals/apr_0001/deny", decide("bob", "not today"));
  equal(res.status, 200);
  equal((await res.json()).result, "decided");
  deepEqual(await held, { decision: "deny", who: "cli:bob", reason: "not today" });
  held = fx.hold("apr_0002");
  res = await fx.call("/approvals/apr_0002/deny", { method: "POST", body: '{"who":"bob"}' });
  equal(res.status, 200);
  await res.body?.cancel();
  deepEqual(await held, { decision: "deny", who: "cli:bob", reason: "denied by cli:bob" });
});

Deno.test("deciding an unknown or already decided id answers 404", async () => {
  const fx = fixture();
  for (const path of ["/approvals/apr_nope/approve", "/approvals/not-an-id/deny"]) {
    const res = await fx.call(path, decide("alice"));
    equal(res.status, 404, path);
    const body = await res.json();
    equal(body.result, "unknown");
    match(body.error, /is waiting for approval/);
  }
  equal((await fx.call("/approvals/apr_nope")).status, 404);
  const held = fx.hold("apr_0001");
  equal((await fx.call("/approvals/apr_0001/approve", decide("alice"))).status, 200);
  await held;
  equal((await fx.call("/approvals/apr_0001/approve", decide("alice"))).status, 404);
});

Deno.test("a second vote by the same person answers 409 and does not count towards the quorum", async () => {
  const fx = fixture();
  const held = fx.hold("apr_0001", 2);
  let res = await fx.call("/approvals/apr_0001/approve", decide("alice"));
  equal(res.status, 200);
  equal((await res.json()).result, "recorded");
  res = await fx.call("/approvals/apr_0001/approve", decide("alice"));
  equal(res.status, 409);
  const body = await res.json();
  equal(body.result, "refused");
  match(body.error, /'cli:alice' may not decide request 'apr_0001': already voted/);
  deepEqual(fx.queue.list()[0].allowedBy, ["cli:alice"]);
  res = await fx.call("/approvals/apr_0001/approve", decide("bob"));
  equal((await res.json()).result, "decided");
  deepEqual(await held, {
    decision: "allow",
    who: "cli:alice+cli:bob",
    reason: "approved by cli:alice, cli:bob",
  });
});

Deno.test("wrong methods on approval routes answer 405 with Allow", async () => {
  const fx = fixture();
  const cases: [string, string, string][] = [
    ["/approvals", "POST", "GET, HEAD"],
    ["/approvals/apr_0001", "DELETE", "GET, HEAD"],
    ["/approvals/apr_0001/approve", "GET", "POST"],
    ["/approvals/apr_0001/deny", "PUT", "POST"],
  ];
  for (const [path, method, allow] of cases) {
    const res = await fx.call(path, { method });
    equal(res.status, 405, `${method} ${path}`);
    equal(res.headers.get("allow"), allow);
    deepEqual(await res.json(), { error: "method not allowed" });
  }
  equal((await fx.call("/approvals/apr_0001/maybe", decide("a"))).status, 404);
  equal((await fx.call("/approvals/apr_0001/approve/x", decide("a"))).status, 404);
});

Deno.test("a decision body over 16 KiB answers 413, declared or streamed", async () => {
  const fx = fixture();
  const held = fx.hold("apr_0001");
  const big = JSON.stringify({ who: "alice", reason: "x".repeat(MAX_BODY_BYTES) });
  let res = await fx.call("/approvals/apr_0001/approve", { method: "POST", body: big });
  equal(res.status, 413);
  match((await res.json()).error, /body too large: at most 16384 bytes/);
  // No Content-Length: the limit holds as the bytes stream in.
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < 20; i++) c.enqueue(new Uint8Array(1024).fill(0x20));
      c.close();
    },
  });
  res = await fx.call("/approvals/apr_0001/approve", { method: "POST", body: stream });
  equal(res.status, 413);
  await res.body?.cancel();
  equal(fx.queue.list().length, 1);
  fx.abort.abort();
  await held.catch(() => {});
});

Deno.test("a malformed decision body answers 400 and decides nothing", async () => {
  const fx = fixture();
  const held = fx.hold("apr_0001");
  const bodies: [string, RegExp][] = [
    ["not json", /body is not JSON/],
    ["[1]", /must be a JSON object/],
    ["{}", /"who" must be the operator's user name/],
    ['{"who":""}', /"who" must be/],
    ['{"who":"a b"}', /"who" must be/],
    [`{"who":"${"a".repeat(65)}"}`, /"who" must be/],
    ['{"who":"alice","reason":5}', /"reason" must be a string/],
    ['{"who":"alice","reason":"two\\nlines"}', /without control characters/],
    [`{"who":"alice","reason":"${"r".repeat(1001)}"}`, /too long/],
  ];
  for (const [body, error] of bodies) {
    const res = await fx.call("/approvals/apr_0001/approve", { method: "POST", body });
    equal(res.status, 400, body);
    match((await res.json()).error, error);
  }
  equal(fx.queue.list().length, 1);
  fx.abort.abort();
  await held.catch(() => {});
});

Deno.test("a decision the shared store cannot take answers 503, decides nothing and says why in the log", async () => {
  const log = new Log();
  const queue = new ApprovalQueue();
  const handler = adminHandler({
    version: "1.2.3",
    metrics: new Metrics(),
    status: () => ({}),
    // A shared store's approvals whose store is down: list still answers, decide rejects.
    approvals: {
      list: () => queue.list(),
      decide: () => Promise.reject(new Error("connect ECONNREFUSED 10.0.0.9:5432")),
    },
    adminTokenHash: hashAdminToken(TOKEN),
    log: (level, message, fields) => log.lines.push({ level, message, fields }),
  });
  const abort = new AbortController();
  const held = queue.wait(request("apr_0009"), "human_approver.ops", abort.signal).catch(() => {});
  const res = await handler(
    new Request("http://127.0.0.1/approvals/apr_0009/approve", {
      ...decide("alice"),
      headers: { authorization: `Bearer ${TOKEN}` },
    }),
  );
  equal(res.status, 503);
  match((await res.json()).error, /cannot be recorded right now/);
  equal(queue.list().length, 1, "the request is still held");
  match(
    log.messages("warn").join("\n"),
    /apr_0009: cannot record the decision: connect ECONNREFUSED/,
  );
  abort.abort();
  await held;
});
