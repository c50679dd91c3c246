// Write-ahead receipts through the guard: what waits for a durable receipt, and what happens
// when it cannot be written.
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { queryReceipts, ReceiptStore } from "../audit/mod.ts";
import { loadConfigText } from "../config/mod.ts";
import { type Action, type Decided, MemoryLogger } from "../core/mod.ts";
import { compilePolicy, completeFacts } from "../policy/mod.ts";
import { Guard } from "./flow.ts";
import { AUDIT_UNAVAILABLE, NOT_FORWARDED } from "./audit.ts";
import { provablyReads } from "./durability.ts";
import { decideSql } from "../protocols/postgres/_decide.ts";
import { loadSqlParser, SqlAnalyzer } from "../protocols/postgres/sql_facts.ts";
import { protocolOf, PROTOCOLS } from "../protocols/registry.ts";

const CONFIG = `schema_version = 1
endpoint "https" "api" {
  hosts = ["api.test"]
}
rule "all" {
  endpoint  = https.api
  condition = "true"
  verdict   = "allow"
}
`;

function http(method: string, extra: Record<string, unknown> = {}): Action {
  return {
    protocol: "https",
    endpoint: "api",
    agent: { name: "bot", profile: "default" },
    facts: completeFacts(protocolOf("https")!, {
      http: { method, host: "api.test", path: "/x", ...extra },
    }),
    summary: `${method} /x`,
  };
}

async function withGuard(
  fn: (guard: Guard, store: ReceiptStore) => Promise<void>,
  durability: "writes" | "all" = "writes",
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_guard_" });
  // A long group-commit interval: a prompt commit can only come from a durable wait.
  const store = ReceiptStore.open(join(dir, "receipts.db"), { commitIntervalMs: 1000 });
  const policy = compilePolicy(await loadConfigText("t.hcl", CONFIG, { protocols: PROTOCOLS }), {
    protocols: PROTOCOLS,
  });
  try {
    await store.ready();
    await fn(
      new Guard(() => policy, store, { log: new MemoryLogger(), durability: () => durability }),
      store,
    );
  } finally {
    await store.close().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("provablyReads: GET/HEAD, SQL plain reads and k8s get/list/watch; nothing else", () => {
  ok(provablyReads(http("get")));
  ok(provablyReads(http("head")));
  ok(!provablyReads(http("post")));
  ok(!provablyReads(http("get", { effective_method: "delete" })), "an override header");
  ok(!provablyReads(http("get", { headers: { upgrade: ["websocket"] } })));
  const sql = (read_only: boolean): Action => ({
    ...http("get"),
    protocol: "postgres",
    facts: completeFacts(protocolOf("postgres")!, { sql: { verb: "select", read_only } }),
  });
  ok(provablyReads(sql(true)));
  ok(!provablyReads(sql(false)));
  const k8s = (verb: string, subresource = ""): Action => ({
    ...http("get"),
    protocol: "kubernetes",
    facts: completeFacts(protocolOf("kubernetes")!, {
      k8s: { verb, subresource },
      http: { method: "get" },
    }),
  });
  ok(provablyReads(k8s("list")));
  ok(!provablyReads(k8s("get", "exec")), "a GET exec opens a shell");
  ok(!provablyReads(k8s("delete")));
  ok(!provablyReads({ ...http("get"), facts: {} }), "no facts: a write");
});

Deno.test("a write is held until its receipt is on disk; a read is not held", async () => {
  await withGuard(async (guard, store) => {
    const read = guard.decide(http("get"));
    equal(read.held, undefined);
    const write = guard.decide(http("post"));
    equal(write.verdict.decision, "allow");
    ok(write.held, "a POST waits for its receipt");
    const settled = await write.held;
    equal(settled.verdict.decision, "allow");
    const onDisk = new DatabaseSync(store.path, { readOnly: true });
    const ids = onDisk.prepare("SELECT id FROM receipts").all().map((r) => r.id);
    onDisk.close();
    ok(ids.includes(write.receipt), "the write's receipt is committed before it is forwarded");
    settled.finish({ upstreamStatus: 201, bytesIn: 5, bytesOut: 9 });
    read.finish({ upstreamStatus: 200, bytesIn: 0, bytesOut: 1 });
    await store.flushed();
    const rows = queryReceipts(store);
    equal(rows.find((r) => r.id === write.receipt)?.upstreamStatus, 201);
  });
});

Deno.test("receipt_durability = all holds reads too", async () => {
  await withGuard(async (guard) => {
    const read = guard.decide(http("get"));
    ok(read.held);
    equal((await read.held).verdict.decision, "allow");
  }, "all");
});

Deno.test("a write whose receipt cannot be committed is denied and recorded as not forwarded", async () => {
  await withGuard(async (guard, store) => {
    const blocker = new DatabaseSync(store.path);
    blocker.exec("BEGIN IMMEDIATE"); // every commit fails: database is locked
    let decided: Decided = guard.decide(http("put"));
    const id = decided.receipt;
    decided = await decided.held!;
    equal(decided.verdict.decision, "deny");
    equal(decided.verdict.reason, AUDIT_UNAVAILABLE);
    equal(decided.receipt, null);
    // Meanwhile every new action is refused at once, reads included.
    const next = guard.decide(http("get"));
    equal(next.verdict.decision, "deny");
    equal(next.verdict.reason, AUDIT_UNAVAILABLE);
    blocker.exec("ROLLBACK");
    blocker.close();
    await store.flushed().catch(() => store.flushed());
    const row = queryReceipts(store).find((r) => r.id === id)!;
    equal(row.outcome?.notRun, true);
    match(row.reason, new RegExp(NOT_FORWARDED));
  });
});

Deno.test("a write denied with its message is recorded as deny, never allow, without waiting", async () => {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_guard_" });
  const store = ReceiptStore.open(join(dir, "receipts.db"), { commitIntervalMs: 1000 });
  const policy = compilePolicy(
    await loadConfigText(
      "t.hcl",
      `schema_version = 1
endpoint "postgres" "pg" {
  host   = "db:5432"
  listen = "127.0.0.1:15432"
}
rule "no-drop" {
  endpoint  = postgres.pg
  condition = "'drop' in sql.verbs"
  verdict   = "deny"
}
rule "rest" {
  endpoint  = postgres.pg
  condition = "true"
  verdict   = "allow"
}
`,
      { protocols: PROTOCOLS },
    ),
    { protocols: PROTOCOLS },
  );
  try {
    await loadSqlParser();
    const guard = new Guard(() => policy, store, { log: new MemoryLogger() });
    const session = {
      endpoint: "pg",
      agent: { name: "bot", profile: "default" },
      credential: "postgres_credential.pg",
      database: "app",
      user: "app",
    };
    // Settled at once: the insert is not left waiting for a commit it no longer needs.
    const outcome = decideSql("insert into t values (1); drop table t", [], {
      actions: guard.session(),
      analyzer: new SqlAnalyzer(),
      session,
    });
    ok(!("held" in outcome));
    ok(outcome.denial);
    await store.flushed();
    const rows = queryReceipts(store);
    equal(rows.length, 2);
    const insert = rows.find((r) => r.summary.startsWith("insert"))!;
    equal(insert.verdict, "deny");
    equal(insert.wouldBe, "allow");
    match(insert.reason, /not run/);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
