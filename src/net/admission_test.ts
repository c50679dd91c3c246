import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { EventEmitter } from "node:events";
import type net from "node:net";
import type { AdmissionLimits, RefusalCause } from "../core/mod.ts";
import { AdmissionGate } from "./admission.ts";

/** The part of a socket the gate touches: close, end with last bytes, data to drain. */
class FakeSocket extends EventEmitter {
  destroyed = false;
  sent: Uint8Array | undefined;
  ended = false;

  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      this.emit("close");
    }
    return this;
  }

  end(bytes?: Uint8Array): this {
    this.sent = bytes;
    this.ended = true;
    return this;
  }

  get socket(): net.Socket {
    return this as unknown as net.Socket;
  }
}

function gate(limits: Partial<AdmissionLimits>, refusal?: Uint8Array) {
  const refused: RefusalCause[] = [];
  const gate = new AdmissionGate({
    limits: () => ({
      maxUnauthenticatedConnections: 100,
      maxConnectionsPerAgent: 100,
      handshakeTimeoutMs: 60_000,
      ...limits,
    }),
    refused: (cause) => refused.push(cause),
    refusal,
  });
  return { gate, refused };
}

/** Sockets still open at the end must be closed, so their deadline timers are cleared. */
function closeAll(...sockets: FakeSocket[]): void {
  for (const s of sockets) s.destroy();
}

Deno.test("AdmissionGate refuses past max_unauthenticated_connections, and admits once one closes", () => {
  const { gate: g, refused } = gate({ maxUnauthenticatedConnections: 2 });
  const a = new FakeSocket();
  const b = new FakeSocket();
  const c = new FakeSocket();
  assert(g.admit(a.socket));
  assert(g.admit(b.socket));
  assertEquals(g.admit(c.socket), null);
  assert(c.destroyed, "the refused connection is closed at once");
  assertEquals(refused, ["unauthenticated_cap"]);
  assertEquals(g.unauthenticated, 2);
  a.destroy();
  assertEquals(g.unauthenticated, 1);
  const d = new FakeSocket();
  assert(g.admit(d.socket), "a closed connection frees its place");
  closeAll(b, d);
  assertEquals(g.unauthenticated, 0);
});

Deno.test("AdmissionGate: an authenticated connection no longer counts as unauthenticated", () => {
  const { gate: g, refused } = gate({ maxUnauthenticatedConnections: 1 });
  const a = new FakeSocket();
  g.admit(a.socket)!.authenticated("ci-bot");
  const b = new FakeSocket();
  assert(g.admit(b.socket), "the first connection authenticated: room for another");
  assertEquals(refused, []);
  closeAll(a, b);
});

Deno.test("AdmissionGate closes a connection that has not authenticated within handshake_timeout", async () => {
  const { gate: g, refused } = gate({ handshakeTimeoutMs: 20 });
  const silent = new FakeSocket();
  const closed = new Promise((resolve) => silent.once("close", resolve));
  g.admit(silent.socket);
  const prompt = new FakeSocket();
  g.admit(prompt.socket)!.authenticated("ci-bot");
  await closed;
  assertEquals(refused, ["handshake_timeout"]);
  assertEquals(g.unauthenticated, 0);
  assert(!prompt.destroyed, "authenticating stopped the deadline");
  closeAll(prompt);
});

Deno.test("AdmissionGate caps each agent's connections; a close frees a place", () => {
  const { gate: g, refused } = gate({ maxConnectionsPerAgent: 2 });
  const sockets = [0, 1, 2, 3].map(() => new FakeSocket());
  const [a, b, c, d] = sockets.map((s) => g.admit(s.socket)!);
  assert(a.authenticated("ci-bot"));
  assert(b.authenticated("ci-bot"));
  assertEquals(c.authenticated("ci-bot"), false);
  assertEquals(c.authenticated("ci-bot"), false, "a refused connection stays refused");
  assert(d.authenticated("other-bot"), "the cap is per agent");
  assertEquals(refused, ["agent_cap"]);
  assertEquals(g.connectionsOf("ci-bot"), 2);
  assert(a.authenticated("ci-bot"), "a second call for the same connection counts nothing");
  assertEquals(g.connectionsOf("ci-bot"), 2);
  sockets[0].destroy();
  assertEquals(g.connectionsOf("ci-bot"), 1);
  const e = new FakeSocket();
  assert(g.admit(e.socket)!.authenticated("ci-bot"));
  closeAll(...sockets, e);
  assertEquals(g.connectionsOf("ci-bot"), 0);
  assertEquals(g.unauthenticated, 0);
});

Deno.test("AdmissionGate sends the refusal bytes before closing a refused connection", () => {
  const refusal = new TextEncoder().encode("E too many connections");
  const { gate: g } = gate({ maxUnauthenticatedConnections: 0 }, refusal);
  const s = new FakeSocket();
  assertEquals(g.admit(s.socket), null);
  assertEquals(s.sent, refusal);
  assert(s.ended && !s.destroyed, "it lingers until the agent reads and hangs up");
  s.destroy(); // The agent hangs up: the linger timer is cleared.
});

Deno.test("AdmissionGate without limits admits everything and sets no deadline", () => {
  const g = new AdmissionGate();
  const sockets = Array.from({ length: 300 }, () => new FakeSocket());
  for (const s of sockets) assert(g.admit(s.socket)!.authenticated("ci-bot"));
  assertEquals(g.connectionsOf("ci-bot"), 300);
  closeAll(...sockets);
});
