// The response relay's hold on the agent connection: it watches for the agent going away only
// while it relays, so a kept-alive connection gathers nothing across requests, and an agent lost
// while the upstream is silent ends the relay at once.
import { deepEqual, equal, ok } from "node:assert/strict";
import net from "node:net";
import type { Decided, ExchangeResult, SessionActions } from "../../core/mod.ts";
import type { Exchange } from "./_exchange_context.ts";
import { relayResponse } from "./_response_relay.ts";
import { ConnStream, SocketStream } from "./_stream.ts";
import { UpstreamPool } from "./_upstream.ts";
import { AGENT_GONE } from "./_upstream_report.ts";
import { parseResponseHead } from "./_wire.ts";

const encoder = new TextEncoder();

/** A connected node socket pair on loopback: the gateway's end and the agent's. */
async function agentPair(): Promise<{ gatewaySide: net.Socket; agent: net.Socket; close(): void }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  const accepted = new Promise<net.Socket>((resolve) => server.once("connection", resolve));
  const agent = net.connect(port, "127.0.0.1");
  const gatewaySide = await accepted;
  server.close();
  return {
    gatewaySide,
    agent,
    close() {
      agent.destroy();
      gatewaySide.destroy();
    },
  };
}

/** A Deno connection pair on loopback: the gateway's upstream end and the upstream's. */
async function upstreamPair(): Promise<{ lease: ConnStream; server: Deno.Conn; close(): void }> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [server, client] = await Promise.all([
    listener.accept(),
    Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
  ]);
  listener.close();
  const lease = new ConnStream(client);
  return {
    lease,
    server,
    close() {
      lease.destroy();
      try {
        server.close();
      } catch {
        // Already closed.
      }
    },
  };
}

function exchangeOn(client: SocketStream, results: ExchangeResult[]): Exchange {
  const actions = {
    complete: (_: readonly Decided[], result: ExchangeResult) => results.push(result),
  } as unknown as SessionActions;
  return {
    client,
    head: { method: "GET", target: "/", version: "HTTP/1.1", headers: [], headBytes: 0 },
    req: {
      agent: { name: "bot" },
      scheme: "https",
      host: "h",
      port: 443,
      target: "/",
      endpoint: null,
    },
    ctx: { log: () => {}, upstreamFailed: () => {}, upstreamRetried: () => {} },
    actions,
    limits: {},
    flavor: undefined,
    protocol: "https",
    shape: undefined,
    clientClose: false,
  } as unknown as Exchange;
}

const DECIDED = { verdict: "allow", receipt: null } as unknown as Decided;

Deno.test("relayResponse leaves no watcher on a kept-alive agent connection, request after request", async () => {
  const agentSide = await agentPair();
  const upstream = await upstreamPair();
  const pool = new UpstreamPool({ net: {} as never });
  const client = new SocketStream(agentSide.gatewaySide);
  const results: ExchangeResult[] = [];
  let received = "";
  agentSide.agent.on("data", (d: Uint8Array) => received += new TextDecoder().decode(d));
  try {
    for (let i = 0; i < 20; i++) {
      const response = encoder.encode(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n${i % 10}!`);
      const head = parseResponseHead(response)!;
      upstream.lease.unread(response.subarray(head.headBytes));
      const lease = { stream: upstream.lease, reused: true, key: "k" };
      const ex = exchangeOn(client, results);
      const after = await relayResponse(ex, pool, {
        decided: DECIDED,
        lease,
        response: head,
        scrubber: null,
        bytesIn: 0,
      });
      equal(after, "keep");
      equal(client.lostWatchers, 0, `request ${i}: the relay's watch outlived its exchange`);
    }
    equal(results.length, 20);
    ok(results.every((r) => r.error === undefined && r.bytesOut === 2), JSON.stringify(results));
    while (!received.includes("9!", received.length - 2)) {
      await new Promise((r) => setTimeout(r, 5));
    }
    equal(received.split("HTTP/1.1 200 OK").length - 1, 20);
  } finally {
    pool.close();
    upstream.close();
    agentSide.close();
  }
});

Deno.test("relayResponse ends at once when the agent is lost while the upstream is silent", async () => {
  const agentSide = await agentPair();
  const upstream = await upstreamPair();
  const pool = new UpstreamPool({ net: {} as never });
  const client = new SocketStream(agentSide.gatewaySide);
  const results: ExchangeResult[] = [];
  try {
    // A watch: chunked, one event sent, then nothing for as long as the test runs.
    const response = encoder.encode(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nevent1\r\n",
    );
    const head = parseResponseHead(response)!;
    upstream.lease.unread(response.subarray(head.headBytes));
    const ex = exchangeOn(client, results);
    const relaying = relayResponse(ex, pool, {
      decided: DECIDED,
      lease: { stream: upstream.lease, reused: false, key: "k" },
      response: head,
      scrubber: null,
      bytesIn: 0,
    });
    // The first event reaches the agent; then the agent's connection is reset.
    await new Promise<void>((resolve) => agentSide.agent.once("data", () => resolve()));
    agentSide.agent.resetAndDestroy();
    equal(await relaying, "close");
    deepEqual(results.map((r) => r.error), [AGENT_GONE]);
    ok(upstream.lease.closed, "the upstream connection was left open after its agent left");
    equal(client.lostWatchers, 0);
  } finally {
    pool.close();
    upstream.close();
    agentSide.close();
  }
});

Deno.test("SocketStream.onLost fires once the connection is gone both ways, not on a half-close", async () => {
  const pair = await agentPair();
  const stream = new SocketStream(pair.gatewaySide);
  try {
    let lost = 0;
    let removed = 0;
    stream.onLost(() => lost++);
    const unwatch = stream.onLost(() => removed++);
    unwatch();
    equal(stream.lostWatchers, 1);
    pair.agent.end(); // Half-close: the agent still waits for its answer.
    await stream.read(); // null: the end of the agent's stream
    equal(lost, 0, "a half-close counted as lost");
    pair.gatewaySide.destroy();
    while (!stream.closed || lost === 0) await new Promise((r) => setTimeout(r, 5));
    equal(lost, 1);
    equal(removed, 0, "an unsubscribed watcher was called");
    equal(stream.lostWatchers, 0);
    let late = 0;
    stream.onLost(() => late++);
    equal(late, 1, "a watcher added after the loss is called at once");
    equal(stream.lostWatchers, 0);
  } finally {
    pair.close();
  }
});
