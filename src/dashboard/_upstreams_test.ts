import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import type { Receipt, ReceiptOutcome } from "../core/mod.ts";
import { upstreamRows, upstreamsTable } from "./_upstreams.ts";

function receipt(
  endpoint: string | null,
  latencyMs: number,
  more: Partial<Receipt> = {},
): Receipt {
  return {
    endpoint,
    latencyMs,
    verdict: "allow",
    upstreamStatus: 200,
    ...more,
  } as Receipt;
}

const failed = (error: string, notRun = false) => ({
  outcome: { error, notRun } as ReceiptOutcome,
});

Deno.test("upstreamRows() counts forwarded actions, 5xx and failed outcomes, with p50 and p95 per endpoint", () => {
  const receipts = [
    ...Array.from({ length: 18 }, (_, i) => receipt("github", 10 + i)),
    receipt("github", 900, { upstreamStatus: 503 }),
    receipt("github", 1000, { upstreamStatus: null, ...failed("upstream refused") }),
    receipt("db", 5, { upstreamStatus: null }),
    receipt("db", 7, { upstreamStatus: null, ...failed("upstream error 42P01") }),
    // Not the upstream's: denied, never run, decided by the gateway.
    receipt("db", 9_999, { verdict: "deny", upstreamStatus: null }),
    receipt("db", 9_999, { upstreamStatus: null, ...failed("not run", true) }),
    receipt(null, 9_999),
  ];
  assertEquals(upstreamRows(receipts), [
    {
      endpoint: "db",
      forwarded: 2,
      errors: 1,
      p50Ms: 5,
      p95Ms: 7,
      lastError: "upstream error 42P01",
    },
    {
      endpoint: "github",
      forwarded: 20,
      errors: 2,
      p50Ms: 19,
      p95Ms: 900,
      lastError: "upstream refused",
    },
  ]);
});

Deno.test("the upstreams table renders endpoint names and errors as text", () => {
  const rows = upstreamRows([
    receipt("<b>x</b>", 3, { upstreamStatus: null, ...failed("<script>alert(1)</script>") }),
  ]);
  const text = upstreamsTable(rows, 1000).toString();
  assert(!text.includes("<script>") && !text.includes("<b>x"), text);
  assert(text.includes("&lt;script&gt;alert(1)&lt;/script&gt;"), text);
  assert(upstreamsTable([], 1000).toString().includes("No forwarded actions"));
});
