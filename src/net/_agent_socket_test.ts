import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { Buffer } from "node:buffer";
import type net from "node:net";
import tls from "node:tls";
import { agentSocket, agentStreamSocket } from "./_agent_socket.ts";
import { acceptTls, ServerContexts } from "./tls_accept.ts";

// A throwaway self-signed leaf (P-256, localhost, 127.0.0.1): the client below does not verify it.
const KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg/Sg2edqOXWv5c9kM
6pcXzEQNA7/Zkwhq69RQn8H4YyOhRANCAAQPOEGs1Smk4ZYWBl+QbZCP3obqgt9B
YW6rTK+UD6NCKZgszfNTFhvw5GnSFuN39BM/0vMn9kPmvMpw9oZq7J4A
-----END PRIVATE KEY-----`;
const CERT = `-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUaSAYVFEm6/BQOg5qIbtET0zWPPUwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwNTA0MTUwNFoYDzIxMjYxMTEx
MDQxNTA0WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAQPOEGs1Smk4ZYWBl+QbZCP3obqgt9BYW6rTK+UD6NCKZgszfNTFhvw
5GnSFuN39BM/0vMn9kPmvMpw9oZq7J4Ao28wbTAdBgNVHQ4EFgQUhS+omXyJTvzW
hKfXIXRn9/ahddAwHwYDVR0jBBgwFoAUhS+omXyJTvzWhKfXIXRn9/ahddAwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
zj0EAwIDSAAwRQIhAMJkgUNQqM1ap5ff2ujrEB20/9CPSUtw0P6tcht0P7XrAiB6
3WzYvU2fzvFilfkrRlj67pWxsFhzifsarpPuQQ+G3A==
-----END CERTIFICATE-----`;
const CONTEXT = new ServerContexts().for({ certPem: CERT, keyPem: KEY });

type Wrap = (conn: Deno.TcpConn, allowHalfOpen: boolean) => net.Socket;

/** Both ways an accepted connection becomes an agent socket: every behaviour holds for each. */
const WRAPS: [string, Wrap][] = [["native", agentSocket], ["stream", agentStreamSocket]];

/** One accepted connection as an agent socket, and the client's end. */
async function pair(allowHalfOpen = false, wrap: Wrap = agentSocket) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const socket = wrap(await listener.accept(), allowHalfOpen);
  listener.close();
  return { client, socket };
}

function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => socket.once("close", () => resolve()));
}

async function readAll(conn: Deno.Conn): Promise<string> {
  const chunks: string[] = [];
  const buf = new Uint8Array(1024);
  for (let n; (n = await conn.read(buf)) !== null;) {
    chunks.push(new TextDecoder().decode(buf.subarray(0, n)));
  }
  return chunks.join("");
}

for (const [kind, wrap] of WRAPS) {
  Deno.test(`${kind}: agentSocket answers after the agent half-closes when allowHalfOpen is set`, async () => {
    const { client, socket } = await pair(true, wrap);
    assertEquals(socket.remoteAddress, "127.0.0.1");
    assertEquals(socket.localPort, (client.remoteAddr as Deno.NetAddr).port);
    const received: string[] = [];
    socket.on("data", (d: Uint8Array) => received.push(Buffer.from(d).toString()));
    socket.on("end", () => socket.end("response"));
    const done = closed(socket);
    await client.write(new TextEncoder().encode("request"));
    await client.closeWrite();
    assertEquals(await readAll(client), "response");
    await done;
    assertEquals(received.join(""), "request");
    client.close();
  });
}

Deno.test("the stream fallback reads nothing ahead while paused: bytes wait in the kernel", async () => {
  const { client, socket } = await pair(false, agentStreamSocket);
  const first = new Promise<Uint8Array>((resolve) =>
    socket.once("data", (d: Uint8Array) => {
      socket.pause(); // As the Postgres startup reader does after each packet.
      resolve(d);
    })
  );
  await client.write(new TextEncoder().encode("one"));
  assertEquals(Buffer.from(await first).toString(), "one");
  // On loopback the bytes are in the gateway's receive queue once write() resolves; a read
  // still pending from before the pause would complete within the next turns of the loop.
  await client.write(new TextEncoder().encode("two"));
  for (let turn = 0; turn < 5; turn++) await new Promise((r) => setTimeout(r, 0));
  assertEquals(socket.readableLength, 0, "nothing was pulled into the stream while paused");
  const next = new Promise<Uint8Array>((resolve) => socket.once("data", resolve));
  socket.resume();
  assertEquals(Buffer.from(await next).toString(), "two");
  const done = closed(socket);
  socket.destroy();
  await done;
  client.close();
});

for (const [kind, wrap] of WRAPS) {
  Deno.test(`${kind}: acceptTls on an agent socket with garbage already buffered fails the handshake, no crash`, async () => {
    // A CONNECT head pipelined with garbage: the proxy puts the bytes back before TLS starts.
    const { client, socket } = await pair(true, wrap);
    socket.unshift(Buffer.from("GARBAGE GARBAGE GARBAGE\r\n\r\n"));
    const accepted = await acceptTls(socket, CONTEXT, 5_000);
    assertEquals(accepted.kind, "failed");
    socket.destroy();
    client.close();
  });
}

for (const [kind, wrap] of WRAPS) {
  Deno.test(`${kind}: acceptTls completes a handshake whose ClientHello was read and put back first`, async () => {
    const { client, socket } = await pair(true, wrap);
    const hello = new Promise<Uint8Array>((resolve) =>
      socket.once("data", (d: Uint8Array) => {
        socket.pause();
        resolve(d);
      })
    );
    // The client's TLS runs over the plain Deno connection through a node Duplex of its own.
    const secureClient = tls.connect({
      // The test's client speaks TLS over its plain connection wrapped the same way.
      socket: agentSocket(client, true),
      rejectUnauthorized: false,
      ALPNProtocols: ["http/1.1"],
    });
    secureClient.on("error", () => {});
    socket.unshift(await hello);
    const accepted = await acceptTls(socket, CONTEXT, 5_000);
    assertEquals(accepted.kind, "secure");
    if (accepted.kind !== "secure") return;
    const echoed = new Promise<string>((resolve) =>
      secureClient.once("data", (d: Uint8Array) => resolve(Buffer.from(d).toString()))
    );
    accepted.socket.once("data", (d: Uint8Array) => accepted.socket.write(d));
    secureClient.write("ping");
    assertEquals(await echoed, "ping");
    const done = closed(socket);
    secureClient.destroy();
    accepted.socket.destroy();
    await done;
    assert(socket.destroyed);
  });
}

Deno.test("agentSocket is node's native TCP socket, and closing it closes the connection", async () => {
  // Without the native handle, every TLS round trip goes through a JS stream (slower, not wrong).
  const { client, socket } = await pair();
  assert((socket as unknown as { _handle?: unknown })._handle, "fell back to the JS stream");
  const done = closed(socket);
  socket.destroy();
  await done;
  // The client reads end of stream only once the gateway's descriptor is closed, not leaked.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const leaked = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve("still open after 5 s"), 5_000);
  });
  assertEquals(await Promise.race([readAll(client), leaked]), "");
  clearTimeout(timer);
  client.close();
});
