// The chain's hashes are an on-disk format: every receipt already written must keep verifying.
// These pin them to values computed by the formula as first shipped, and to an independent
// SHA-256 (WebCrypto) of `prev_hash ‖ canonical text`.

import { equal } from "node:assert/strict";
import { canonicalRow, rowHash, type StoredRow } from "./_row.ts";
import { canonicalOutcome, outcomeHash, type StoredOutcome } from "./_outcome.ts";

const ROW: Omit<StoredRow, "hash"> = {
  seq: 7,
  id: "rcpt_01M7YZGRNYBT6CCCH0GYNBPBQH",
  time: "2026-12-05T17:00:00.000Z",
  agent: "bot",
  profile: "oncall",
  endpoint: "https.github",
  protocol: "https",
  summary: 'GET api.github.com/repos/é"x',
  facts: '{"http":{"method":"get","port":443}}',
  rule: "reads",
  mode: "enforce",
  verdict: "allow",
  would_be: "allow",
  reason: "allowed",
  approvals: "[]",
  upstream_status: 200,
  bytes_in: 0,
  bytes_out: 512,
  latency_ms: 12.5,
  prev_hash: "ab".repeat(32),
  ahead: 1,
  policy: "0123456789abcdef",
};

const OUTCOME: Omit<StoredOutcome, "hash"> = {
  seq: 3,
  receipt: "rcpt_01M7YZGRNYBT6CCCH0GYNBPBQH",
  time: "2026-12-05T17:00:00.012Z",
  upstream_status: 200,
  bytes_in: 0,
  bytes_out: 512,
  latency_ms: 12.5,
  error: null,
  not_run: 0,
  prev_hash: "cd".repeat(32),
};

async function sha256hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("rowHash() and outcomeHash() keep the chain's format", async () => {
  const older = { ...ROW, ahead: 0 as const, policy: null };
  equal(rowHash(ROW), "dda1d5836af6d9415596342fd3aed36140ce101afa57456e0f41c435fc689513");
  equal(rowHash(older), "e245401db66d0bd3f3be1f7ce9414654158009059858415ecbabbd4510a0e3f2");
  // `ahead` and `policy` each enter only when set; an empty policy is no policy.
  equal(
    rowHash({ ...ROW, policy: null }),
    "8f638822a1937461f25292fd4ad41dcb3af1f7ef44ac6b994f65121225cd59b8",
  );
  equal(
    rowHash({ ...ROW, ahead: 0 }),
    "fe4442355a173f7cceba230f898e6fc0c497e1f97ae7001c81322e8f8882b8e9",
  );
  equal(rowHash({ ...ROW, ahead: 0, policy: "" }), rowHash(older));
  equal(outcomeHash(OUTCOME), "209580d8d5f70f67bb254b8a229c91008e2d42f6eb910730cd8d71daa07931ec");
  equal(rowHash(ROW), await sha256hex(ROW.prev_hash + canonicalRow(ROW)));
  equal(rowHash(older), await sha256hex(older.prev_hash + canonicalRow(older)));
  equal(outcomeHash(OUTCOME), await sha256hex(OUTCOME.prev_hash + canonicalOutcome(OUTCOME)));
});
