import { deepEqual, equal, ok } from "node:assert/strict";
import { MessageHandler, type MessageSession } from "./_messages.ts";
import { Batches } from "./_batches.ts";
import type { FrontendMessage } from "./_frontend.ts";
import type { SqlOutcome } from "./_decide.ts";
import { loadSqlParser, SqlAnalyzer } from "./sql_facts.ts";

await loadSqlParser();

const tag = (s: string) => new TextEncoder().encode(s);
const parse = (name: string, sql: string): FrontendMessage => ({
  type: "parse",
  name,
  sql,
  paramTypes: [],
  raw: tag(`P:${name}`),
});
const bind = (statement: string, values: string[] = [], portal = ""): FrontendMessage => ({
  type: "bind",
  portal,
  statement,
  paramFormats: [],
  params: values.map(tag),
  resultFormats: [],
  raw: tag(`B:${portal}`),
});
const execute = (portal = ""): FrontendMessage => ({
  type: "execute",
  portal,
  maxRows: 0,
  raw: tag(`E:${portal}`),
});
const SYNC: FrontendMessage = { type: "sync", raw: tag("S") };

/** A session stand-in that allows everything and records what was decided and refused. */
function harness(options: { readsParams?: boolean; deny?: (sql: string) => boolean } = {}) {
  const decided: { sql: string; params?: string[] | null }[] = [];
  const refused: string[] = [];
  const batches = new Batches({ complete: () => {} });
  const session: MessageSession = {
    batches,
    analyzer: new SqlAnalyzer(),
    closed: () => false,
    decide: (sql, params): SqlOutcome => {
      decided.push(params === undefined ? { sql } : { sql, params });
      const denied = options.deny?.(sql) ?? false;
      return {
        decided: [],
        denial: denied ? { reason: "no", rule: "r", receipt: "rcpt_1" } : null,
      };
    },
    readsParams: () => options.readsParams ?? false,
    refuse: (summary) => (refused.push(summary), "rcpt_refused"),
    terminate: () => {},
  };
  const handler = new MessageHandler(session);
  /** Handles `messages`; returns what went upstream, as tags (probes as "probe"). */
  const send = (...messages: FrontendMessage[]): string[] => {
    const out: Uint8Array[] = [];
    for (const m of messages) equal(handler.handle(m, out), undefined);
    return out.map((b) => b[0] === 0x44 ? "probe" : new TextDecoder().decode(b));
  };
  /** The server answered the oldest batch with ReadyForQuery `status`. */
  const ready = (status: "I" | "T" | "E" = "I") => handler.answered(batches.answered()!, status);
  return { decided, refused, send, ready, batches };
}

Deno.test("every Execute of one Parse is decided on its own; Parse and Bind are not", () => {
  const h = harness();
  deepEqual(h.send(parse("s", "select $1::int"), SYNC), ["P:s", "S"]);
  h.ready();
  equal(h.decided.length, 0);
  const out = h.send(bind("s", ["1"]), execute(), bind("s", ["2"]), execute(), SYNC);
  deepEqual(out, ["B:", "E:", "B:", "E:", "S"]);
  h.send(bind("s", ["3"]), execute(), SYNC);
  deepEqual(h.decided.map((d) => d.sql), ["select $1::int", "select $1::int", "select $1::int"]);
});

Deno.test("an Execute is decided with its own Bind's parameters when rules read them", () => {
  const h = harness({ readsParams: true });
  h.send(parse("s", "select $1::text"), bind("s", ["a"]), execute(), SYNC);
  h.send(bind("s", ["b"], "p"), execute("p"), SYNC);
  deepEqual(h.decided.map((d) => d.params), [["a"], ["b"]]);
});

Deno.test("a denied Execute is probed and the rest of its batch dropped until Sync", () => {
  const h = harness({ deny: (sql) => sql.startsWith("delete") });
  const out = h.send(
    parse("d", "delete from t"),
    bind("d"),
    execute(),
    bind("d"),
    execute(),
    SYNC,
  );
  deepEqual(out, ["P:d", "B:", "probe", "S"]);
  equal(h.decided.length, 1);
  // The probe's error was the batch's first: the Parse before it stands.
  h.batches.answering.error = "26000";
  h.batches.answering.probed = true;
  h.ready();
  deepEqual(h.send(bind("d"), execute(), SYNC), ["B:", "probe", "S"]);
  equal(h.refused.length, 0, "the statement is still known: decided (and denied) again");
});

Deno.test("an Execute of a portal the gateway did not see bound is refused", () => {
  const h = harness();
  deepEqual(h.send(execute("cursor"), SYNC), ["probe", "S"]);
  deepEqual(h.refused, ['Execute of portal "cursor"']);
  equal(h.decided.length, 0);
});

Deno.test("portals end with their transaction, or when closed", () => {
  const h = harness();
  h.send(parse("s", "select 1"), bind("s", [], "p"), execute("p"), SYNC);
  h.ready("T");
  // Still in the transaction: the portal can run again (fetch more rows).
  deepEqual(h.send(execute("p"), SYNC), ["E:p", "S"]);
  h.ready("I");
  deepEqual(h.send(execute("p"), SYNC), ["probe", "S"]);
  h.ready("I");
  h.send(bind("s", [], "q"), { type: "close", target: "P", name: "q", raw: tag("C:q") });
  deepEqual(h.send(execute("q"), SYNC), ["probe", "S"]);
  ok(h.refused.every((r) => r.startsWith("Execute of portal")));
});
