import { deepEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { queryReceipts, ReceiptStore } from "../audit/mod.ts";
import { loadConfigText } from "../config/mod.ts";
import { type Action, MemoryLogger } from "../core/mod.ts";
import { compilePolicy, completeFacts, type Policy } from "../policy/mod.ts";
import { Guard } from "./flow.ts";
import { INTERNAL_ERROR } from "./decide.ts";
import { AUDIT_UNAVAILABLE } from "./audit.ts";
import { protocolOf, PROTOCOLS } from "../protocols/registry.ts";

const TOKEN = "ghp_guard_test_0123456789abcdef";

async function policyOf(mode: "enforce" | "observe" = "enforce"): Promise<Policy> {
  return compilePolicy(
    await loadConfigText(
      "guard_test.hcl",
      `schema_version = 1
gateway {
  mode = "${mode}"
}
endpoint "https" "github" {
  hosts = ["api.github.com"]
}
rule "github-reads" {
  endpoint  = https.github
  condition = "http.method == 'get'"
  verdict   = "allow"
}
rule "github-no-deletes" {
  endpoint  = https.github
  condition = "http.method == 'delete'"
  verdict   = "deny"
  reason    = "No deletes"
}
`,
      { protocols: PROTOCOLS },
    ),
    { protocols: PROTOCOLS },
  );
}

function action(method: string, path = "/repos/acme/api"): Action {
  return {
    protocol: "https",
    endpoint: "github",
    agent: { name: "bot", profile: "default" },
    facts: completeFacts(protocolOf("https")!, {
      http: {
        method,
        host: "api.github.com",
        path,
        headers: { Authorization: `Bearer ${TOKEN}`, "X-Api-Key": TOKEN, Accept: "*/*" },
      },
    }),
    summary: `${method} ${path}`,
  };
}

/** A guard over a fresh store in a temp dir; the store is closed and the dir removed after. */
async function withGuard(
  fn: (ctx: { guard: Guard; store: ReceiptStore; log: MemoryLogger }) => Promise<void> | void,
  options: { policy?: () => Policy; maxQueue?: number } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_guard_" });
  const store = ReceiptStore.open(join(dir, "receipts.db"), { maxQueue: options.maxQueue });
  const log = new MemoryLogger();
  const policy = await policyOf();
  try {
    await fn({ guard: new Guard(options.policy ?? (() => policy), store, { log }), store, log });
  } finally {
    await store.close().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("decide() records exactly one receipt per action, matching its verdict", async () => {
  await withGuard(async ({ guard, store }) => {
    const decided = [action("GET"), action("DELETE"), action("GET", "/user")].map((a) =>
      guard.decide(a)
    );
    for (const d of decided) d.finish({ upstreamStatus: 200, bytesIn: 0, bytesOut: 0 });
    await store.flushed();
    // A deny is written at once; an allow when its exchange finishes: order rows by decision.
    const byId = new Map(queryReceipts(store).map((r) => [r.id, r]));
    equal(byId.size, 3);
    const rows = decided.map((d) => byId.get(d.receipt!)!);
    deepEqual(rows.map((r) => r.verdict), ["allow", "deny", "allow"]);
    deepEqual(rows.map((r) => r.rule), ["github-reads", "github-no-deletes", "github-reads"]);
    equal(rows[1].reason, "No deletes");
    equal(rows[1].summary, "DELETE /repos/acme/api");
    equal(rows[0].agent, "bot");
    equal(rows[0].endpoint, "github");
    equal(decided[1].verdict.decision, "deny");
  });
});

Deno.test("decide() denies with AUDIT_UNAVAILABLE, never allows, when the receipt queue is full", async () => {
  await withGuard(async ({ guard, store, log }) => {
    // Fill the one-slot queue: an allowed action holds its receipt's place until finished.
    const first = guard.decide(action("GET"));
    ok(first.receipt);
    const { verdict, receipt } = guard.decide(action("GET"));
    equal(receipt, null);
    equal(verdict.decision, "deny");
    equal(verdict.wouldBe, "deny");
    equal(verdict.reason, AUDIT_UNAVAILABLE);
    equal(verdict.rule, "github-reads");
    const errors = log.messages("error");
    equal(errors.length, 1);
    ok(errors[0].startsWith("receipt not recorded, denying: Receipt queue is full"), errors[0]);
    first.finish({ upstreamStatus: 200, bytesIn: 0, bytesOut: 0 });
    await store.flushed();
    equal(queryReceipts(store).length, 1, "the refused action left no receipt");
  }, { maxQueue: 1 });
});

Deno.test("decide() denies with AUDIT_UNAVAILABLE when the receipt store is closed", async () => {
  await withGuard(async ({ guard, store, log }) => {
    await store.close();
    const { verdict, receipt } = guard.decide(action("GET"));
    equal(receipt, null);
    equal(verdict.decision, "deny");
    equal(verdict.reason, AUDIT_UNAVAILABLE);
    ok(log.messages("error").some((m) => m.includes("is closed")), log.messages().join("\n"));
  });
});

Deno.test("decide() denies with AUDIT_UNAVAILABLE in observe mode too", async () => {
  const observe = await policyOf("observe");
  await withGuard(async ({ guard, store }) => {
    await store.close();
    const { verdict, receipt } = guard.decide(action("DELETE"));
    equal(receipt, null);
    equal(verdict.decision, "deny");
  }, { policy: () => observe });
});

Deno.test("decide() denies with INTERNAL_ERROR, and records it, when the policy throws", async () => {
  await withGuard(async ({ guard, store, log }) => {
    const { verdict, receipt } = guard.decide(action("GET"));
    equal(verdict.decision, "deny");
    equal(verdict.reason, INTERNAL_ERROR);
    equal(verdict.rule, null);
    ok(receipt);
    await store.flushed();
    const [row] = queryReceipts(store);
    equal(row.id, receipt);
    equal(row.verdict, "deny");
    ok(row.reason.startsWith(INTERNAL_ERROR), row.reason);
    ok(log.messages("warn").some((m) => m.includes("policy exploded")), "operator sees detail");
  }, {
    policy: () => {
      throw new Error("policy exploded");
    },
  });
});

Deno.test("decide() stores credential headers redacted; the token never reaches the receipt row", async () => {
  await withGuard(async ({ guard, store }) => {
    guard.decide(action("GET")).finish({ upstreamStatus: 200, bytesIn: 0, bytesOut: 0 });
    guard.decide(action("DELETE"));
    await store.flushed();
    const [row] = queryReceipts(store).filter((r) => r.verdict === "allow");
    const headers = (row.facts as { http: { headers: Record<string, string[]> } }).http.headers;
    deepEqual(headers.authorization, ["Bearer [redacted]"]);
    deepEqual(headers["x-api-key"], ["[redacted]"]);
    deepEqual(headers.accept, ["*/*"], "other headers are kept");

    const db = new DatabaseSync(store.path, { readOnly: true });
    try {
      const raw = JSON.stringify(db.prepare("SELECT * FROM receipts").all());
      equal(raw.includes(TOKEN), false, "token found in a receipt row");
      ok(raw.includes("Bearer [redacted]"));
    } finally {
      db.close();
    }
  });
});

Deno.test("decide() in observe mode allows a deny but records verdict allow, would-be deny", async () => {
  const observe = await policyOf("observe");
  await withGuard(async ({ guard, store }) => {
    const { verdict, receipt, finish } = guard.decide(action("DELETE"));
    equal(verdict.decision, "allow");
    equal(verdict.wouldBe, "deny");
    finish({ upstreamStatus: 204, bytesIn: 0, bytesOut: 0 });
    await store.flushed();
    const [row] = queryReceipts(store);
    equal(row.id, receipt);
    equal(row.verdict, "allow");
    equal(row.wouldBe, "deny");
    equal(row.mode, "observe");
    equal(row.rule, "github-no-deletes");
  }, { policy: () => observe });
});

Deno.test("decide() reads the policy on every call, so a swapped policy applies at once", async () => {
  const enforce = await policyOf("enforce");
  const observe = await policyOf("observe");
  let current = enforce;
  await withGuard(({ guard }) => {
    equal(guard.decide(action("DELETE")).verdict.decision, "deny");
    current = observe;
    equal(guard.decide(action("DELETE")).verdict.decision, "allow");
  }, { policy: () => current });
});

Deno.test("decide() keeps a credential out of the deny detail it logs and records", async () => {
  // A rule that builds a regex from the Authorization header: the evaluation error quotes it.
  const leaky = compilePolicy(
    await loadConfigText(
      "leaky.hcl",
      `schema_version = 1
endpoint "https" "github" {
  hosts = ["api.github.com"]
}
rule "leaky" {
  endpoint  = https.github
  condition = "http.path.matches(http.headers['authorization'][0] + '(')"
  verdict   = "allow"
}
`,
      { protocols: PROTOCOLS },
    ),
    { protocols: PROTOCOLS },
  );
  await withGuard(async ({ guard, store, log }) => {
    const { verdict } = guard.decide(action("GET"));
    equal(verdict.decision, "deny");
    ok(verdict.detail, "the operator still gets a detail");
    equal(verdict.detail.includes(TOKEN), false, verdict.detail);
    await store.flushed();
    const [row] = queryReceipts(store);
    equal(row.reason.includes(TOKEN), false, row.reason);
    ok(row.reason.includes("[redacted]"), row.reason);
    const logged = JSON.stringify(log.lines);
    equal(logged.includes(TOKEN), false, logged);
  }, { policy: () => leaky });
});

Deno.test("an allowed action's receipt is written ahead; finish() adds status, bytes and latency", async () => {
  await withGuard(async ({ guard, store }) => {
    const decided = guard.decide(action("GET"));
    ok(decided.receipt);
    await store.flushed();
    const [ahead] = queryReceipts(store);
    equal(ahead.id, decided.receipt, "written before the exchange ended");
    equal(ahead.outcome, null, "with no outcome yet");
    await new Promise((r) => setTimeout(r, 20));
    decided.finish({ upstreamStatus: 502, bytesIn: 10, bytesOut: 0, error: "upstream refused" });
    decided.finish({ upstreamStatus: 200, bytesIn: 0, bytesOut: 0 });
    await store.flushed();
    const rows = queryReceipts(store);
    equal(rows.length, 1, "a second finish() must not write a second receipt");
    equal(rows[0].id, decided.receipt);
    equal(rows[0].upstreamStatus, 502);
    equal(rows[0].bytesIn, 10);
    ok(rows[0].latencyMs >= 15, `latency ${rows[0].latencyMs} covers the exchange`);
    ok(rows[0].reason.endsWith("(upstream refused)"), rows[0].reason);
  });
});

Deno.test("refuse() records a rule-less deny naming the reason and agent", async () => {
  await withGuard(async ({ guard, store }) => {
    const receipt = guard.refuse({
      protocol: "https",
      endpoint: null,
      agent: { name: "bot", profile: "p" },
      summary: "CONNECT evil.example:443",
      reason: "no endpoint claims evil.example",
    });
    ok(receipt);
    await store.flushed();
    const [row] = queryReceipts(store);
    equal(row.id, receipt);
    equal(row.verdict, "deny");
    equal(row.rule, null);
    equal(row.agent, "bot");
    equal(row.summary, "CONNECT evil.example:443");
  });
});

Deno.test("pass() reserves an allow receipt finished with byte counts; a full queue turns it into a deny", async () => {
  await withGuard(async ({ guard, store }) => {
    const event = {
      protocol: "https" as const,
      endpoint: null,
      agent: { name: "bot", profile: "p" },
      summary: "CONNECT example.org:443 (passthrough)",
      reason: "unknown host passed through",
    };
    const passed = guard.pass(event);
    equal(passed.verdict.decision, "allow");
    const refused = guard.pass(event);
    equal(refused.verdict.decision, "deny");
    equal(refused.verdict.reason, AUDIT_UNAVAILABLE);
    passed.finish({ upstreamStatus: null, bytesIn: 100, bytesOut: 2000 });
    await store.flushed();
    const [row] = queryReceipts(store);
    equal(row.verdict, "allow");
    equal(row.bytesOut, 2000);
  }, { maxQueue: 1 });
});

Deno.test("the decision observer sees every verdict with its protocol", async () => {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_guard_" });
  const store = ReceiptStore.open(join(dir, "receipts.db"));
  const policy = await policyOf();
  const seen: string[] = [];
  const guard = new Guard(() => policy, store, {
    log: new MemoryLogger(),
    observe: (protocol, verdict, ms, waitMs) => {
      ok(ms >= 0);
      equal(waitMs, null);
      seen.push(`${protocol}:${verdict.decision}:${verdict.rule}`);
    },
  });
  try {
    guard.decide(action("GET")).finish({ upstreamStatus: 200, bytesIn: 0, bytesOut: 0 });
    guard.decide(action("DELETE"));
    guard.refuse({ protocol: "https", endpoint: null, agent: null, summary: "x", reason: "y" });
    deepEqual(seen, [
      "https:allow:github-reads",
      "https:deny:github-no-deletes",
      "https:deny:null",
    ]);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the decision metric and a deny's receipt give the same decision latency", async () => {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_guard_" });
  const store = ReceiptStore.open(join(dir, "receipts.db"));
  const policy = await policyOf();
  // Every reading of this clock moves it on: two readings for one decision would disagree.
  let clock = 0;
  const observed: number[] = [];
  const guard = new Guard(() => policy, store, {
    log: new MemoryLogger(),
    now: () => (clock += 1.5),
    observe: (_protocol, _verdict, ms) => observed.push(ms),
  });
  try {
    guard.decide(action("DELETE"));
    await store.flushed();
    const [row] = queryReceipts(store);
    equal(row.verdict, "deny");
    deepEqual(observed, [row.latencyMs]);
    equal(row.latencyMs, 1.5);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("finishOpen() writes the receipt of every allowed action still open, marked cut short", async () => {
  await withGuard(async ({ guard, store }) => {
    const open = guard.decide(action("GET"));
    guard.decide(action("GET")).finish({ upstreamStatus: 200, bytesIn: 0, bytesOut: 0 });
    equal(guard.open, 1);
    guard.finishOpen();
    equal(guard.open, 0);
    open.finish({ upstreamStatus: 200, bytesIn: 0, bytesOut: 0 });
    await store.flushed();
    const rows = queryReceipts(store);
    equal(rows.length, 2);
    const cut = rows.find((r) => r.id === open.receipt)!;
    ok(cut.reason.endsWith("(gateway stopped before the exchange ended)"), cut.reason);
    equal(cut.upstreamStatus, null);
  });
});
