import { deepStrictEqual, equal, match, throws } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { createHash } from "node:crypto";
import { chainHash, GENESIS_HASH } from "./_chain_text.ts";
import { canonicalRow, type LegacyRow } from "./_legacy_rows.ts";
import { INSERT_OUTCOME_SQL, outcomeHash, outcomeValues } from "./_outcome.ts";
import { outcomeInput, receiptInput, withTempDir } from "./_testing.ts";
import { ReceiptStore } from "./store.ts";
import { verifyChain } from "./verify.ts";
import { queryReceipts } from "./query.ts";

/** Writes `n` receipts and returns the database path. */
async function seeded(dir: string, n: number): Promise<string> {
  const store = ReceiptStore.open(`${dir}/receipts.db`);
  for (let i = 1; i <= n; i++) store.record(receiptInput({ reason: `reason ${i}`, bytesOut: i }));
  await store.close();
  return store.path;
}

/** Runs `fn` against a separate read-write connection, as a tamperer would. */
function tamper(path: string, fn: (db: DatabaseSync) => void): void {
  const db = new DatabaseSync(path);
  try {
    fn(db);
  } finally {
    db.close();
  }
}

Deno.test("verifyChain() passes an intact database", async () => {
  await withTempDir(async (dir) => {
    deepStrictEqual(verifyChain(await seeded(dir, 50)), { ok: true, rows: 50 });
  });
});

Deno.test("verifyChain() passes an empty database", async () => {
  await withTempDir(async (dir) => {
    deepStrictEqual(verifyChain(await seeded(dir, 0)), { ok: true, rows: 0 });
  });
});

Deno.test("verifyChain() reports the first edited receipt", async () => {
  await withTempDir(async (dir) => {
    const path = await seeded(dir, 6);
    tamper(path, (db) => {
      db.exec(
        "UPDATE receipts SET canonical = json_set(canonical, '$.reason', 'nothing to see') " +
          "WHERE seq = 3",
      );
      db.exec(
        "UPDATE receipts SET canonical = json_set(canonical, '$.verdict', 'allow') WHERE seq = 5",
      );
    });
    const result = verifyChain(path);
    equal(result.ok, false);
    if (result.ok) return;
    deepStrictEqual([result.brokenSeq, result.rows], [3, 2]);
    match(result.problem, /edited/);
  });
});

Deno.test("verifyChain() catches an edit to the stored facts JSON", async () => {
  await withTempDir(async (dir) => {
    const path = await seeded(dir, 3);
    tamper(path, (db) =>
      db.exec(
        `UPDATE receipts SET canonical = json_set(canonical, '$.facts', json('{}')) WHERE seq = 2`,
      ));
    const result = verifyChain(path);
    deepStrictEqual(result.ok ? undefined : result.brokenSeq, 2);
    if (!result.ok) match(result.problem, /edited/);
  });
});

Deno.test("verifyChain() reports a deleted middle receipt at its successor", async () => {
  await withTempDir(async (dir) => {
    const path = await seeded(dir, 5);
    tamper(path, (db) => db.exec("DELETE FROM receipts WHERE seq = 3"));
    const result = verifyChain(path);
    equal(result.ok, false);
    if (result.ok) return;
    deepStrictEqual([result.brokenSeq, result.rows], [4, 2]);
    match(result.problem, /seq jumps from 2 to 4/);
  });
});

Deno.test("verifyChain() reports a deleted first receipt", async () => {
  await withTempDir(async (dir) => {
    const path = await seeded(dir, 3);
    tamper(path, (db) => db.exec("DELETE FROM receipts WHERE seq = 1"));
    const result = verifyChain(path);
    deepStrictEqual(result.ok ? undefined : [result.brokenSeq, result.rows], [2, 0]);
  });
});

Deno.test("verifyChain() catches a deletion hidden by renumbering", async () => {
  await withTempDir(async (dir) => {
    const path = await seeded(dir, 5);
    tamper(path, (db) => {
      db.exec("DELETE FROM receipts WHERE seq = 3");
      db.exec("UPDATE receipts SET seq = seq - 1 WHERE seq > 3");
    });
    const result = verifyChain(path);
    deepStrictEqual(result.ok ? undefined : result.brokenSeq, 3);
  });
});

Deno.test("verifyChain() reports the successor of an edited receipt whose hash was recomputed", async () => {
  await withTempDir(async (dir) => {
    const path = await seeded(dir, 5);
    tamper(path, (db) => {
      const { prev } = db.prepare("SELECT hash AS prev FROM receipts WHERE seq = 2").get() as {
        prev: string;
      };
      const { forged } = db.prepare(
        "SELECT json_set(canonical, '$.reason', 'approved by ops') AS forged " +
          "FROM receipts WHERE seq = 3",
      ).get() as { forged: string };
      db.prepare("UPDATE receipts SET canonical = ?, hash = ? WHERE seq = 3")
        .run(forged, chainHash(prev, forged));
    });
    const result = verifyChain(path);
    equal(result.ok, false);
    if (result.ok) return;
    deepStrictEqual([result.brokenSeq, result.rows], [4, 3]);
    match(result.problem, /prev_hash does not match the hash of receipt 3/);
  });
});

Deno.test("verifyChain() reads a database while a store is writing to it", async () => {
  await withTempDir(async (dir) => {
    const store = ReceiptStore.open(`${dir}/receipts.db`);
    for (let i = 0; i < 10; i++) store.record(receiptInput());
    await store.flushed();
    store.record(receiptInput()); // queued, not yet committed
    deepStrictEqual(verifyChain(store.path), { ok: true, rows: 10 });
    await store.close();
    deepStrictEqual(verifyChain(store.path), { ok: true, rows: 11 });
  });
});

Deno.test("verifyChain() throws for a missing database", async () => {
  await withTempDir((dir) => {
    throws(() => verifyChain(`${dir}/nope.db`), /Cannot read receipts database/);
  });
});

Deno.test("verifyChain() checks outcomes: an edited or deleted outcome breaks their chain", async () => {
  await withTempDir(async (dir) => {
    const store = ReceiptStore.open(`${dir}/receipts.db`);
    for (let i = 0; i < 3; i++) {
      const r = store.reserve(receiptInput({ verdict: "allow", wouldBe: "allow" }), {
        durable: true,
      });
      await r.durable;
      r.complete(outcomeInput({ bytesOut: i }));
    }
    await store.close();
    const path = store.path;
    deepStrictEqual(verifyChain(path), { ok: true, rows: 3 });
    tamper(path, (db) => db.exec("UPDATE outcomes SET upstream_status = 500 WHERE seq = 2"));
    const edited = verifyChain(path);
    equal(edited.ok, false);
    if (!edited.ok) {
      equal(edited.table, "outcomes");
      equal(edited.brokenSeq, 2);
      match(edited.problem, /edited/);
    }
    tamper(path, (db) => db.exec("DELETE FROM outcomes WHERE seq = 2"));
    const deleted = verifyChain(path);
    equal(deleted.ok, false);
    if (!deleted.ok) match(deleted.problem, /jumps from 1 to 3/);
  });
});

/** The layout of a receipts table as schemas 1–3 created it: `ahead` came with 2, `policy` with 3. */
function legacyTableSql(version: 1 | 2 | 3): string {
  return `CREATE TABLE receipts (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    time TEXT NOT NULL,
    agent TEXT,
    profile TEXT,
    endpoint TEXT,
    protocol TEXT NOT NULL,
    summary TEXT NOT NULL,
    facts TEXT NOT NULL,
    rule TEXT,
    mode TEXT NOT NULL,
    verdict TEXT NOT NULL,
    would_be TEXT NOT NULL,
    reason TEXT NOT NULL,
    approvals TEXT NOT NULL,
    upstream_status INTEGER,
    bytes_in INTEGER NOT NULL,
    bytes_out INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
    ${version >= 2 ? ", ahead INTEGER NOT NULL DEFAULT 0" : ""}
    ${version >= 3 ? ", policy TEXT" : ""}
  ) STRICT;`;
}

const LEGACY_OUTCOMES_SQL = `CREATE TABLE outcomes (
  seq INTEGER PRIMARY KEY,
  receipt TEXT NOT NULL UNIQUE,
  time TEXT NOT NULL,
  upstream_status INTEGER,
  bytes_in INTEGER NOT NULL,
  bytes_out INTEGER NOT NULL,
  latency_ms REAL NOT NULL,
  error TEXT,
  not_run INTEGER NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
) STRICT;`;

/**
 * Writes a schema `version` file of `n` receipts at `path`, as a gateway of that version did:
 * each row's hash is sha256 of its `prev_hash` and its canonical form, computed here apart from
 * the chain code. `policy` is set on the rows of a schema 3 file only; in a file of schema 2 or 3,
 * receipt `ahead` (if given) was written ahead, and its outcome is in `outcomes`.
 */
function legacyFile(path: string, version: 1 | 2 | 3, n: number, ahead?: number): void {
  const db = new DatabaseSync(path);
  try {
    db.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;");
    db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?)").run(String(version));
    db.exec(legacyTableSql(version));
    if (version >= 2) db.exec(LEGACY_OUTCOMES_SQL);
    let prev = GENESIS_HASH;
    for (let seq = 1; seq <= n; seq++) {
      const row: LegacyRow = {
        seq,
        id: `rcpt_legacy${String(seq).padStart(4, "0")}`,
        time: `2024-0${version}-01T12:00:0${seq % 10}.000Z`,
        agent: "oncall-bot-1",
        profile: "oncall-bot",
        endpoint: "postgres.pg",
        protocol: "postgres",
        summary: "DROP TABLE users",
        facts: '{"sql":{"verb":"drop","tables":["users"]}}',
        rule: "pg-no-ddl",
        mode: "enforce",
        verdict: "deny",
        would_be: "deny",
        reason: `reason ${seq}`,
        approvals: "[]",
        upstream_status: null,
        bytes_in: 27,
        bytes_out: seq,
        latency_ms: 1.75,
        prev_hash: prev,
        ahead: version >= 2 && seq === ahead ? 1 : 0,
        policy: version >= 3 ? "0123456789abcdef" : null,
      };
      const hash = createHash("sha256").update(prev + canonicalRow(row)).digest("hex");
      const columns: Record<string, string | number | null> = { ...row, hash };
      if (version < 2) delete columns.ahead;
      if (version < 3) delete columns.policy;
      const names = Object.keys(columns);
      db.prepare(
        `INSERT INTO receipts (${names.join(", ")}) VALUES (${names.map(() => "?").join(", ")})`,
      ).run(...Object.values(columns));
      prev = hash;
      if (row.ahead === 1) {
        const outcome = {
          seq: 1,
          receipt: row.id,
          time: row.time,
          upstream_status: 200,
          bytes_in: 10,
          bytes_out: 512,
          latency_ms: 31.5,
          error: null,
          not_run: 0 as const,
          prev_hash: GENESIS_HASH,
        };
        db.prepare(INSERT_OUTCOME_SQL).run(
          ...outcomeValues({ ...outcome, hash: outcomeHash(outcome) }),
        );
      }
    }
  } finally {
    db.close();
  }
}

/** verifyChain()'s answer for `path`, expected broken at `seq` with a problem matching `problem`. */
function brokenAt(path: string, seq: number, problem: RegExp): void {
  const result = verifyChain(path);
  equal(result.ok, false);
  if (result.ok) return;
  deepStrictEqual([result.brokenSeq, result.rows], [seq, seq - 1]);
  match(result.problem, problem);
}

Deno.test("verifyChain() keeps version 1 rows valid after the upgrade to outcomes", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    // A version 1 file: no outcomes table, no ahead or policy column.
    legacyFile(path, 1, 3);
    deepStrictEqual(verifyChain(path), { ok: true, rows: 3 });
    // Read as it is, an edit to an old row is caught.
    tamper(path, (db) => db.exec("UPDATE receipts SET reason = 'nothing to see' WHERE seq = 2"));
    brokenAt(path, 2, /^hash does not match the row: it was edited$/);
    tamper(path, (db) => db.exec("UPDATE receipts SET reason = 'reason 2' WHERE seq = 2"));
    deepStrictEqual(verifyChain(path), { ok: true, rows: 3 });
    const store = ReceiptStore.open(path); // migrates to the current version
    store.record(receiptInput());
    await store.close();
    deepStrictEqual(verifyChain(path), { ok: true, rows: 4 });
    equal(queryReceipts(path)[1].reason, "reason 2");
    // Migrated, the old rows keep their hashes, and an edit is still caught.
    tamper(path, (db) =>
      db.exec(
        "UPDATE receipts SET canonical = json_set(canonical, '$.reason', 'nothing to see') " +
          "WHERE seq = 2",
      ));
    brokenAt(path, 2, /^hash does not match the row: it was edited$/);
  });
});

Deno.test("verifyChain() keeps version 2 rows valid, and the policy digest is in the hash", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    // A version 2 file: receipt 2 written ahead, its outcome in the outcomes table.
    legacyFile(path, 2, 2, 2);
    deepStrictEqual(verifyChain(path), { ok: true, rows: 2 });
    equal(queryReceipts(path)[1].outcome?.upstreamStatus, 200);
    tamper(path, (db) => db.exec("UPDATE receipts SET bytes_out = 9 WHERE seq = 1"));
    brokenAt(path, 1, /^hash does not match the row: it was edited$/);
    tamper(path, (db) => db.exec("UPDATE receipts SET bytes_out = 1 WHERE seq = 1"));
    const store = ReceiptStore.open(path); // migrates to the current version
    store.record({ ...receiptInput(), policy: "0123456789abcdef" });
    await store.close();
    deepStrictEqual(verifyChain(path), { ok: true, rows: 3 });
    equal(queryReceipts(path).at(-1)?.policy, "0123456789abcdef");
    // Another policy written over the recorded one breaks the chain.
    tamper(path, (db) =>
      db.exec(
        "UPDATE receipts SET canonical = json_set(canonical, '$.policy', 'fedcba9876543210') " +
          "WHERE seq = 3",
      ));
    brokenAt(path, 3, /^hash does not match the row: it was edited$/);
  });
});

Deno.test("verifyChain() reads a version 3 file as it is, its policy digest in the hash", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/receipts.db`;
    legacyFile(path, 3, 3);
    deepStrictEqual(verifyChain(path), { ok: true, rows: 3 });
    equal(queryReceipts(path).at(-1)?.policy, "0123456789abcdef");
    tamper(path, (db) => db.exec("UPDATE receipts SET policy = 'fedcba9876543210' WHERE seq = 2"));
    brokenAt(path, 2, /^hash does not match the row: it was edited$/);
    tamper(path, (db) => db.exec("UPDATE receipts SET policy = '0123456789abcdef' WHERE seq = 2"));
    // A row re-hashed after an edit shows at its successor, as in a current file.
    tamper(path, (db) => {
      db.exec("UPDATE receipts SET reason = 'approved by ops' WHERE seq = 2");
      const row = db.prepare("SELECT * FROM receipts WHERE seq = 2").get() as unknown as LegacyRow;
      const hash = createHash("sha256").update(row.prev_hash + canonicalRow(row)).digest("hex");
      db.prepare("UPDATE receipts SET hash = ? WHERE seq = 2").run(hash);
    });
    brokenAt(
      path,
      3,
      /^prev_hash does not match the hash of receipt 2: it was deleted or rewritten$/,
    );
  });
});
