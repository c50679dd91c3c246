import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { Buffer } from "node:buffer";
import dgram from "node:dgram";
// @deno-types="npm:@types/dns-packet@5.6.5"
// Test-only, named here rather than in deno.json, so installs never fetch it.
// deno-lint-ignore no-import-prefix
import * as dnsPacket from "npm:dns-packet@5.6.1";
import { type DnsHandler, DnsServer, type DnsServerOptions } from "./dns_server.ts";

/** Answers every name with 192.0.2.1; anything that does not decode gets the single byte 0xee. */
const trivial: DnsHandler = (query) => {
  let decoded: dnsPacket.DecodedPacket;
  try {
    decoded = dnsPacket.decode(Buffer.from(query));
  } catch {
    return new Uint8Array([0xee]);
  }
  const name = decoded.questions?.[0]?.name ?? ".";
  return new Uint8Array(dnsPacket.encode({
    type: "response",
    id: decoded.id,
    questions: decoded.questions,
    answers: [{ type: "A", name, ttl: 5, data: "192.0.2.1" }],
  }));
};

function query(name: string, id: number): Uint8Array {
  return new Uint8Array(dnsPacket.encode({ type: "query", id, questions: [{ type: "A", name }] }));
}

function answerOf(reply: Uint8Array): [number | undefined, string] {
  const decoded = dnsPacket.decode(Buffer.from(reply));
  return [decoded.id, (decoded.answers?.[0] as dnsPacket.StringAnswer).data];
}

function open(options: Partial<DnsServerOptions> = {}): Promise<DnsServer> {
  return DnsServer.open("127.0.0.1", 0, {
    respond: trivial,
    onError: (err) => {
      throw err;
    },
    ...options,
  });
}

async function udpAsk(port: number, bytes: Uint8Array): Promise<Uint8Array> {
  const socket = dgram.createSocket("udp4");
  try {
    return await new Promise<Uint8Array>((resolve, reject) => {
      socket.once("message", (msg) => resolve(new Uint8Array(msg)));
      socket.once("error", reject);
      socket.send(bytes, port, "127.0.0.1");
    });
  } finally {
    socket.close();
  }
}

function framed(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 + message.length);
  new DataView(out.buffer).setUint16(0, message.length);
  out.set(message, 2);
  return out;
}

/** Reads one length-prefixed message, or null when the server closed the connection. */
async function readFramed(conn: Deno.Conn): Promise<Uint8Array | null> {
  const head = await readExactly(conn, 2);
  if (!head) return null;
  return await readExactly(conn, (head[0] << 8) | head[1]);
}

async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array | null> {
  const out = new Uint8Array(n);
  for (let got = 0; got < n;) {
    const read = await conn.read(out.subarray(got));
    if (read === null) return null;
    got += read;
  }
  return out;
}

/** Whether the server closed `conn`: read gives EOF (or a reset). */
async function closedByServer(conn: Deno.Conn): Promise<boolean> {
  try {
    return (await conn.read(new Uint8Array(64))) === null;
  } catch (err) {
    return err instanceof Deno.errors.ConnectionReset;
  }
}

Deno.test("DnsServer answers over UDP on the port it reports", async () => {
  const dns = await open();
  assert(dns.address.port > 0);
  assertEquals(answerOf(await udpAsk(dns.address.port, query("a.example", 7))), [7, "192.0.2.1"]);
  await dns.close();
});

Deno.test("DnsServer answers several queries on one TCP connection, on the same port", async () => {
  const dns = await open();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: dns.address.port });
  // Pipelined, and the second split across writes: framing must not depend on read boundaries.
  const second = framed(query("b.example", 2));
  await conn.write(new Uint8Array([...framed(query("a.example", 1)), ...second.subarray(0, 5)]));
  assertEquals(answerOf((await readFramed(conn))!), [1, "192.0.2.1"]);
  await conn.write(second.subarray(5));
  assertEquals(answerOf((await readFramed(conn))!), [2, "192.0.2.1"]);
  conn.close();
  await dns.close();
});

Deno.test("DnsServer passes a malformed datagram to the responder and keeps answering", async () => {
  const errors: unknown[] = [];
  let reported!: () => void;
  const errored = new Promise<void>((resolve) => reported = resolve);
  const dns = await open({
    respond: (q, peer) => {
      assertEquals(peer.transport, "udp");
      if (q.length === 1) throw new Error("responder broke");
      return trivial(q, peer);
    },
    onError: (err) => {
      errors.push(err);
      reported();
    },
  });
  const port = dns.address.port;
  assertEquals(await udpAsk(port, new Uint8Array([1, 2, 3])), new Uint8Array([0xee]));
  // A responder that throws is reported; the datagram gets no answer and the server goes on.
  const socket = dgram.createSocket("udp4");
  socket.send(new Uint8Array([9]), port, "127.0.0.1");
  await errored;
  socket.close();
  assertEquals(errors.map((e) => (e as Error).message), ["responder broke"]);
  assertEquals(answerOf(await udpAsk(port, query("after.example", 3))), [3, "192.0.2.1"]);
  await dns.close();
});

Deno.test("DnsServer closes a TCP connection that stalls mid-message after the idle timeout", async () => {
  const dns = await open({ tcpIdleTimeoutMs: 50 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: dns.address.port });
  const started = performance.now();
  await conn.write(new Uint8Array([0, 40, 1, 2])); // 40 bytes announced, 2 sent
  assert(await closedByServer(conn));
  assert(performance.now() - started >= 40, "closed before the timeout");
  conn.close();
  // The server still serves new connections.
  const next = await Deno.connect({ hostname: "127.0.0.1", port: dns.address.port });
  await next.write(framed(query("c.example", 4)));
  assertEquals(answerOf((await readFramed(next))!), [4, "192.0.2.1"]);
  next.close();
  await dns.close();
});

Deno.test("DnsServer refuses TCP connections over its cap", async () => {
  const dropped: string[] = [];
  const dns = await open({ maxTcpConnections: 1, onDropped: (cause) => dropped.push(cause) });
  const first = await Deno.connect({ hostname: "127.0.0.1", port: dns.address.port });
  await first.write(framed(query("a.example", 1)));
  await readFramed(first); // The first is accepted and served before the second arrives.
  const second = await Deno.connect({ hostname: "127.0.0.1", port: dns.address.port });
  assert(await closedByServer(second));
  assertEquals(dropped, ["tcp_connections"]);
  first.close();
  second.close();
  await dns.close();
});

Deno.test("DnsServer drops UDP queries over its in-flight limit", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  let entered!: () => void;
  const busy = new Promise<void>((resolve) => entered = resolve);
  let dropped!: () => void;
  const overLimit = new Promise<void>((resolve) => dropped = resolve);
  const dns = await open({
    maxInFlight: 1,
    respond: async (q, peer) => {
      entered();
      await gate;
      return trivial(q, peer);
    },
    onDropped: (cause) => cause === "in_flight" && dropped(),
  });
  const answered = udpAsk(dns.address.port, query("slow.example", 1));
  await busy;
  const socket = dgram.createSocket("udp4");
  socket.send(query("dropped.example", 2), dns.address.port, "127.0.0.1");
  await overLimit;
  socket.close();
  release();
  assertEquals(answerOf(await answered), [1, "192.0.2.1"]);
  await dns.close();
});

Deno.test("DnsServer.close() waits for queries in flight and ends every connection", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  let entered!: () => void;
  const inFlight = new Promise<void>((resolve) => entered = resolve);
  let finished = false;
  const dns = await open({
    respond: async () => {
      entered();
      await gate;
      finished = true;
      return null;
    },
  });
  const port = dns.address.port;
  const idle = await Deno.connect({ hostname: "127.0.0.1", port });
  const socket = dgram.createSocket("udp4");
  socket.send(query("a.example", 1), port, "127.0.0.1");
  await inFlight;
  const closed = dns.close();
  assert(await closedByServer(idle), "an idle TCP connection outlived close()");
  release();
  await closed;
  assert(finished, "close() returned before the query in flight ended");
  socket.close();
  idle.close();
  // Both ports are free again.
  Deno.listen({ hostname: "127.0.0.1", port }).close();
  const again = await DnsServer.open("127.0.0.1", port, { respond: trivial, onError: () => {} });
  await again.close();
});

Deno.test("DnsServer.open() rejects when the port is taken", async () => {
  const dns = await open();
  let failed = false;
  try {
    await DnsServer.open("127.0.0.1", dns.address.port, { respond: trivial, onError: () => {} });
  } catch {
    failed = true;
  }
  assert(failed);
  await dns.close();
});

const HAS_DIG = (() => {
  try {
    return new Deno.Command("which", { args: ["dig"], stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "DnsServer answers dig over UDP and TCP",
  ignore: !HAS_DIG,
  fn: async () => {
    const dns = await open();
    for (const transport of ["+notcp", "+tcp"]) {
      const out = await new Deno.Command("dig", {
        args: ["@127.0.0.1", "-p", String(dns.address.port), transport, "+short", "x.example"],
      }).output();
      assertEquals(new TextDecoder().decode(out.stdout).trim(), "192.0.2.1", transport);
    }
    await dns.close();
  },
});
