import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import type { Action, ApprovalStage, HttpFacts, K8sFacts } from "../core/mod.ts";
import { ApprovalReuse, type FallbackKey, fallbackKey } from "./reuse.ts";

const CHAIN = ["human_approver.ops"];
const STAGES: ApprovalStage[] = [
  { approver: "human_approver.ops", decision: "allow", who: "cli:ops", reason: "ok", latencyMs: 9 },
];

interface Exec {
  upgrade?: string;
  agent?: string;
  endpoint?: string;
  pod?: string;
  command?: string[];
  tty?: boolean;
}

/** kubectl's exec upgrade as the gateway sees it: GET for WebSocket, POST for SPDY. */
function exec(o: Exec = {}): Action {
  const upgrade = o.upgrade ?? "websocket";
  const pod = o.pod ?? "web-1";
  const command = o.command ?? ["echo", "hi"];
  const query = { command, container: ["web"], stdout: ["true"], tty: [String(o.tty ?? false)] };
  const http = {
    method: upgrade === "websocket" ? "get" : "post",
    scheme: "https",
    host: "10.0.0.1",
    port: 6443,
    path: `/api/v1/namespaces/default/pods/${pod}/exec`,
    query,
    headers: upgrade === "websocket"
      ? { upgrade: ["websocket"], "sec-websocket-protocol": ["v5.channel.k8s.io"] }
      : { upgrade: ["SPDY/3.1"], "x-stream-protocol-version": ["v4.channel.k8s.io"] },
    body: "",
    body_json: null,
    body_truncated: false,
  } as unknown as HttpFacts;
  const k8s = {
    verb: "exec",
    resource: "pods",
    subresource: "exec",
    namespace: "default",
    name: pod,
    api_group: "",
    api_version: "v1",
    is_resource_request: true,
    params: { command, container: "web", tty: o.tty ?? false },
  } as unknown as K8sFacts;
  return {
    protocol: "kubernetes",
    endpoint: o.endpoint ?? "cluster",
    agent: { name: o.agent ?? "bot", profile: "ops" },
    facts: { http, k8s },
    summary: `exec pods/exec ${pod} -n default -- ${command.join(" ")}`,
  } as Action;
}

function key(o: Exec = {}): FallbackKey {
  return fallbackKey(exec(o), "k8s-exec", CHAIN)!;
}

function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => t += ms };
}

function allowed(reuse: ApprovalReuse, o: Exec = {}) {
  return reuse.remember(key(o), {
    decision: "allow",
    reason: "approved",
    stages: STAGES,
    requestId: "apr_1",
  });
}

Deno.test("fallbackKey() is the same for the WebSocket and SPDY attempts of one exec", () => {
  const ws = key();
  const spdy = key({ upgrade: "SPDY/3.1" });
  assertEquals([ws.upgrade, spdy.upgrade], ["websocket", "spdy/3.1"]);
  assertEquals(ws.key, spdy.key);
  assert(/^[0-9a-f]{64}$/.test(ws.key));
});

Deno.test("fallbackKey() differs by argv, pod, agent, endpoint, tty, rule and chain", () => {
  const base = key().key;
  for (
    const other of [{ command: ["echo", "bye"] }, { pod: "web-2" }, { agent: "other" }, {
      endpoint: "staging",
    }, { tty: true }]
  ) {
    assert(key({ upgrade: "SPDY/3.1", ...other }).key !== base, JSON.stringify(other));
  }
  assert(fallbackKey(exec(), "another-rule", CHAIN)!.key !== base);
  assert(fallbackKey(exec(), "k8s-exec", [...CHAIN, "webhook_approver.bot"])!.key !== base);
});

Deno.test("fallbackKey() is null for actions without an upgrade fallback", () => {
  const plain = exec();
  plain.facts.http!.headers = {};
  assertEquals(fallbackKey(plain, "r", CHAIN), null);
  const get = exec();
  get.facts.k8s!.verb = "get";
  assertEquals(fallbackKey(get, "r", CHAIN), null);
  assertEquals(fallbackKey({ ...exec(), protocol: "https" }, "r", CHAIN), null);
});

Deno.test("ApprovalReuse serves an allow to the SPDY fallback once, after the attempt ended", () => {
  const reuse = new ApprovalReuse();
  const ticket = allowed(reuse);
  // Still in flight (the WebSocket may yet switch protocols): nothing to reuse.
  assertEquals(reuse.take(key({ upgrade: "SPDY/3.1" })), null);
  ticket.arm();
  const got = reuse.take(key({ upgrade: "SPDY/3.1" }));
  assertEquals(got?.decision, "allow");
  assertEquals(got?.stages.map((s) => s.who), ["cli:ops"]);
  assertEquals(got?.requestId, "apr_1");
  assertEquals(got?.note, "reused for the SPDY fallback of the same command");
  // A third attempt asks again.
  assertEquals(reuse.take(key({ upgrade: "SPDY/3.1" })), null);
});

Deno.test("ApprovalReuse never serves a different command, pod, agent or endpoint", () => {
  const reuse = new ApprovalReuse();
  allowed(reuse).arm();
  for (
    const other of [{ command: ["rm", "-rf", "/"] }, { pod: "web-2" }, { agent: "other" }, {
      endpoint: "prod",
    }]
  ) {
    assertEquals(reuse.take(key({ upgrade: "SPDY/3.1", ...other })), null, JSON.stringify(other));
  }
  assertEquals(reuse.size, 1);
});

Deno.test("ApprovalReuse does not serve a retry over the same upgrade protocol", () => {
  const reuse = new ApprovalReuse();
  allowed(reuse).arm();
  assertEquals(reuse.take(key()), null);
});

Deno.test("ApprovalReuse forgets an allow whose upgrade went through (the command ran)", () => {
  const reuse = new ApprovalReuse();
  const ticket = allowed(reuse);
  ticket.revoke();
  ticket.arm();
  assertEquals(reuse.take(key({ upgrade: "SPDY/3.1" })), null);
});

Deno.test("ApprovalReuse does not serve a decision after the window", () => {
  const c = clock();
  const reuse = new ApprovalReuse({ windowMs: 60_000, now: c.now });
  allowed(reuse).arm();
  c.advance(60_001);
  assertEquals(reuse.take(key({ upgrade: "SPDY/3.1" })), null);
  assertEquals(reuse.size, 0);
});

Deno.test("ApprovalReuse carries a deny over as a deny, never as an allow", () => {
  const reuse = new ApprovalReuse();
  const ticket = reuse.remember(key(), {
    decision: "deny",
    reason: "denied by cli:ops",
    stages: [{ ...STAGES[0], decision: "deny" }],
    requestId: "apr_2",
  });
  // Whatever the exchange reports, a deny stays a deny (and needs no arming).
  ticket.arm();
  const got = reuse.take(key({ upgrade: "SPDY/3.1" }));
  assertEquals([got?.decision, got?.reason], ["deny", "denied by cli:ops"]);
  assertEquals(got?.stages.map((s) => s.decision), ["deny"]);
  assertEquals(reuse.take(key({ upgrade: "SPDY/3.1" })), null);
});
