// Revoking an agent ends its open proxy tunnels at once, each with a receipt: a long response
// (a stream, a Kubernetes watch through the forward proxy) does not outlive the revocation,
// while another agent's tunnel carries on.
import assert from "node:assert/strict";
import { eventually, withTimeout } from "./_helpers.ts";
import { withProxy } from "./_proxy_fixture.ts";
import { openTunnel } from "./_raw_tunnel.ts";

const STREAM_RULES = `
rule "api-reads" {
  endpoint  = https.api
  condition = "http.method == 'get'"
  verdict   = "allow"
}
`;

/** An upstream answer that sends one line and then never ends, like an idle watch. */
function endless(): Response {
  return new Response(
    new ReadableStream({ start: (c) => c.enqueue(new TextEncoder().encode("tick\n")) }),
  );
}

Deno.test("revoking an agent ends its open tunnel, even mid-stream, with a receipt", async () => {
  const options = {
    rules: STREAM_RULES,
    handler: (req: Request) =>
      new URL(req.url).pathname === "/stream" ? endless() : new Response("ok"),
  };
  await withProxy(options, async (fx) => {
    const token = fx.addAgent("rev", "bots");
    // The gateway sees a new agent once it rereads the agents file.
    const revoked = await eventually(
      "the new agent's tunnel",
      () => openTunnel(fx, { agent: "rev", token }).catch(() => undefined),
    );
    const keeps = await openTunnel(fx);
    try {
      await revoked.send("GET /stream HTTP/1.1\r\nHost: api.test\r\n\r\n");
      await eventually(
        "the stream to reach the upstream",
        () => fx.seen.some((r) => r.target === "/stream") ? true : undefined,
      );
      fx.registry.revoke("rev");
      assert.equal(
        await withTimeout(revoked.waitClosed(10_000), 12_000, "the tunnel to close"),
        true,
        "the revoked agent's tunnel was closed by the gateway",
      );
      // The other agent's tunnel still serves.
      await keeps.send("GET /still HTTP/1.1\r\nHost: api.test\r\n\r\n");
      assert.equal((await keeps.readResponse()).status, 200);
      const receipts = await fx.receipts();
      const ended = receipts.filter((r) => r.summary === "session ended");
      assert.deepEqual(ended.map((r) => [r.protocol, r.agent, r.endpoint, r.reason]), [
        ["https", "rev", "api", "agent revoked"],
      ]);
      const stream = receipts.find((r) => r.summary.includes("/stream"));
      assert.equal(stream?.outcome?.error !== null && stream?.outcome !== undefined, true);
    } finally {
      await revoked.close().catch(() => {});
      await keeps.close().catch(() => {});
    }
  });
});
