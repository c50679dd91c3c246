import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  type Anchor,
  chainHeads,
  checkAnchors,
  importAnchorKey,
  newAnchorKey,
  parseAnchors,
  signAnchor,
} from "./anchor.ts";
import { pruneBatch } from "./prune.ts";
import { chainHash, type ChainRow, claimedPrevHash, GENESIS_HASH } from "./_chain_text.ts";
import { ReceiptStore } from "./store.ts";
import { verifyChain } from "./verify.ts";
import { receiptInput, withTempDir } from "./_testing.ts";

const DAY = 86_400_000;

async function record(path: string, n: number, time = new Date()): Promise<void> {
  const store = ReceiptStore.open(path);
  for (let i = 0; i < n; i++) store.record(receiptInput({ time }));
  await store.close();
}

/** What an attacker with write access to the database does: edit, then re-hash every row after. */
function rewriteFrom(path: string, seq: number): void {
  const db = new DatabaseSync(path);
  db.exec(
    "UPDATE receipts SET canonical = json_set(canonical, '$.summary', 'nothing to see') " +
      `WHERE seq = ${seq}`,
  );
  const rows = db.prepare("SELECT * FROM receipts WHERE seq >= ? ORDER BY seq").all(
    seq - 1,
  ) as unknown as ChainRow[];
  let prev = rows[0].seq === seq ? GENESIS_HASH : rows.shift()!.hash;
  const update = db.prepare("UPDATE receipts SET canonical = ?, hash = ? WHERE seq = ?");
  for (const row of rows) {
    const claimed = `"prev_hash":"${claimedPrevHash(row.canonical)}"`;
    const canonical = row.canonical.replace(claimed, `"prev_hash":"${prev}"`);
    const hash = chainHash(prev, canonical);
    update.run(canonical, hash, row.seq);
    prev = hash;
  }
  db.close();
}

Deno.test("anchors agree with the chain they were made of, and with the chain grown since", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    const key = await newAnchorKey();
    await record(path, 5);
    const first = await signAnchor(chainHeads(path), new Date(), key);
    equal(first.receipts.seq, 5);
    await record(path, 3);
    const second = await signAnchor(chainHeads(path), new Date(), key);
    const check = await checkAnchors(path, [first, second], new Set([key.publicKey]));
    deepStrictEqual(check, { matched: 2, pruned: 0, problems: [] });
  });
});

Deno.test("a fully rewritten chain passes verifyChain but not the anchors", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    const key = await newAnchorKey();
    await record(path, 6);
    const anchor = await signAnchor(chainHeads(path), new Date(), key);
    rewriteFrom(path, 3);
    deepStrictEqual(verifyChain(path), { ok: true, rows: 6 }, "the chain alone cannot tell");
    const check = await checkAnchors(path, [anchor], new Set([key.publicKey]));
    equal(check.matched, 0);
    equal(check.problems.length, 1);
    match(check.problems[0], /receipt 6 has hash .*the chain was rewritten/);
  });
});

Deno.test("a tail cut from the chain passes verifyChain but not the anchors", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    const key = await newAnchorKey();
    await record(path, 6);
    const anchor = await signAnchor(chainHeads(path), new Date(), key);
    const db = new DatabaseSync(path);
    db.exec("DELETE FROM receipts WHERE seq > 4");
    db.close();
    deepStrictEqual(verifyChain(path), { ok: true, rows: 4 });
    const check = await checkAnchors(path, [anchor], new Set([key.publicKey]));
    match(
      check.problems[0],
      /the receipts end at seq 4, the anchor saw seq 6: 2 receipts were cut/,
    );
  });
});

Deno.test("an edited anchor, another key's anchor and a garbled line are each refused", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    const key = await newAnchorKey();
    const stranger = await newAnchorKey();
    await record(path, 4);
    const genuine = await signAnchor(chainHeads(path), new Date(), key);
    // Moving the anchor back to fit a cut chain breaks its signature.
    const edited: Anchor = { ...genuine, receipts: { ...genuine.receipts, seq: 2 } };
    const foreign = await signAnchor(chainHeads(path), new Date(), stranger);
    const check = await checkAnchors(path, [edited, foreign], new Set([key.publicKey]));
    equal(check.matched, 0);
    match(check.problems[0], /signature does not match its contents/);
    match(check.problems[1], /signed by key [0-9a-f]{16}, which is not trusted/);
    const lines = `${JSON.stringify(genuine)}\nnot json\n{"v":1}\n`;
    const parsed = parseAnchors(lines, "anchors.jsonl");
    equal(parsed.anchors.length, 1);
    deepStrictEqual(parsed.problems.map((p) => p.split(":").slice(0, 2).join(":")), [
      "anchors.jsonl:2",
      "anchors.jsonl:3",
    ]);
  });
});

Deno.test("anchors of pruned receipts are counted, not failed; a key re-imported signs the same", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/receipts.db`;
    const made = await newAnchorKey();
    const key = await importAnchorKey(made.pkcs8);
    equal(key.publicKey, made.publicKey);
    await record(path, 4, new Date(Date.now() - 10 * DAY));
    const old = await signAnchor(chainHeads(path), new Date(), key);
    await record(path, 2);
    while (pruneBatch(path, new Date(Date.now() - DAY)).receipts > 0) { /* the old ones */ }
    const fresh = await signAnchor(chainHeads(path), new Date(), made);
    const check = await checkAnchors(path, [old, fresh], new Set([key.publicKey]));
    deepStrictEqual(check, { matched: 1, pruned: 1, problems: [] });
    ok(verifyChain(path).ok);
  });
});
