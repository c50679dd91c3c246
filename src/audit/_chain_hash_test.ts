// The chain's hashes are an on-disk format: every receipt already written must keep verifying.
// These pin them to values computed by the formula as first shipped, and to an independent
// SHA-256 (WebCrypto) of `prev_hash ‖ canonical text`: the legacy canonical form (schemas 1–3,
// whose rows keep their hashes) and the stored text of schema 4.

import { equal } from "node:assert/strict";
import { canonicalRow, type LegacyRow } from "./_legacy_rows.ts";
import { chainedText, chainHash, sealRow } from "./_chain_text.ts";
import type { PendingRow } from "./_row.ts";
import { canonicalOutcome, outcomeHash, type StoredOutcome } from "./_outcome.ts";

const ROW: LegacyRow = {
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

/** The same receipt as schema 4 writes it: its place in the chain is given to chainedText(). */
const PENDING: PendingRow = {
  id: ROW.id,
  time: ROW.time,
  agent: ROW.agent,
  profile: ROW.profile,
  endpoint: ROW.endpoint,
  protocol: ROW.protocol,
  summary: ROW.summary,
  facts: ROW.facts,
  rule: ROW.rule,
  mode: ROW.mode,
  verdict: ROW.verdict,
  would_be: ROW.would_be,
  reason: ROW.reason,
  approvals: '[{"approver":"llm.judge","decision":"allow","latencyMs":412}]',
  upstream_status: ROW.upstream_status,
  bytes_in: ROW.bytes_in,
  bytes_out: ROW.bytes_out,
  latency_ms: ROW.latency_ms,
  ahead: ROW.ahead,
  policy: ROW.policy,
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

/** A schema 1–3 row's hash: over its `prev_hash` column and its canonical form. */
const legacyHash = (r: LegacyRow) => chainHash(r.prev_hash, canonicalRow(r));

Deno.test("legacy rows' hashes and outcomeHash() keep the chain's format", async () => {
  const older = { ...ROW, ahead: 0 as const, policy: null };
  equal(legacyHash(ROW), "dda1d5836af6d9415596342fd3aed36140ce101afa57456e0f41c435fc689513");
  equal(legacyHash(older), "e245401db66d0bd3f3be1f7ce9414654158009059858415ecbabbd4510a0e3f2");
  // `ahead` and `policy` each enter only when set; an empty policy is no policy.
  equal(
    legacyHash({ ...ROW, policy: null }),
    "8f638822a1937461f25292fd4ad41dcb3af1f7ef44ac6b994f65121225cd59b8",
  );
  equal(
    legacyHash({ ...ROW, ahead: 0 }),
    "fe4442355a173f7cceba230f898e6fc0c497e1f97ae7001c81322e8f8882b8e9",
  );
  equal(legacyHash({ ...ROW, ahead: 0, policy: "" }), legacyHash(older));
  equal(outcomeHash(OUTCOME), "209580d8d5f70f67bb254b8a229c91008e2d42f6eb910730cd8d71daa07931ec");
  equal(legacyHash(ROW), await sha256hex(ROW.prev_hash + canonicalRow(ROW)));
  equal(legacyHash(older), await sha256hex(older.prev_hash + canonicalRow(older)));
  equal(outcomeHash(OUTCOME), await sha256hex(OUTCOME.prev_hash + canonicalOutcome(OUTCOME)));
});

Deno.test("chainHash() of a sealed receipt's chainedText() keeps schema 4's format", async () => {
  const prev = "ab".repeat(32);
  const text = chainedText(sealRow(PENDING), 7, prev);
  equal(
    text,
    `{"seq":7,"prev_hash":"${prev}","id":"rcpt_01M7YZGRNYBT6CCCH0GYNBPBQH",` +
      `"time":"2026-12-05T17:00:00.000Z","agent":"bot","profile":"oncall",` +
      `"endpoint":"https.github","protocol":"https","summary":"GET api.github.com/repos/é\\"x",` +
      `"rule":"reads","mode":"enforce","verdict":"allow","would_be":"allow","reason":"allowed",` +
      `"upstream_status":200,"bytes_in":0,"bytes_out":512,"latency_ms":12.5,"ahead":1,` +
      `"policy":"0123456789abcdef","facts":{"http":{"method":"get","port":443}},` +
      `"approvals":[{"approver":"llm.judge","decision":"allow","latencyMs":412}]}`,
  );
  equal(chainHash(prev, text), "475e240c3e079d6f3b597d4e7282752cd8e7fae5e075afa1d18e2a11a3cfdee0");
  equal(chainHash(prev, text), await sha256hex(prev + text));
  // Unlike the legacy form, nothing is left out when unset: the text is its own format.
  const older = chainedText(sealRow({ ...PENDING, ahead: 0, policy: null }), 7, prev);
  equal(older, text.replace('"ahead":1,"policy":"0123456789abcdef"', '"ahead":0,"policy":null'));
  equal(chainHash(prev, older), "5ba552a545fde1ba58c7a8d37aa7e503e0dd4dae5e380efbfb7c4e9601c8b88e");
  equal(chainHash(prev, older), await sha256hex(prev + older));
});
