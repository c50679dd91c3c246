// `clawpatrol replay`: recorded actions (allowed, denied, held and approved, allowed under an
// observe-mode rule, one with a redacted credential header) re-decided by a tightened and by a
// loosened candidate config. Exact lines, exit codes, and what cannot be replayed.
import { deepEqual, equal } from "node:assert/strict";
import { join } from "node:path";
import { ReceiptStore } from "../src/audit/mod.ts";
import type { ReceiptInput } from "../src/core/mod.ts";
import { redactFacts } from "../src/credentials/mod.ts";
import { completeFacts } from "../src/policy/mod.ts";
import { HTTPS_PROTOCOL } from "../src/protocols/http/mod.ts";
import { cli, withTempDir } from "./_helpers.ts";

const HEAD = `schema_version = 1
gateway {
  state_dir    = "./state"
  proxy_listen = "127.0.0.1:0"
  admin_listen = "127.0.0.1:0"
}
endpoint "https" "api" {
  hosts = ["api.test"]
}
approver "human_approver" "ops" {}
`;

/** What recorded the receipts: reads allowed, deletes denied, posts held, puts observed. */
const RECORDED = `${HEAD}
rule "reads" {
  endpoint  = https.api
  condition = "http.method == 'get'"
  verdict   = "allow"
}
rule "no-deletes" {
  endpoint  = https.api
  condition = "http.method == 'delete'"
  verdict   = "deny"
}
rule "writes-held" {
  endpoint  = https.api
  condition = "http.method == 'post'"
  approve   = [human_approver.ops]
}
`;

function receipt(
  method: string,
  path: string,
  decided: Partial<ReceiptInput>,
  headers: Record<string, string[]> = {},
): ReceiptInput {
  const facts = redactFacts(completeFacts(HTTPS_PROTOCOL, {
    http: { method, host: "api.test", path, headers },
  }));
  return {
    time: new Date(),
    agent: "bot",
    profile: "bots",
    endpoint: "api",
    protocol: "https",
    summary: `${method} api.test${path}`,
    facts,
    rule: null,
    mode: "enforce",
    verdict: "allow",
    wouldBe: "allow",
    reason: "allowed",
    approvals: [],
    upstreamStatus: 200,
    bytesIn: 0,
    bytesOut: 0,
    latencyMs: 1,
    ...decided,
  };
}

async function recordStore(path: string): Promise<void> {
  const store = ReceiptStore.open(path);
  store.record(receipt("GET", "/repos", { rule: "reads" }));
  store.record(
    receipt("DELETE", "/repos/x", { rule: "no-deletes", verdict: "deny", wouldBe: "deny" }),
  );
  store.record(receipt("POST", "/issues", {
    rule: "writes-held",
    approvals: [{
      approver: "human_approver.ops",
      decision: "allow",
      who: "cli:ops",
      reason: "",
      latencyMs: 5,
    }],
  }));
  store.record(receipt("PUT", "/x", { rule: "no-puts", mode: "observe", wouldBe: "deny" }));
  store.record(receipt("GET", "/me", { rule: "reads" }, { authorization: ["Bearer ghp_secret"] }));
  // A refusal before any rule: nothing for a candidate to re-decide.
  store.record({ ...receipt("GET", "/", {}), facts: {}, verdict: "deny", wouldBe: "deny" });
  await store.close();
}

async function replay(dir: string, candidate: string, ...extra: string[]) {
  const path = join(dir, "candidate.hcl");
  await Deno.writeTextFile(path, candidate);
  return await cli(["replay", "-c", path, ...extra]);
}

Deno.test("replay: a tightened candidate shows what it would deny; nothing newly allowed, exit 0", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "state"));
    await recordStore(join(dir, "state", "receipts.db"));
    const tightened = `${RECORDED}
rule "no-repo-reads" {
  endpoint  = https.api
  priority  = 10
  condition = "http.path.startsWith('/repos')"
  verdict   = "deny"
}
rule "no-puts" {
  endpoint  = https.api
  condition = "http.method == 'put'"
  verdict   = "deny"
}
rule "tokens-only-to-me" {
  endpoint  = https.api
  priority  = 20
  condition = "'authorization' in http.headers && http.path != '/me'"
  verdict   = "deny"
}
`;
    const got = await replay(dir, tightened);
    equal(got.code, 0, got.stderr);
    const lines = got.stdout.trim().split("\n");
    equal(
      lines[0].replace(/policy [0-9a-f]{16}/, "policy P"),
      "replayed 6 receipts against policy P: 2 would change, 1 cannot be replayed, 2 the same, 1 decided without rules",
    );
    deepEqual(lines.slice(1).map((l) => l.replace(/rcpt_\w+/, "RCPT")), [
      `allow (rule reads) → deny (rule no-repo-reads): 1 receipt, e.g. RCPT "GET api.test/repos"`,
      `deny (rule no-deletes) → deny (rule no-repo-reads): 1 receipt, e.g. RCPT "DELETE api.test/repos/x"`,
      `cannot replay (rule 'tokens-only-to-me' reads http.headers), was allow (rule reads): 1 receipt, e.g. RCPT "GET api.test/me"`,
    ]);
  });
});

Deno.test("replay: a loosened candidate that allows what was denied or held exits 1, saying so", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "state"));
    await recordStore(join(dir, "state", "receipts.db"));
    const loosened = `${HEAD}
rule "everything" {
  endpoint  = https.api
  condition = "true"
  verdict   = "allow"
}
`;
    const got = await replay(dir, loosened, "--json");
    equal(got.code, 1, got.stderr);
    const report = JSON.parse(got.stdout);
    const changes = report.results.map((
      r: { summary: string; before: { kind: string }; after: { kind: string } },
    ) => `${r.summary}: ${r.before.kind} → ${r.after.kind}`);
    deepEqual(changes.sort(), [
      "DELETE api.test/repos/x: deny → allow",
      "GET api.test/me: allow → allow",
      "GET api.test/repos: allow → allow",
      "POST api.test/issues: approve → allow",
      "PUT api.test/x: deny → allow",
    ]);
    const text = await replay(dir, loosened, "--endpoint", "api", "--agent", "bot");
    equal(text.code, 1);
    equal(text.stdout.split("\n").filter((l) => l.endsWith("NEWLY ALLOWED")).length, 3);
    const other = await replay(dir, loosened, "--agent", "someone-else");
    equal(other.code, 0, "nothing of that agent's to loosen");
  });
});
