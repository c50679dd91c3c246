/**
 * Test fixtures shared by this folder's tests.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import type { ReceiptInput } from "../core/mod.ts";
import type { OutcomeInput } from "./_outcome.ts";
import { ReceiptStore, type ReceiptStoreOptions } from "./store.ts";

/** Opens a store the way a test asks, with the writer mode fixed by {@linkcode storeTest}. */
export type OpenStore = (path: string, options?: ReceiptStoreOptions) => ReceiptStore;

/** Registers `fn` once per writer: every behaviour must hold with and without the worker. */
export function storeTest(name: string, fn: (open: OpenStore) => Promise<void>): void {
  for (const worker of [true, false]) {
    Deno.test(`${name} [${worker ? "worker" : "in-process"}]`, () =>
      fn((path, options) => ReceiptStore.open(path, { ...options, worker })));
  }
}

/** A complete receipt input with every field set; override what a test cares about. */
export function receiptInput(overrides: Partial<ReceiptInput> = {}): ReceiptInput {
  return {
    time: new Date("2025-06-01T12:00:00.123Z"),
    agent: "oncall-bot-1",
    profile: "oncall-bot",
    endpoint: "postgres.pg",
    protocol: "postgres",
    summary: "DROP TABLE users",
    facts: { sql: { verb: "drop", verbs: ["drop"], tables: ["users"], dynamic: false } },
    rule: "pg-no-ddl",
    mode: "enforce",
    verdict: "deny",
    wouldBe: "deny",
    reason: "Schema changes land via migration PR, not via the agent",
    approvals: [
      { approver: "llm.judge", decision: "deny", who: "llm:small", reason: "DDL", latencyMs: 412 },
    ],
    upstreamStatus: null,
    bytesIn: 27,
    bytesOut: 0,
    latencyMs: 1.75,
    ...overrides,
  };
}

/** An outcome of a completed exchange; override what a test cares about. */
export function outcomeInput(overrides: Partial<OutcomeInput> = {}): OutcomeInput {
  return {
    time: new Date("2025-06-01T12:00:01.000Z"),
    upstreamStatus: 200,
    bytesIn: 10,
    bytesOut: 512,
    latencyMs: 31.5,
    error: null,
    notRun: false,
    ...overrides,
  };
}

/** Runs `fn` with a fresh temporary directory and removes it afterwards. */
export async function withTempDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_audit_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Writes `rows` receipts to `dir/receipts.db`, every tenth written ahead and completed once it
 * has left for the writer (so its outcome is a row of its own), each with its own reason and byte
 * count; returns the path.
 */
export async function seededChain(dir: string, rows: number): Promise<string> {
  const store = ReceiptStore.open(`${dir}/receipts.db`);
  let open: { complete(outcome: OutcomeInput): void; n: number }[] = [];
  const completeOpen = async () => {
    await store.flushed();
    for (const r of open) r.complete(outcomeInput({ bytesOut: r.n }));
    open = [];
  };
  for (let i = 1; i <= rows; i++) {
    if (i % 10 === 0) {
      const r = store.reserve(receiptInput({ verdict: "allow", wouldBe: "allow" }), {
        durable: false,
      });
      open.push({ complete: (o) => r.complete(o), n: i });
    } else {
      store.record(receiptInput({ reason: `reason ${i}`, bytesOut: i }));
    }
    if (i % 100 === 0) await completeOpen();
  }
  await completeOpen();
  await store.close();
  return store.path;
}

/** Runs `sql` on the store at `path` as a tamperer would, with a connection of its own. */
export function tamper(path: string, sql: string): void {
  const db = new DatabaseSync(path);
  try {
    db.exec(sql);
  } finally {
    db.close();
  }
}

/** SQL that appends `!` to the reason in receipt `seq`'s stored text: an edit. */
export const appendToReason = (seq: number): string =>
  `UPDATE receipts SET canonical = json_set(canonical, '$.reason', ` +
  `(canonical ->> '$.reason') || '!') WHERE seq = ${seq}`;

/** SQL that takes the `!` off again, leaving the text as it was written (json_set keeps it). */
export const restoreReason = (seq: number): string =>
  `UPDATE receipts SET canonical = json_set(canonical, '$.reason', ` +
  `substr(canonical ->> '$.reason', 1, length(canonical ->> '$.reason') - 1)) WHERE seq = ${seq}`;
