import { deepStrictEqual, equal, match, ok, rejects, throws } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { AuditUnavailableError } from "../core/mod.ts";
import { RECEIPT_ID_PATTERN } from "./_id.ts";
import { GENESIS_HASH } from "./_row.ts";
import { outcomeInput, receiptInput, storeTest, withTempDir } from "./_testing.ts";
import { queryReceipts } from "./query.ts";
import { ReceiptStore, writerWorkerOf } from "./store.ts";
import { verifyChain } from "./verify.ts";

function countRows(path: string): number {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM receipts").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

function storedIds(path: string): string[] {
  return queryReceipts(path).map((r) => r.id);
}

storeTest(
  "record() returns unique, time-ordered ids before the receipts are committed",
  async (open) => {
    await withTempDir(async (dir) => {
      const store = open(`${dir}/receipts.db`);
      const ids = Array.from({ length: 300 }, () => store.record(receiptInput()));
      equal(countRows(store.path), 0);
      equal(store.queued, 300);
      for (const id of ids) match(id, RECEIPT_ID_PATTERN);
      equal(new Set(ids).size, ids.length);
      deepStrictEqual([...ids].sort(), ids);
      await store.flushed();
      equal(store.queued, 0);
      deepStrictEqual(storedIds(store.path), ids);
      await store.close();
    });
  },
);

storeTest("record() round-trips every field of the receipt", async (open) => {
  await withTempDir(async (dir) => {
    const store = open(`${dir}/receipts.db`);
    const full = receiptInput({ upstreamStatus: 201, mode: "observe", wouldBe: "deny" });
    const sparse = receiptInput({
      agent: null,
      profile: null,
      endpoint: null,
      rule: null,
      protocol: "gateway",
      facts: null,
      approvals: [],
      verdict: "allow",
      bytesIn: 0,
      latencyMs: 0,
    });
    const ids = [store.record(full), store.record(sparse)];
    await store.close();
    const [first, second] = queryReceipts(store.path);
    deepStrictEqual(first, {
      ...full,
      id: ids[0],
      seq: 1,
      prevHash: GENESIS_HASH,
      hash: first.hash,
    });
    deepStrictEqual(second, {
      ...sparse,
      id: ids[1],
      seq: 2,
      prevHash: first.hash,
      hash: second.hash,
    });
    match(first.hash, /^[0-9a-f]{64}$/);
  });
});

storeTest(
  "record() stores BigInt facts and text SQLite cannot hold verbatim, chain intact",
  async (open) => {
    await withTempDir(async (dir) => {
      const store = open(`${dir}/receipts.db`);
      store.record(receiptInput({
        summary: "SELECT 1\0; DROP TABLE users \ud800",
        facts: { http: { port: 443n, huge: 2n ** 70n, body: "a\0b" } },
      }));
      await store.close();
      const [receipt] = queryReceipts(store.path);
      equal(receipt.summary, "SELECT 1\uFFFD; DROP TABLE users \uFFFD");
      deepStrictEqual(receipt.facts, {
        http: { port: 443, huge: "1180591620717411303424", body: "a\0b" },
      });
      deepStrictEqual(verifyChain(store.path), { ok: true, rows: 1 });
    });
  },
);

storeTest("record() rejects a malformed input with TypeError and queues nothing", async (open) => {
  await withTempDir(async (dir) => {
    const store = open(`${dir}/receipts.db`);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const bad = [
      { time: new Date(NaN) },
      { verdict: "maybe" as "deny" },
      { bytesIn: -1 },
      { latencyMs: Infinity },
      { agent: 7 as unknown as string },
      { facts: cyclic },
    ];
    for (const override of bad) throws(() => store.record(receiptInput(override)), TypeError);
    equal(store.queued, 0);
    await store.close();
    equal(countRows(store.path), 0);
  });
});

storeTest("the hash chain continues across close and reopen", async (open) => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    const first = open(path);
    for (let i = 0; i < 3; i++) first.record(receiptInput({ reason: `first ${i}` }));
    await first.close();
    const second = open(path);
    for (let i = 0; i < 2; i++) second.record(receiptInput({ reason: `second ${i}` }));
    await second.close();
    const rows = queryReceipts(path);
    deepStrictEqual(rows.map((r) => r.seq), [1, 2, 3, 4, 5]);
    equal(rows[0].prevHash, GENESIS_HASH);
    for (let i = 1; i < rows.length; i++) equal(rows[i].prevHash, rows[i - 1].hash);
    deepStrictEqual(verifyChain(path), { ok: true, rows: 5 });
  });
});

storeTest("two stores appending to one database keep a single chain", async (open) => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    const a = open(path);
    const b = open(path);
    for (let i = 0; i < 5; i++) {
      a.record(receiptInput({ agent: "a" }));
      await a.flushed();
      b.record(receiptInput({ agent: "b" }));
      await b.flushed();
    }
    await Promise.all([a.close(), b.close()]);
    deepStrictEqual(verifyChain(path), { ok: true, rows: 10 });
  });
});

storeTest("record() throws AuditUnavailableError once the queue is full", async (open) => {
  await withTempDir(async (dir) => {
    const store = open(`${dir}/receipts.db`, { maxQueue: 3 });
    const ids = [1, 2, 3].map(() => store.record(receiptInput()));
    throws(() => store.record(receiptInput()), AuditUnavailableError);
    await store.flushed();
    ids.push(store.record(receiptInput()));
    await store.close();
    deepStrictEqual(storedIds(store.path), ids);
  });
});

storeTest(
  "a failed flush keeps receipts queued, refuses new ones, reports the error and retries",
  async (open) => {
    await withTempDir(async (dir) => {
      const path = `${dir}/receipts.db`;
      const errors: Error[] = [];
      const store = open(path, {
        maxQueue: 4,
        busyTimeoutMs: 0,
        onError: (e) => errors.push(e),
      });
      const locker = new DatabaseSync(path);
      locker.exec("BEGIN IMMEDIATE"); // another writer holds the lock: every flush fails
      const ids = [1, 2, 3, 4].map(() => store.record(receiptInput()));
      await rejects(store.flushed(), AuditUnavailableError);
      ok(errors.length >= 1);
      match(errors[0].message, /Cannot write 4 receipts .*locked/);
      equal(store.queued, 4);
      throws(() => store.record(receiptInput()), (e: unknown) => {
        ok(e instanceof AuditUnavailableError);
        // Refused at once, not when the queue fills: nothing is forwarded while receipts fail.
        match(e.message, /receipts cannot be written: .*locked/);
        return true;
      });
      locker.exec("COMMIT");
      locker.close();
      // The backoff timer retries on its own; no flushed() call needed.
      for (let waited = 0; store.queued > 0 && waited < 3000; waited += 20) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      equal(store.queued, 0);
      equal(countRows(path), 4);
      ids.push(store.record(receiptInput()));
      await store.close();
      deepStrictEqual(storedIds(path), ids);
    });
  },
);

storeTest("close() commits every queued receipt across several batches", async (open) => {
  await withTempDir(async (dir) => {
    const batches: number[] = [];
    const store = open(`${dir}/receipts.db`, {
      maxBatch: 500,
      onFlush: ({ rows }) => batches.push(rows),
    });
    for (let i = 0; i < 1200; i++) store.record(receiptInput({ bytesOut: i }));
    await store.close();
    deepStrictEqual(batches, [500, 500, 200]);
    equal(countRows(store.path), 1200);
    deepStrictEqual(verifyChain(store.path), { ok: true, rows: 1200 });
  });
});

storeTest(
  "close() rejects, naming the unwritten receipts, when the final flush fails",
  async (open) => {
    await withTempDir(async (dir) => {
      const path = `${dir}/receipts.db`;
      const store = open(path, { busyTimeoutMs: 0 });
      const locker = new DatabaseSync(path);
      locker.exec("BEGIN IMMEDIATE");
      store.record(receiptInput());
      store.record(receiptInput());
      await rejects(store.close(), (e: unknown) => {
        ok(e instanceof AuditUnavailableError);
        match(e.message, /with 2 receipts unwritten/);
        return true;
      });
      locker.exec("ROLLBACK");
      locker.close();
    });
  },
);

storeTest("record() after close() throws AuditUnavailableError", async (open) => {
  await withTempDir(async (dir) => {
    const store = open(`${dir}/receipts.db`);
    const closing = store.close();
    throws(() => store.record(receiptInput()), AuditUnavailableError);
    await closing;
    throws(() => store.record(receiptInput()), AuditUnavailableError);
    await store.close(); // idempotent
  });
});

storeTest("open() puts the database in WAL mode", async (open) => {
  await withTempDir(async (dir) => {
    const store = open(`${dir}/receipts.db`);
    const db = new DatabaseSync(store.path);
    deepStrictEqual({ ...db.prepare("PRAGMA journal_mode").get() }, { journal_mode: "wal" });
    db.close();
    await store.close();
  });
});

Deno.test("open() refuses a database written by a newer schema version", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    await ReceiptStore.open(path).close();
    const db = new DatabaseSync(path);
    db.exec("UPDATE meta SET value = '3' WHERE key = 'schema_version'");
    db.close();
    throws(() => ReceiptStore.open(path), /Cannot open receipts database .*schema version '3'/);
  });
});

Deno.test("open() rejects invalid options with RangeError", () => {
  throws(() => ReceiptStore.open(":memory:", { maxQueue: 0 }), RangeError);
  throws(() => ReceiptStore.open(":memory:", { maxBatch: 1.5 }), RangeError);
  throws(() => ReceiptStore.open(":memory:", { busyTimeoutMs: -1 }), RangeError);
  throws(() => ReceiptStore.open(":memory:", { commitIntervalMs: -5 }), RangeError);
  throws(() => ReceiptStore.open(":memory:", { sendIntervalMs: 0.5 }), RangeError);
});

storeTest(
  "group commit: a steady stream of receipts shares one commit per interval; an idle store commits at once",
  async (open) => {
    await withTempDir(async (dir) => {
      const commits: number[] = [];
      const store = open(`${dir}/receipts.db`, {
        commitIntervalMs: 250,
        sendIntervalMs: 20,
        onFlush: ({ rows }) => commits.push(rows),
      });
      await store.ready();
      // Idle: the first receipt is committed without waiting out any interval.
      const began = performance.now();
      store.record(receiptInput());
      while (commits.length === 0) await new Promise((r) => setTimeout(r, 5));
      ok(performance.now() - began < 200, `idle commit took ${performance.now() - began} ms`);
      // A receipt every ~5 ms for ~400 ms: a commit per tick would be ~80 commits.
      const streamStart = performance.now();
      let sent = 0;
      while (performance.now() - streamStart < 400) {
        store.record(receiptInput());
        sent++;
        await new Promise((r) => setTimeout(r, 5));
      }
      await store.flushed();
      const streamCommits = commits.slice(1);
      ok(streamCommits.length <= 4, `${streamCommits.length} commits for ${sent} receipts`);
      equal(streamCommits.reduce((a, b) => a + b, 0), sent);
      equal(countRows(store.path), sent + 1);
      await store.close();
    });
  },
);

Deno.test("the worker commits receipts while this thread is blocked, and the chain verifies", async () => {
  await withTempDir(async (dir) => {
    const store = ReceiptStore.open(`${dir}/receipts.db`);
    await store.ready();
    for (let i = 0; i < 1000; i++) store.record(receiptInput({ bytesOut: i }));
    await new Promise((resolve) => setTimeout(resolve, 0)); // the batch is posted on this tick
    // Never yield: an in-process writer could not commit now, its timer never fires.
    const until = Date.now() + 10_000;
    while (countRows(store.path) < 1000 && Date.now() < until) {
      // spin
    }
    equal(countRows(store.path), 1000);
    deepStrictEqual(verifyChain(store.path), { ok: true, rows: 1000 });
    await store.flushed();
    equal(store.queued, 0);
    await store.close();
  });
});

Deno.test("a writer worker that dies fails the store closed: onError, then every receipt is refused", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    const errors: Error[] = [];
    const store = ReceiptStore.open(path, { onError: (e) => errors.push(e) });
    await store.ready();
    store.record(receiptInput());
    await store.flushed();
    const held = store.reserve(receiptInput({ verdict: "allow" }));
    store.record(receiptInput()); // not sent before this tick ends
    // An unknown message makes the writer throw outside any handler, as a bug in it would. The
    // worker takes messages in order, so it dies before the row that flushed() sends reaches it.
    writerWorkerOf(store)!.postMessage({ type: "bogus" });
    const waiting = store.flushed();
    await rejects(waiting, AuditUnavailableError);
    equal(errors.length, 1);
    match(errors[0].message, /Receipt writer for .* stopped with 2 receipts unwritten: .*bogus/);
    throws(() => store.record(receiptInput()), AuditUnavailableError);
    throws(() => store.reserve(receiptInput()), AuditUnavailableError);
    throws(() => held.complete(outcomeInput()), AuditUnavailableError);
    await rejects(store.flushed(), AuditUnavailableError);
    await rejects(store.close(), /with 2 receipts unwritten/);
    equal(countRows(path), 1);
    deepStrictEqual(verifyChain(path), { ok: true, rows: 1 });
  });
});

const REPO = new URL("../..", import.meta.url);

/** Runs `script` in a child Deno with the given flags; fails the test if it runs past 30 s. */
async function runChild(
  dir: string,
  script: string,
  flags: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = `${dir}/child.ts`;
  await Deno.writeTextFile(file, script);
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-lock", ...flags, file, dir],
    cwd: REPO,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

const CHILD_IMPORTS = `
import { ReceiptStore } from "${new URL("./mod.ts", import.meta.url).href}";
import { receiptInput } from "${new URL("./_testing.ts", import.meta.url).href}";
`;

Deno.test("a writer worker that cannot load its module makes ready() reject and record() throw", async () => {
  await withTempDir(async (dir) => {
    // Read and write on the state directory only: the worker's module file is not readable.
    const { code, stdout } = await runChild(
      dir,
      `${CHILD_IMPORTS}
      const errors: string[] = [];
      const store = ReceiptStore.open(Deno.args[0] + "/receipts.db", {
        onError: (e) => errors.push(e.message),
      });
      const ready = await store.ready().then(() => "ready", (e) => e.message);
      let record = "recorded";
      try {
        store.record(receiptInput());
      } catch (e) {
        record = e.name;
      }
      await store.close();
      console.log(JSON.stringify({ ready, record, errors }));
      `,
      [`--allow-read=${dir}`, `--allow-write=${dir}`],
    );
    equal(code, 0);
    const result = JSON.parse(stdout);
    match(result.ready, /Receipt writer .* stopped .*Requires read access to .*_writer_worker\.ts/);
    equal(result.record, "AuditUnavailableError");
    equal(result.errors.length, 1);
  });
});

Deno.test("close() ends the writer worker, so a process that closes its store exits", async () => {
  await withTempDir(async (dir) => {
    const { code, stdout, stderr } = await runChild(
      dir,
      `${CHILD_IMPORTS}
      const store = ReceiptStore.open(Deno.args[0] + "/receipts.db");
      for (let i = 0; i < 10; i++) store.record(receiptInput());
      await store.close();
      console.log("closed");
      `,
      ["-A"],
    );
    equal(code, 0, stderr);
    equal(stdout.trim(), "closed");
    equal(countRows(`${dir}/receipts.db`), 10);
  });
});
