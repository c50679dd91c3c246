import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import type { Admission, AdmissionLimits, ListenerHooks } from "../core/mod.ts";
import { TcpListener } from "./listener.ts";

Deno.test("TcpListener.close() cuts open connections and waits for the work serving them", async () => {
  const counts: number[] = [];
  let finished = false;
  let accepted!: () => void;
  const connected = new Promise<void>((r) => accepted = r);
  const tcp = await TcpListener.open("127.0.0.1", 0, {
    serve: (socket) =>
      new Promise<void>((resolve) => {
        accepted();
        socket.on("close", () => {
          // Work that outlives the socket (a receipt being written) still holds close() up.
          setTimeout(() => {
            finished = true;
            resolve();
          }, 50);
        });
      }),
    onError: (err) => {
      throw err;
    },
    connections: (delta) => counts.push(delta),
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: tcp.address.port });
  await connected;
  await tcp.close();
  assert(finished, "close() returned before the connection's work ended");
  assertEquals(counts, [1, -1]);
  assert(tcp.closing);
  conn.close();
});

Deno.test("TcpListener reports a serve() rejection and destroys that connection", async () => {
  const errors: unknown[] = [];
  const tcp = await TcpListener.open("127.0.0.1", 0, {
    serve: () => Promise.reject(new Error("boom")),
    onError: (err) => errors.push(err),
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: tcp.address.port });
  const n = await conn.read(new Uint8Array(1));
  assertEquals(n, null); // The listener closed the connection.
  await tcp.close();
  assertEquals(errors.map((e) => (e as Error).message), ["boom"]);
  conn.close();
});

Deno.test("TcpListener.open() rejects when the address is taken", async () => {
  const first = await TcpListener.open("127.0.0.1", 0, {
    serve: () => Promise.resolve(),
    onError: () => {},
  });
  let failed = false;
  try {
    await TcpListener.open("127.0.0.1", first.address.port, {
      serve: () => Promise.resolve(),
      onError: () => {},
    });
  } catch {
    failed = true;
  }
  assert(failed);
  await first.close();
});

/** A real listening socket whose first `failures` accepts fail as EMFILE does. */
function failingListen(failures: number) {
  let left = failures;
  return (options: { hostname: string; port: number }) => {
    const real = Deno.listen({ ...options, transport: "tcp" });
    return {
      get addr() {
        return real.addr;
      },
      close: () => real.close(),
      accept: () => {
        if (left-- > 0) {
          return Promise.reject(
            Object.assign(new Error("Too many open files (os error 24)"), { code: "EMFILE" }),
          );
        }
        return real.accept();
      },
    };
  };
}

function recordingHooks(limits: Partial<AdmissionLimits> = {}) {
  const events: string[] = [];
  let recovered!: () => void;
  const recovery = new Promise<void>((resolve) => recovered = resolve);
  let stalled!: () => void;
  const stall = new Promise<void>((resolve) => stalled = resolve);
  const hooks: ListenerHooks = {
    limits: () => ({
      maxUnauthenticatedConnections: 100,
      maxConnectionsPerAgent: 100,
      handshakeTimeoutMs: 60_000,
      ...limits,
    }),
    refused: (cause) => events.push(`refused ${cause}`),
    acceptFailed: (cause) => events.push(`failed ${cause}`),
    acceptStalled: (cause) => {
      events.push(`stalled ${cause}`);
      stalled();
    },
    acceptRecovered: (burst, closing) => {
      events.push(`${closing ? "closed" : "recovered"} after ${burst.failures}`);
      recovered();
    },
  };
  return { hooks, events, recovery, stall };
}

Deno.test("TcpListener backs off a failing accept, reports the burst once, and serves again", async () => {
  const { hooks, events, recovery } = recordingHooks();
  let served!: () => void;
  const servedOne = new Promise<void>((resolve) => served = resolve);
  const tcp = await TcpListener.open("127.0.0.1", 0, {
    serve: (socket) => {
      served();
      socket.end("hello");
      return Promise.resolve();
    },
    onError: (err) => {
      throw err;
    },
    hooks,
    listen: failingListen(4),
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: tcp.address.port });
  await servedOne;
  const buf = new Uint8Array(5);
  assertEquals(await conn.read(buf), 5);
  assertEquals(new TextDecoder().decode(buf), "hello");
  await recovery;
  await tcp.close();
  conn.close();
  // Four failures (10+20+40+80 ms of backoff), one stall, then the queued connection went through
  // and, nothing more queued, the idle probe ended the burst.
  assertEquals(events, [
    "failed EMFILE",
    "stalled EMFILE",
    "failed EMFILE",
    "failed EMFILE",
    "failed EMFILE",
    "recovered after 4",
  ]);
});

Deno.test("TcpListener closes a connection past the unauthenticated cap, and one past the deadline", async () => {
  const { hooks, events } = recordingHooks({
    maxUnauthenticatedConnections: 1,
    handshakeTimeoutMs: 200,
  });
  const admitted: Admission[] = [];
  const tcp = await TcpListener.open("127.0.0.1", 0, {
    serve: (socket, admission) => {
      admitted.push(admission);
      return new Promise((resolve) => socket.once("close", () => resolve()));
    },
    onError: (err) => {
      throw err;
    },
    hooks,
  });
  const port = tcp.address.port;
  const silent = await Deno.connect({ hostname: "127.0.0.1", port });
  const started = Date.now();
  // The first connection holds the one unauthenticated place until its deadline closes it.
  const second = await Deno.connect({ hostname: "127.0.0.1", port });
  assertEquals(await second.read(new Uint8Array(1)), null, "refused at once");
  assertEquals(await silent.read(new Uint8Array(1)), null, "closed at the deadline");
  assert(Date.now() - started >= 150, "not before handshake_timeout");
  assertEquals(events, ["refused unauthenticated_cap", "refused handshake_timeout"]);
  assertEquals(admitted.length, 1);
  second.close();
  silent.close();
  await tcp.close();
});

Deno.test("TcpListener.close() in the middle of a burst ends it, leaving no problem behind", async () => {
  const { hooks, events, stall } = recordingHooks();
  const tcp = await TcpListener.open("127.0.0.1", 0, {
    serve: () => Promise.resolve(),
    onError: (err) => {
      throw err;
    },
    hooks,
    listen: failingListen(Infinity),
  });
  await stall;
  await tcp.close(); // Wakes the backoff sleep: close() does not wait out the delay.
  assertEquals(
    events.at(-1),
    `closed after ${events.filter((e) => e.startsWith("failed")).length}`,
  );
  assertEquals(events.filter((e) => e.startsWith("stalled")), ["stalled EMFILE"]);
});

Deno.test("TcpListener keeps accepting when a hook throws: the error goes to onError", async () => {
  const { hooks } = recordingHooks();
  const errors: string[] = [];
  let served!: () => void;
  const servedOne = new Promise<void>((resolve) => served = resolve);
  const tcp = await TcpListener.open("127.0.0.1", 0, {
    serve: (socket) => {
      served();
      socket.destroy();
      return Promise.resolve();
    },
    onError: (err) => errors.push((err as Error).message),
    hooks: {
      ...hooks,
      acceptStalled: () => {
        throw new Error("metrics exploded");
      },
    },
    listen: failingListen(2),
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: tcp.address.port });
  await servedOne;
  assertEquals(errors, ["metrics exploded"]);
  await tcp.close();
  conn.close();
});
