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
import { Scrubber } from "../../credentials/mod.ts";

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

/** Everything the agent receives until its connection ends. */
function received(socket: net.Socket): Promise<string> {
  let text = "";
  socket.on("data", (d: Uint8Array) => text += new TextDecoder().decode(d));
  return new Promise((resolve) => {
    socket.once("end", () => resolve(text));
    socket.once("close", () => resolve(text));
  });
}

const SECRET = "ghp_real-secret-value";

/** The data of a chunked body (`size CRLF data CRLF`…, ending with a zero-size chunk). */
function dechunk(text: string): string {
  let out = "";
  for (let at = 0;;) {
    const line = text.indexOf("\r\n", at);
    const size = parseInt(text.slice(at, line), 16);
    if (size === 0) return out;
    out += text.slice(line + 2, line + 2 + size);
    at = line + 2 + size + 2;
  }
}
const REPLACEMENT = "{{github_pat}}";

/**
 * Relays a response with head `head` whose body the upstream sends as `pieces`, a few
 * milliseconds apart (then closes when `close`), after `withHead` (read with the head), with
 * `SECRET` scrubbed; returns what the agent received once the gateway ended its connection.
 */
async function scrubbedRelay(head: string, pieces: string[], close = false, withHead = "") {
  const agentSide = await agentPair();
  const upstream = await upstreamPair();
  const pool = new UpstreamPool({ net: {} as never });
  const client = new SocketStream(agentSide.gatewaySide);
  const results: ExchangeResult[] = [];
  const text = received(agentSide.agent);
  try {
    // Bytes read with the head, as the head reader leaves them in the stream.
    if (withHead !== "") upstream.lease.unread(encoder.encode(withHead));
    const relaying = relayResponse(exchangeOn(client, results), pool, {
      decided: DECIDED,
      lease: { stream: upstream.lease, reused: false, key: "k" },
      response: parseResponseHead(encoder.encode(head))!,
      scrubber: new Scrubber([[SECRET, REPLACEMENT]]),
      bytesIn: 0,
    });
    for (const piece of pieces) {
      await new Promise((r) => setTimeout(r, 5));
      await upstream.server.write(encoder.encode(piece));
    }
    if (close) upstream.server.close();
    const after = await relaying;
    agentSide.gatewaySide.end();
    return { after, text: await text, results };
  } finally {
    pool.close();
    upstream.close();
    agentSide.close();
  }
}

Deno.test("a scrubbed body is re-chunked, its secret replaced across the upstream's reads", async () => {
  // The secret straddles the two pieces the upstream sends.
  const body = `{"token":"${SECRET}","again":"${SECRET}"}`;
  const cut = body.indexOf(SECRET) + 5;
  const { after, text, results } = await scrubbedRelay(
    `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`,
    [body.slice(0, cut), body.slice(cut)],
  );
  const scrubbed = body.replaceAll(SECRET, REPLACEMENT);
  equal(after, "keep");
  const [head, chunks] = text.split("\r\n\r\n");
  ok(/\r\nTransfer-Encoding: chunked/i.test(head), head);
  ok(!/content-length/i.test(head), head);
  equal(dechunk(`${chunks}\r\n\r\n`), scrubbed);
  ok(!text.includes(SECRET));
  deepEqual(results.map((r) => [r.upstreamStatus, r.bytesOut, r.error]), [
    [200, scrubbed.length, undefined],
  ]);
});

Deno.test("a scrubbed body cut short upstream never looks complete to the agent", async () => {
  const { after, text, results } = await scrubbedRelay(
    "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
    [`{"token":"${SECRET.slice(0, 8)}`],
    true,
  );
  equal(after, "close");
  // The head left before the body ended: the connection is cut without the last chunk.
  ok(text.startsWith("HTTP/1.1 200 "), text);
  ok(!text.endsWith("0\r\n\r\n"), text);
  deepEqual(results.map((r) => r.upstreamStatus), [200]);
  ok(/closed mid-response/.test(results[0].error ?? ""), results[0].error);
});

Deno.test("a large scrubbed body streams chunked, scrubbed across its reads", async () => {
  const filler = "x".repeat(40 * 1024);
  const body = `${filler}${SECRET}${filler}`;
  const cut = filler.length + 7;
  const { after, text } = await scrubbedRelay(
    `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`,
    [body.slice(0, cut), body.slice(cut)],
  );
  equal(after, "keep");
  const [head] = text.split("\r\n\r\n");
  ok(/\r\nTransfer-Encoding: chunked/i.test(head), head);
  ok(!/content-length/i.test(head), head);
  ok(!text.includes(SECRET));
  ok(text.includes(REPLACEMENT));
});

Deno.test("a scrubbed body that came whole with its head keeps a length, its scrubbed one", async () => {
  const body = `{"token":"${SECRET}","again":"${SECRET}"}`;
  const scrubbed = body.replaceAll(SECRET, REPLACEMENT);
  const { after, text, results } = await scrubbedRelay(
    `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`,
    [],
    false,
    body,
  );
  equal(after, "keep");
  const [head, rest] = text.split("\r\n\r\n");
  ok(!/transfer-encoding/i.test(head), head);
  ok(new RegExp(`\r\nContent-Length: ${scrubbed.length}(\r\n|$)`).test(head), head);
  equal(rest, scrubbed);
  deepEqual(results.map((r) => [r.upstreamStatus, r.bytesOut, r.error]), [
    [200, scrubbed.length, undefined],
  ]);
});

Deno.test("an empty scrubbed body keeps its length of 0", async () => {
  const { after, text } = await scrubbedRelay(
    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    [],
  );
  equal(after, "keep");
  ok(/\r\nContent-Length: 0\r\n\r\n$/.test(text), text);
});

Deno.test("a scrubbed body only partly read with its head streams chunked", async () => {
  const body = `{"token":"${SECRET}"}`;
  const cut = body.indexOf(SECRET) + 3;
  const { after, text } = await scrubbedRelay(
    `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`,
    [body.slice(cut)],
    false,
    body.slice(0, cut),
  );
  equal(after, "keep");
  const [head, chunks] = text.split("\r\n\r\n");
  ok(/\r\nTransfer-Encoding: chunked/i.test(head), head);
  equal(dechunk(`${chunks}\r\n\r\n`), body.replaceAll(SECRET, REPLACEMENT));
});

Deno.test("bytes past a scrubbed body read with its head are refused, never relayed", async () => {
  const body = `{"token":"${SECRET}"}`;
  const { after, text, results } = await scrubbedRelay(
    `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`,
    [],
    false,
    `${body}HTTP/1.1 200 OK\r\n`,
  );
  equal(after, "close");
  ok(!text.includes(SECRET), text);
  ok(!text.includes("HTTP/1.1 200 OK\r\nHTTP"), text);
  ok(/extra bytes/.test(results[0].error ?? ""), results[0].error);
});
