/**
 * Requests the agent abandons: the receipt keeps the upstream's status (the action ran) and
 * says the agent went away before the response was delivered, instead of recording a delivery.
 */

import { deepStrictEqual as equal, ok } from "node:assert/strict";
import type { Receipt } from "../src/core/mod.ts";
import { type ProxyFixture, withProxy } from "./_proxy_fixture.ts";
import { openTunnel, requestBytes } from "./_raw_http.ts";
import { eventually } from "./_helpers.ts";

const GONE = "(agent went away before the response was delivered)";

/**
 * A response body that keeps coming, a line every 20 ms, until the gateway stops reading it
 * (it cancels the stream by closing the upstream connection); bounded at 10 s.
 */
function endless(): Response {
  const line = new TextEncoder().encode("more of a long answer\n");
  let sent = 0;
  return new Response(
    new ReadableStream<Uint8Array>({
      async pull(c) {
        if (sent++ >= 500) return c.close();
        if (sent > 1) await new Promise((r) => setTimeout(r, 20));
        c.enqueue(line);
      },
    }),
  );
}

async function receiptFor(fx: ProxyFixture, path: string): Promise<Receipt> {
  return await eventually(`the receipt of GET ${path}`, async () => {
    return (await fx.receipts()).find((r) => r.summary === `GET api.test${path}`);
  });
}

Deno.test("an agent that leaves mid-response gets a receipt saying so, with the upstream's status", async () => {
  await withProxy({ handler: () => endless() }, async (fx) => {
    const conn = await openTunnel(fx);
    try {
      await conn.write(requestBytes({ method: "GET", target: "/stream" }));
      const head = await conn.readHead();
      equal(head.status, 200);
      ok((await conn.readChunk())!.length > 0);
    } finally {
      conn.close();
    }
    const receipt = await receiptFor(fx, "/stream");
    equal(receipt.upstreamStatus, 200);
    ok(receipt.reason.endsWith(GONE), receipt.reason);
    ok(receipt.bytesOut > 0);
  });
});

Deno.test("an agent that leaves before the upstream's response head gets the same receipt", async () => {
  let answer!: () => void;
  const answered = new Promise<void>((resolve) => answer = resolve);
  await withProxy({ handler: () => answered.then(endless) }, async (fx) => {
    const conn = await openTunnel(fx);
    await conn.write(requestBytes({ method: "GET", target: "/slow" }));
    await eventually("the request reaching the upstream", () => fx.seen.length === 1 || undefined);
    conn.close();
    answer();
    const receipt = await receiptFor(fx, "/slow");
    equal(receipt.upstreamStatus, 200);
    ok(receipt.reason.endsWith(GONE), receipt.reason);
  });
});
