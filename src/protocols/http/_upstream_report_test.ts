import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import net from "node:net";
import type { Decided, ExchangeResult } from "../../core/mod.ts";
import type { UpstreamFailure } from "./context.ts";
import { type ByteWriter, SocketStream } from "./_stream.ts";
import { UpstreamError } from "./_upstream.ts";
import {
  AGENT_GONE,
  AGENT_HALF_CLOSED,
  agentLeft,
  type ReportContext,
  upstreamFailed,
} from "./_upstream_report.ts";

/** A decided allow whose `finish` results the test reads. */
function decided(): Decided & { results: ExchangeResult[] } {
  const results: ExchangeResult[] = [];
  return {
    verdict: { decision: "allow", wouldBe: "allow", mode: "enforce", rule: "r", reason: "ok" },
    receipt: "rcpt_1",
    finish: (r) => results.push(r),
    results,
  };
}

function recorder() {
  const failures: UpstreamFailure[] = [];
  const logs: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  const ctx: ReportContext = {
    log: (level, message, fields) => logs.push({ level, message, fields }),
    upstreamFailed: (f) => failures.push(f),
  };
  const written: Uint8Array[] = [];
  const writer: ByteWriter = {
    write: (b) => (written.push(b), Promise.resolve()),
    closeWrite: () => {},
    destroy: () => {},
  };
  const text = () => written.map((b) => new TextDecoder().decode(b)).join("");
  return { ctx, failures, logs, writer, text };
}

const scope = { protocol: "https" as const, endpoint: "api", agent: "bot" };
/** The connection's ledger as the report uses it: completing finishes each action. */
const actions = {
  complete: (done: readonly Decided[], r: ExchangeResult) => done.forEach((d) => d.finish(r)),
};

Deno.test("upstreamFailed() records the gateway's 502 with why, counts it and logs one warning", async () => {
  const r = recorder();
  const d = decided();
  const err = new Deno.errors.UnexpectedEof(
    "peer closed connection without sending TLS close_notify",
  );
  const after = await upstreamFailed(r.writer, r.ctx, {
    actions,
    decided: d,
    err,
    bytesIn: 7,
    close: true,
    shape: undefined,
    scope,
    notResent: "not sent again: POST is not idempotent and its body had been sent",
  });
  assertEquals(after, "close");
  assertEquals(d.results, [{
    upstreamStatus: 502,
    bytesIn: 7,
    bytesOut: 0,
    error:
      "upstream closed the connection; not sent again: POST is not idempotent and its body had been sent",
  }]);
  assert(r.text().startsWith("HTTP/1.1 502 "), r.text());
  assertEquals(r.failures, [{ protocol: "https", endpoint: "api", cause: "eof" }]);
  assertEquals(r.logs.map((l) => [l.level, l.fields]), [
    ["warn", { agent: "bot", endpoint: "api", cause: "eof" }],
  ]);
});

Deno.test("upstreamFailed() answers a timeout with 504 and records it as the status", async () => {
  const r = recorder();
  const d = decided();
  const err = new UpstreamError("timeout", "upstream did not answer in time");
  assertEquals(
    await upstreamFailed(r.writer, r.ctx, {
      actions,
      decided: d,
      err,
      bytesIn: 0,
      close: false,
      shape: undefined,
      scope,
    }),
    "keep",
  );
  assertEquals(d.results[0].upstreamStatus, 504);
  assertEquals(d.results[0].error, "upstream did not answer in time");
  assert(r.text().startsWith("HTTP/1.1 504 "), r.text());
  assertEquals(r.failures[0].cause, "timeout");
});

Deno.test("agentLeft() tells an agent that half-closed from one that is gone", async () => {
  const server = net.createServer({ allowHalfOpen: true });
  const accepted = new Promise<net.Socket>((resolve) => server.once("connection", resolve));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const client = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  const agent = new SocketStream(await accepted);
  try {
    assertEquals(agentLeft(agent), undefined);
    const gone = agent.goneSignal();
    client.end(); // FIN: it may still read, or may have left
    await new Promise((resolve) => gone.addEventListener("abort", resolve, { once: true }));
    assertEquals(agentLeft(agent), AGENT_HALF_CLOSED);
    client.destroy();
    // Writes after the peer closed draw a reset; the one after that fails and closes the socket.
    for (let i = 0; i < 200 && !agent.closed; i++) {
      agent.socket.write("answer");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assertEquals(agentLeft(agent), AGENT_GONE);
  } finally {
    client.destroy();
    agent.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});
