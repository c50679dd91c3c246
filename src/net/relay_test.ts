// The relay driver over real loopback sockets: it feeds a session what each side sends, executes
// its commands, and closes the session's ledger whatever ends it.
import assert from "node:assert/strict";
import net from "node:net";
import type {
  Peer,
  RelaySession,
  SessionActions,
  SessionCommand,
  SessionEmit,
} from "../core/mod.ts";
import { relay } from "./relay.ts";

/** A connected pair of sockets: the gateway's end and the far end (agent or upstream). */
async function pair(): Promise<{ near: net.Socket; far: net.Socket; close(): void }> {
  const server = net.createServer({ pauseOnConnect: true });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  const nearP = new Promise<net.Socket>((resolve) => server.once("connection", resolve));
  const far = net.connect(port, "127.0.0.1");
  const near = await nearP;
  server.close();
  return { near, far, close: () => (near.destroy(), far.destroy()) };
}

/** Reads `socket` until it ends. */
function drain(socket: net.Socket): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on("data", (c: Buffer) => chunks.push(c));
  return new Promise((resolve) =>
    socket.once("close", () => resolve(Buffer.concat(chunks).toString()))
  );
}

/** Upper-cases what the agent sends upstream; `bye` from the agent closes gracefully. */
class Shouting implements RelaySession {
  emit: SessionEmit = () => {};
  readonly lostPeers: string[] = [];
  start(emit: SessionEmit): void {
    this.emit = emit;
    emit({ kind: "send", to: "agent", bytes: new TextEncoder().encode("hello\n") });
  }
  received(from: Peer, bytes: Uint8Array): void {
    const text = new TextDecoder().decode(bytes);
    if (from === "agent" && text.startsWith("bye")) {
      const last = { agent: new TextEncoder().encode("farewell\n") };
      return this.emit({ kind: "close", reason: "agent said bye", graceful: true, last });
    }
    const to = from === "agent" ? "upstream" : "agent";
    this.emit({ kind: "send", to, bytes: new TextEncoder().encode(text.toUpperCase()) });
  }
  lost(peer: Peer, failed: boolean): void {
    this.lostPeers.push(`${peer}${failed ? " failed" : ""}`);
    this.emit({ kind: "close", reason: `${peer} left`, graceful: false });
  }
}

function ledger(): SessionActions & { closed: string[] } {
  const closed: string[] = [];
  return {
    closed,
    decide: () => {
      throw new Error("unused");
    },
    refuse: () => null,
    pass: () => {
      throw new Error("unused");
    },
    complete: () => {},
    close: (reason) => closed.push(reason),
  };
}

Deno.test("relay: bytes go where the session says; a graceful close flushes the last bytes", async () => {
  const agent = await pair();
  const upstream = await pair();
  const session = new Shouting();
  const actions = ledger();
  const { done } = relay(agent.near, upstream.near, session, { actions });
  const agentSaw = drain(agent.far);
  const upstreamSaw = drain(upstream.far);
  agent.far.write("select 1\n");
  await new Promise<void>((resolve) => upstream.far.once("data", () => resolve()));
  upstream.far.write("one row\n");
  await new Promise<void>((resolve) => setTimeout(resolve, 0));
  agent.far.write("bye\n");
  await done;
  assert.deepEqual(actions.closed, ["agent said bye"]);
  assert.equal(await upstreamSaw, "SELECT 1\n");
  assert.match(await agentSaw, /^hello\n(ONE ROW\n)?farewell\n$/);
  agent.close();
  upstream.close();
});

Deno.test("relay: an agent that hangs up ends the session and closes its ledger once", async () => {
  const agent = await pair();
  const upstream = await pair();
  const session = new Shouting();
  const actions = ledger();
  const interrupts: string[] = [];
  const { done } = relay(agent.near, upstream.near, session, {
    actions,
    interrupt: () => interrupts.push("interrupt"),
  });
  const upstreamClosed = drain(upstream.far);
  agent.far.destroy();
  await done;
  await upstreamClosed; // The upstream connection was cut too.
  assert.deepEqual(actions.closed, ["agent left"]);
  assert.match(session.lostPeers[0], /^agent/);
  assert.deepEqual(interrupts, []);
  upstream.close();
});

Deno.test("relay: a side gone before the session started is reported at once", async () => {
  const agent = await pair();
  const upstream = await pair();
  upstream.near.destroy();
  const session = new Shouting();
  const actions = ledger();
  const commands: SessionCommand[] = [];
  // The session is told before anything it sent could be written.
  const { done } = relay(agent.near, upstream.near, {
    start: (emit) => session.start((c) => (commands.push(c), emit(c))),
    received: (from, bytes) => session.received(from, bytes),
    lost: (peer, failed) => session.lost(peer, failed),
  }, { actions });
  await done;
  assert.equal(session.lostPeers[0], "upstream");
  assert.deepEqual(actions.closed, ["upstream left"]);
  assert.deepEqual(commands.map((c) => c.kind), ["send", "close"]);
  agent.close();
});
