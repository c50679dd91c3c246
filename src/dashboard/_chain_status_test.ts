import { equal, match } from "node:assert/strict";
import { CHAIN_STATUS_TTL_MS, ChainStatus } from "./_chain_status.ts";

Deno.test("ChainStatus says intact or broken, runs once per minute, and shares a run", async () => {
  let now = 0;
  let runs = 0;
  let result = { ok: true, rows: 3 } as {
    ok: boolean;
    rows: number;
    brokenSeq?: number;
    problem?: string;
  };
  const status = new ChainStatus(() => {
    runs++;
    return Promise.resolve(result);
  }, () => now);
  const [a, b] = await Promise.all([status.text(), status.text()]);
  match(a, /^intact: 3 receipts verified/);
  equal(a, b);
  equal(runs, 1);
  result = { ok: false, rows: 1, brokenSeq: 2, problem: "hash mismatch" };
  now = CHAIN_STATUS_TTL_MS - 1;
  match(await status.text(), /^intact/);
  now = CHAIN_STATUS_TTL_MS;
  match(await status.text(), /^BROKEN at seq 2: hash mismatch/);
  equal(runs, 2);
});

Deno.test("ChainStatus reports a verification that could not run", async () => {
  const status = new ChainStatus(() => Promise.reject(new Error("no such table: receipts")));
  match(await status.text(), /^cannot verify: no such table: receipts/);
});
