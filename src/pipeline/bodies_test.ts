// What receipts keep of request bodies (`gateway.receipts.bodies`), through a real Guard and store.
import { deepEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { queryReceipts, ReceiptStore } from "../audit/mod.ts";
import { loadConfigText } from "../config/mod.ts";
import { type Action, MemoryLogger } from "../core/mod.ts";
import { compilePolicy, completeFacts } from "../policy/mod.ts";
import { protocolOf, PROTOCOLS } from "../protocols/registry.ts";
import { Guard } from "./flow.ts";
import type { BodyKeeping } from "./_bodies.ts";
import { keepBodies } from "./_bodies.ts";

const BODY = JSON.stringify({ title: "é".repeat(40), secret_plan: "x".repeat(100) });

function post(): Action {
  return {
    protocol: "https",
    endpoint: "api",
    agent: { name: "bot", profile: "default" },
    facts: completeFacts(protocolOf("https")!, {
      http: { method: "POST", host: "api.test", path: "/issues", body: BODY },
    }),
    summary: "POST /issues",
  };
}

async function recorded(bodies: BodyKeeping) {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_bodies_" });
  const store = ReceiptStore.open(join(dir, "receipts.db"));
  const policy = compilePolicy(
    await loadConfigText(
      "t.hcl",
      `schema_version = 1
endpoint "https" "api" {
  hosts = ["api.test"]
}
rule "posts" {
  endpoint  = https.api
  condition = "http.body_json.title != ''"
  verdict   = "allow"
}
`,
      { protocols: PROTOCOLS },
    ),
    { protocols: PROTOCOLS },
  );
  try {
    const guard = new Guard(() => policy, store, { log: new MemoryLogger(), bodies: () => bodies });
    const decided = guard.decide(post());
    equal(decided.verdict.decision, "allow", "the rule saw the whole body");
    decided.finish({ upstreamStatus: 201, bytesIn: 0, bytesOut: 0 });
    await store.flushed();
    return queryReceipts(store)[0].facts as {
      http: { body: string; body_json: unknown };
      unknown?: string[];
    };
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("bodies = full keeps the body and its parse", async () => {
  const facts = await recorded({ bodies: "full", sampleBytes: 16 });
  equal(facts.http.body, BODY);
  ok(facts.http.body_json !== null);
  equal(facts.unknown, undefined);
});

Deno.test("bodies = sample keeps the first bytes, whole characters, and says what is missing", async () => {
  const facts = await recorded({ bodies: "sample", sampleBytes: 16 });
  // `{"title":"` is 10 bytes, then two-byte é: 3 fit in the remaining 6.
  equal(facts.http.body, `{"title":"ééé`);
  equal(facts.http.body_json, null, "no parse of what was cut");
  deepEqual(facts.unknown, ["http.body", "http.body_json", "http.graphql"]);
});

Deno.test("bodies = none keeps no body at all", async () => {
  const facts = await recorded({ bodies: "none", sampleBytes: 4096 });
  equal(facts.http.body, "");
  equal(facts.http.body_json, null);
  deepEqual(facts.unknown, ["http.body", "http.body_json", "http.graphql"]);
});

Deno.test("a body within the sample is kept whole; facts without a body are untouched", () => {
  const action = post();
  const kept = keepBodies(action.facts, { bodies: "sample", sampleBytes: 10_000 });
  equal(kept.facts, action.facts);
  deepEqual(kept.dropped, []);
  const sql = { sql: { statement: "select 1" } } as unknown as Action["facts"];
  equal(keepBodies(sql, { bodies: "none", sampleBytes: 1 }).facts, sql);
});
