/**
 * The HTTPS interception floor on this runtime: a forward proxy that does only what any
 * intercepting proxy must (accept, answer CONNECT, terminate the agent's TLS, open verified TLS
 * to the upstream, copy bytes both ways) with the gateway's own primitives — the accept loop's
 * native agent socket, node:tls server-side with one SecureContext, Deno.startTls upstream — and
 * nothing else: no HTTP parsing, no policy, no receipts. The gateway's CPU per request minus this
 * one's is the gateway's own work; what this one costs, no gateway on Deno can go below.
 *
 *     deno run -A bench/_https_relay.ts DIR UPSTREAM_PORT   (started by http_proxy.ts)
 *
 * @module
 */

import type { Socket } from "node:net";
import { join } from "node:path";
import { agentSocket } from "../src/net/_agent_socket.ts";
import { acceptTls, ServerContexts } from "../src/net/tls_accept.ts";
import { loadGatewayCa, mintLeaf } from "../src/tls/mod.ts";
import { type Child, serveCommands, spawnChild } from "./_child.ts";
import { HOST } from "./_http_setup.ts";

const CONNECTED = new TextEncoder().encode("HTTP/1.1 200 Connection Established\r\n\r\n");
const HEAD_END = "\r\n\r\n";

/** Reads the CONNECT head (the bench's client sends nothing after it before the 200). */
function connectHead(socket: Socket): Promise<boolean> {
  return new Promise((resolve) => {
    let head = "";
    const onData = (chunk: Uint8Array) => {
      head += new TextDecoder().decode(chunk);
      if (!head.includes(HEAD_END)) return;
      socket.off("data", onData);
      socket.pause();
      resolve(head.startsWith("CONNECT "));
    };
    socket.on("data", onData);
    socket.once("close", () => resolve(false));
  });
}

async function relayConnection(
  socket: Socket,
  context: ReturnType<ServerContexts["for"]>,
  upstreamPort: number,
  caPem: string,
): Promise<void> {
  if (!(await connectHead(socket))) return void socket.destroy();
  socket.write(CONNECTED);
  const accepted = await acceptTls(socket, context, 10_000);
  if (accepted.kind !== "secure") return void socket.destroy();
  const agent = accepted.socket;
  let upstream: Deno.TlsConn;
  try {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: upstreamPort });
    tcp.setNoDelay(true);
    upstream = await Deno.startTls(tcp, { hostname: HOST, caCerts: [caPem] });
    await upstream.handshake();
  } catch {
    return void agent.destroy();
  }
  const close = () => {
    agent.destroy();
    try {
      upstream.close();
    } catch {
      // Closed already.
    }
  };
  // Agent → upstream: one write per chunk, the next chunk waits for it (no unbounded queue).
  agent.on("data", (chunk: Uint8Array) => {
    agent.pause();
    upstream.write(chunk).then(() => agent.resume(), close);
  });
  agent.on("close", close);
  agent.on("error", close);
  // Upstream → agent, with the agent socket's back-pressure.
  const buffer = new Uint8Array(64 * 1024);
  try {
    for (let n; (n = await upstream.read(buffer)) !== null;) {
      if (!agent.write(buffer.slice(0, n))) {
        await new Promise((resolve) => agent.once("drain", resolve));
      }
    }
  } catch {
    // Either side went away.
  }
  close();
}

async function serve(dir: string, upstreamPort: number): Promise<void> {
  const ca = await loadGatewayCa(join(dir, "upstream-ca"));
  const caPem = await Deno.readTextFile(join(dir, "upstream-ca.pem"));
  const context = new ServerContexts().for(await mintLeaf(ca, HOST));
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(JSON.stringify({ port: listener.addr.port, pid: Deno.pid }));
  void (async () => {
    for await (const conn of listener) {
      conn.setNoDelay(true);
      const socket = agentSocket(conn, false);
      socket.on("error", () => {});
      void relayConnection(socket, context, upstreamPort, caPem).catch(() => socket.destroy());
    }
  })();
  await serveCommands();
  listener.close();
}

/** Starts the relay child in front of the bench's upstream; `ready` holds `port` and `pid`. */
export function startRelay(dir: string, upstreamPort: number): Promise<Child> {
  return spawnChild(import.meta.filename!, [dir, String(upstreamPort)], { fdLimit: 4096 });
}

if (import.meta.main) await serve(Deno.args[0], Number(Deno.args[1]));
