import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import net from "node:net";
import { SocketStream, StreamClosed } from "./_stream.ts";

/** A loopback connection: the accepted side as a SocketStream, the connecting side raw. */
async function connected(): Promise<{ stream: SocketStream; peer: net.Socket; close(): void }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((resolve) => server.once("connection", resolve));
  const peer = net.connect(port, "127.0.0.1");
  const stream = new SocketStream(await accepted);
  return {
    stream,
    peer,
    close: () => {
      stream.destroy();
      peer.destroy();
      server.close();
    },
  };
}

/** Bytes `0, 1, 2, …` (mod 251) from `start`, so a part out of place shows. */
function pattern(start: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (start + i) % 251;
  return out;
}

/** Reads from `peer` until `length` bytes came. */
function receive(peer: net.Socket, length: number, onFirst?: () => void): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let have = 0;
  return new Promise((resolve) => {
    peer.on("data", (chunk: Uint8Array) => {
      if (have === 0) onFirst?.();
      chunks.push(chunk);
      have += chunk.length;
      if (have < length) return;
      const out = new Uint8Array(have);
      let o = 0;
      for (const c of chunks) out.set(c, (o += c.length) - c.length);
      resolve(out);
    });
  });
}

Deno.test("SocketStream.writeParts sends the parts in order, empty ones included", async () => {
  const c = await connected();
  try {
    const parts = [pattern(0, 300), new Uint8Array(0), pattern(300, 5_000), pattern(5_300, 7)];
    const got = receive(c.peer, 5_307);
    await c.stream.writeParts(parts);
    await c.stream.writeParts([pattern(5_307, 3)]);
    deepStrictEqual(await got, pattern(0, 5_310));
  } finally {
    c.close();
  }
});

Deno.test("SocketStream.writeParts waits while the peer does not read, and resolves once it has", async () => {
  const c = await connected();
  try {
    // Far more than the kernel's buffers on both sides hold: most must wait in the socket.
    const size = 16 * 1024 * 1024;
    c.peer.pause();
    let settled = false;
    const written = c.stream.writeParts([pattern(0, size / 2), pattern(size / 2, size / 2)])
      .then(() => settled = true);
    let settledAtFirst: boolean | undefined;
    const got = receive(c.peer, size, () => settledAtFirst = settled);
    c.peer.resume();
    const bytes = await got;
    await written;
    equal(settledAtFirst, false, "the write resolved before the peer read anything");
    equal(bytes.length, size);
    ok(bytes.every((b, i) => b === i % 251), "a part arrived out of place");
  } finally {
    c.close();
  }
});

Deno.test("SocketStream.writeParts refuses a closed socket, and rejects when it closes waiting", async () => {
  const c = await connected();
  try {
    c.peer.pause();
    const waiting = c.stream.writeParts([pattern(0, 8 * 1024 * 1024), pattern(0, 8 * 1024 * 1024)]);
    c.stream.destroy();
    await rejects(waiting, StreamClosed);
    await rejects(c.stream.writeParts([pattern(0, 1), pattern(1, 1)]), StreamClosed);
  } finally {
    c.close();
  }
});
