import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
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
