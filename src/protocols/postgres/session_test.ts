// Transcript tests of the Postgres session state machine: wire bytes and peer events in, the
// commands it emits out, with no socket. Statements are decided by a real SQL analyzer and a
// recording ledger (drop denies, update waits for an approval the test releases).
import assert from "node:assert/strict";
import type {
  Action,
  Decided,
  ExchangeResult,
  SessionActions,
  SessionCommand,
  Verdict,
} from "../../core/mod.ts";
import { concatBytes } from "../../core/mod.ts";
import { query, sync, terminate, Writer } from "./_encode.ts";
import { errorResponse, parseErrorFields, readyForQuery } from "./_backend.ts";
import { FrontendDecoder } from "./_frontend.ts";
import { PostgresSession } from "./session.ts";
import { loadSqlParser, SqlAnalyzer } from "./sql_facts.ts";

await loadSqlParser();
const analyzer = new SqlAnalyzer();
const text = new TextDecoder();

// --- wire messages ---------------------------------------------------------------------------

const parse = (name: string, sql: string) =>
  new Writer("P").cstring(name).cstring(sql).int16(0).finish();
const bind = (portal: string, statement: string) =>
  new Writer("B").cstring(portal).cstring(statement).int16(0).int16(0).int16(0).finish();
const execute = (portal = "") => new Writer("E").cstring(portal).int32(0).finish();
const complete = (tag: string) => new Writer("C").cstring(tag).finish();
const row = (value: string) =>
  new Writer("D").int16(1).int32(value.length).bytes(new TextEncoder().encode(value)).finish();
const parseComplete = () => new Writer("1").finish();
const bindComplete = () => new Writer("2").finish();
/** What the server answers a Describe of a statement that does not exist. */
const noSuchStatement = (name: string) =>
  errorResponse({
    severity: "ERROR",
    code: "26000",
    message: `prepared statement "${name}" does not exist`,
  });

/** Frames of a byte stream as short tokens: `Q select 1`, `E 42501`, `Z I`, `D probe`. */
function frames(bytes: Uint8Array): string[] {
  const out: string[] = [];
  for (let at = 0; at < bytes.length;) {
    const type = String.fromCharCode(bytes[at]);
    const length = new DataView(bytes.buffer, bytes.byteOffset + at + 1, 4).getUint32(0);
    const body = bytes.subarray(at + 5, at + 1 + length);
    out.push(token(type, body));
    at += 1 + length;
  }
  return out;
}

function token(type: string, body: Uint8Array): string {
  const cstring = () => text.decode(body.subarray(0, body.indexOf(0)));
  switch (type) {
    case "Q":
      return `Q ${cstring()}`;
    case "E":
      if (body.length === 5) return "Execute"; // an agent's Execute: portal "" + row limit
      return `E ${parseErrorFields(body).get("C")}`;
    case "Z":
      return `Z ${String.fromCharCode(body[0])}`;
    case "D":
      // Describe of the gateway's probe, or a DataRow.
      return body[0] === 0x53 && text.decode(body).includes("clawpatrol_denied_") ? "D probe" : "D";
    case "C":
      return `C ${cstring()}`;
    default:
      return type;
  }
}

/** The upstream's error for the probe the session sent last (its marker is in the name). */
function probeAnswer(sent: Uint8Array): Uint8Array {
  const name = text.decode(sent).match(/clawpatrol_denied_[0-9a-f]+/)![0];
  return noSuchStatement(name);
}

// --- the ledger and the session ----------------------------------------------------------------

const verdict = (decision: "allow" | "deny", reason = ""): Verdict => ({
  decision,
  wouldBe: decision,
  mode: "enforce",
  rule: decision === "deny" ? "no-drop" : null,
  reason,
});

/** Records decisions and outcomes; `drop` denies, `update` waits for `release`. */
function ledger() {
  const log: string[] = [];
  const outcomes = new Map<string, ExchangeResult>();
  const releases: ((d: "allow" | "deny") => void)[] = [];
  let n = 0;
  const actions: SessionActions = {
    decide(action: Action, options): Decided {
      const id = `r${++n}`;
      const sql = action.facts.sql!;
      log.push(`decide ${sql.statement}`);
      const decided = (v: Verdict): Decided => ({
        verdict: v,
        receipt: id,
        finish: (r) => outcomes.has(id) || outcomes.set(id, r),
      });
      if (sql.verbs.includes("drop")) return decided(verdict("deny", "no drops"));
      if (!sql.verbs.includes("update")) return decided(verdict("allow"));
      const held = new Promise<Decided>((resolve) => {
        releases.push((d) => resolve(decided(verdict(d, "denied by ops"))));
        options?.signal?.addEventListener("abort", () => resolve(decided(verdict("deny"))));
      });
      return { verdict: verdict("deny", "waiting"), receipt: null, finish: () => {}, held };
    },
    refuse(event) {
      log.push(`refuse ${event.summary}: ${event.reason}`);
      return `g${++n}`;
    },
    pass() {
      throw new Error("postgres never passes traffic through");
    },
    complete(decided, result) {
      for (const d of decided) {
        log.push(`complete ${d.receipt}${result.error ? ` (${result.error})` : ""}`);
        d.finish(result);
      }
    },
    close(reason) {
      log.push(`ledger closed: ${reason}`);
    },
  };
  return { actions, log, outcomes, release: (d: "allow" | "deny") => releases.shift()!(d) };
}

/** A started session and the transcript of what it emitted. */
function session(options: { maxMessageBytes?: number } = {}) {
  const { actions, log, outcomes, release } = ledger();
  const decoder = new FrontendDecoder({ maxMessageBytes: options.maxMessageBytes ?? 1 << 20 });
  const s = new PostgresSession({
    decoder,
    analyzer,
    sql: {
      endpoint: "pg",
      agent: { name: "bot", profile: "bots" },
      credential: "postgres_credential.pg",
      database: "app",
      user: "app",
    },
    actions,
    readsParams: () => false,
    log: () => {},
    greeting: readyForQuery("I"),
  });
  const sent: Record<"agent" | "upstream", Uint8Array[]> = { agent: [], upstream: [] };
  s.start((command: SessionCommand) => {
    if (command.kind === "send") {
      sent[command.to].push(command.bytes);
      log.push(`${command.to} <- ${frames(command.bytes).join(", ")}`);
    } else if (command.kind === "close") {
      const last = Object.entries(command.last ?? {}).map(([p, b]) => `${p}: ${frames(b!)}`);
      log.push(`close ${command.graceful ? "graceful" : "cut"}: ${command.reason} [${last}]`);
    } else log.push(command.kind === "interrupt" ? "interrupt" : `${command.kind} ${command.peer}`);
  });
  log.length = 0; // The greeting.
  const lastTo = (peer: "agent" | "upstream") => sent[peer][sent[peer].length - 1];
  return { s, log, outcomes, release, lastTo };
}

// --- transcripts --------------------------------------------------------------------------------

Deno.test("session: an allowed query is forwarded and completed at its ReadyForQuery", () => {
  const { s, log, outcomes } = session();
  s.received("agent", query("select 1"));
  s.received("upstream", concatBytes([row("1"), complete("SELECT 1"), readyForQuery("I")]));
  assert.deepEqual(log, [
    "decide select 1",
    "upstream <- Q select 1",
    "complete r1",
    "agent <- D, C SELECT 1, Z I",
  ]);
  assert.equal(outcomes.get("r1")?.error, undefined);
});

Deno.test("session: a denied query becomes a probe whose error is swapped for the denial", () => {
  const { s, log, lastTo } = session();
  s.received("agent", query("drop table users"));
  assert.deepEqual(log, ["decide drop table users", "upstream <- D probe, S"]);
  s.received("upstream", concatBytes([probeAnswer(lastTo("upstream")), readyForQuery("I")]));
  assert.deepEqual(log.slice(2), ["agent <- E 42501, Z I"]);
  const answer = lastTo("agent");
  const length = new DataView(answer.buffer, answer.byteOffset + 1, 4).getUint32(0);
  const denial = parseErrorFields(answer.subarray(5, 1 + length));
  assert.match(denial.get("M")!, /denied by clawpatrol: no drops/);
  assert.match(denial.get("D")!, /receipt r1, rule no-drop/);
});

Deno.test("session: a deny in an extended batch drops what follows up to Sync, no further", () => {
  const { s, log, lastTo } = session();
  s.received(
    "agent",
    concatBytes([
      parse("", "select 1"),
      bind("", ""),
      execute(),
      parse("", "drop table users"),
      bind("", ""),
      execute(),
      parse("", "select 2"), // Discarded: the server would skip it after the error too.
      bind("", ""),
      execute(),
      sync(),
      query("select 3"), // After the Sync: decided as usual.
    ]),
  );
  assert.deepEqual(log, [
    "decide select 1",
    "decide drop table users",
    "decide select 3",
    "upstream <- P, B, Execute, P, B, D probe, S, Q select 3",
  ]);
  s.received(
    "upstream",
    concatBytes([
      parseComplete(),
      bindComplete(),
      row("1"),
      complete("SELECT 1"),
      parseComplete(),
      bindComplete(),
      probeAnswer(lastTo("upstream")),
      readyForQuery("I"),
      row("3"),
      complete("SELECT 1"),
      readyForQuery("I"),
    ]),
  );
  assert.deepEqual(log.slice(4), [
    // The batch's outcome is its first error, here the probe's: an error ends the batch's implicit
    // transaction, so what ran before it in the batch did not last, and its receipt says so.
    "complete r1 (upstream error 26000)",
    "complete r3",
    "agent <- 1, 2, D, C SELECT 1, 1, 2, E 42501, Z I, D, C SELECT 1, Z I",
  ]);
});

Deno.test("session: pipelined queries go upstream in one write, completed in answer order", () => {
  const { s, log } = session();
  s.received("agent", concatBytes([query("select 1"), query("select 2")]));
  assert.deepEqual(log, [
    "decide select 1",
    "decide select 2",
    "upstream <- Q select 1, Q select 2",
  ]);
  s.received("upstream", concatBytes([complete("SELECT 1"), readyForQuery("I")]));
  s.received("upstream", concatBytes([complete("SELECT 1"), readyForQuery("I")]));
  assert.deepEqual(log.slice(3), [
    "complete r1",
    "agent <- C SELECT 1, Z I",
    "complete r2",
    "agent <- C SELECT 1, Z I",
  ]);
});

Deno.test("session: messages behind a held statement wait for its approval, then go in order", async () => {
  const { s, log, release } = session();
  s.received("agent", query("update t set a = 1"));
  s.received("agent", query("select 2"));
  assert.deepEqual(log, ["decide update t set a = 1"]);
  release("allow");
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(log.slice(1), [
    "upstream <- Q update t set a = 1",
    "resume agent",
    "decide select 2",
    "upstream <- Q select 2",
  ]);
});

Deno.test("session: a held statement the approver denies is answered through the probe", async () => {
  const { s, log, release } = session();
  s.received("agent", query("update t set a = 1"));
  release("deny");
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(log, ["decide update t set a = 1", "upstream <- D probe, S", "resume agent"]);
});

Deno.test("session: past the hold buffer, the agent is paused until the approval settles", async () => {
  const { s, log, release } = session();
  s.received("agent", query("update t set a = 1"));
  s.received("agent", query(`select '${"x".repeat(1 << 20)}'`));
  assert.deepEqual(log, ["decide update t set a = 1", "pause agent"]);
  release("allow");
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(log.slice(2, 4), ["upstream <- Q update t set a = 1", "resume agent"]);
});

Deno.test("session: the agent leaving with work in flight interrupts the upstream and closes", () => {
  const { s, log } = session();
  s.received("agent", query("select pg_sleep(60)"));
  s.lost("agent", false);
  assert.deepEqual(log.slice(2), ["interrupt", "close cut: client disconnected []"]);
  s.received("upstream", readyForQuery("I")); // After close: ignored.
  assert.equal(log.length, 4);
});

Deno.test("session: Terminate is forwarded and both sides end gracefully", () => {
  const { s, log } = session();
  s.received("agent", terminate());
  assert.deepEqual(log, ["upstream <- X", "close graceful: client terminated the session []"]);
});

Deno.test("session: an oversize message is a FATAL error with a receipt, and the end", () => {
  const { s, log } = session({ maxMessageBytes: 64 });
  s.received("agent", query(`select '${"x".repeat(100)}'`));
  assert.equal(log.length, 2);
  assert.match(log[0], /^refuse malformed message: /);
  assert.match(log[1], /^close graceful: .* \[agent: E 54000,upstream: X\]$/);
});

Deno.test("session: a garbled upstream stream ends the session with 08P01", () => {
  const { s, log } = session();
  s.received("upstream", new Uint8Array([0x5a, 0, 0, 0, 1])); // ReadyForQuery of length 1
  assert.deepEqual(log, [
    "close graceful: the upstream database sent a malformed message [agent: E 08P01,upstream: X]",
  ]);
});

Deno.test("session: the upstream going away is a FATAL 08006 for the agent", () => {
  const { s, log } = session();
  s.lost("upstream", false);
  assert.deepEqual(log, [
    "close graceful: the connection to the upstream database was lost [agent: E 08006,upstream: X]",
  ]);
});

Deno.test("session: a revoked agent's session ends with a receipt and 57P01", () => {
  const { s, log } = session();
  s.endForAgent("revoked");
  assert.deepEqual(log, [
    "refuse session ended: agent revoked",
    "close graceful: clawpatrol: agent credentials were revoked [agent: E 57P01,upstream: X]",
  ]);
});

Deno.test("session: a session the gateway ends (its endpoint removed) gets 57P01 and a receipt", () => {
  const { s, log } = session();
  s.endByGateway("the endpoint's listener closed: endpoint removed");
  assert.deepEqual(log, [
    "refuse session ended: the endpoint's listener closed: endpoint removed",
    "close graceful: clawpatrol: the endpoint's listener closed: endpoint removed [agent: E 57P01,upstream: X]",
  ]);
});

Deno.test("session: a Bind to a statement the gateway never saw prepared is refused", () => {
  const { s, log } = session();
  s.received("agent", concatBytes([bind("", "never_prepared"), execute(), sync()]));
  assert.equal(log.length, 2);
  assert.match(log[0], /^refuse Bind to statement "never_prepared": /);
  assert.equal(log[1], "upstream <- D probe, S");
});
