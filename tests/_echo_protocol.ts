/**
 * `echo`: a line protocol declared only here, to show that adding a protocol is its folder plus
 * one registry line. An agent sends its token as its first line, then one request per line;
 * every line is decided on `echo.line`, forwarded to the endpoint's upstream when allowed (its
 * answer relayed back), or answered `DENIED <reason> <receipt>`.
 *
 * @module
 */

import {
  type BodyReader,
  type Endpoint,
  type Facts,
  type Protocol,
  type ProtocolListener,
  type ProtocolServices,
  type SessionActions,
  splitHostPort,
} from "../src/core/mod.ts";
import type { Socket } from "node:net";

/** An `endpoint "echo" NAME { listen = "…" upstream = "…" }`. */
export interface EchoEndpoint extends Endpoint {
  protocol: "echo";
  listen: string;
  upstream: string;
}

/** The echo protocol: one facet, one endpoint schema, one listener. */
export const ECHO_PROTOCOL: Protocol = Object.freeze({
  family: "echo",
  facets: [{ variable: "echo", type: "EchoFacts", fields: { line: "string" } }],
  endpoint: {
    read(name: string, body: BodyReader): EchoEndpoint {
      for (const required of ["listen", "upstream"]) {
        if (!body.has(required)) body.problem(`missing required attribute '${required}'`);
      }
      return {
        protocol: "echo",
        name,
        source: body.source,
        listen: body.hostPort("listen") ?? "",
        upstream: body.hostPort("upstream") ?? "",
      };
    },
  },
  listen: listenEcho,
});

async function listenEcho(
  endpoint: Endpoint,
  services: ProtocolServices,
): Promise<ProtocolListener> {
  const [hostname, port] = splitHostPort(endpoint.listen!);
  // net/ owns the socket: accept loop, caps, and closing every connection on stop.
  const tcp = await services.net.listen(hostname, port, {
    serve: (socket) => serve(socket, endpoint.name, services),
    onError: (err) => services.log("error", `echo ${endpoint.name}: ${err}`),
    hooks: services.listenerHooks(endpoint.name),
  });
  return {
    endpoint: endpoint.name,
    address: tcp.address,
    url: `${tcp.address.hostname}:${tcp.address.port}`,
    close: () => tcp.close(),
    endRevokedSessions: () => {},
  };
}

async function serve(socket: Socket, name: string, services: ProtocolServices): Promise<void> {
  // The connection's ledger: whatever ends the connection, no line's receipt stays open.
  const actions = services.guard.session();
  const write = (text: string) => socket.write(`${text}\n`);
  try {
    await serveLines(socket, { name, services, actions, write });
    actions.close("agent connection ended");
  } catch (err) {
    actions.close("agent connection failed");
    throw err;
  } finally {
    socket.end();
  }
}

/** What one echo connection serves with. */
interface EchoConnection {
  name: string;
  services: ProtocolServices;
  actions: SessionActions;
  write(text: string): void;
}

async function serveLines(socket: Socket, conn: EchoConnection): Promise<void> {
  const { name, services, actions, write } = conn;
  let agent = null;
  for await (const line of linesOf(socket)) {
    if (agent === null) {
      agent = services.agents.authenticateToken(line);
      if (agent === null) {
        const reason = "a valid agent token is required";
        const receipt = actions.refuse({
          protocol: "echo",
          endpoint: name,
          agent: null,
          summary: "login",
          reason,
        });
        return write(`DENIED ${reason} ${receipt}`);
      }
      write("OK");
      continue;
    }
    let decided = actions.decide({
      protocol: "echo",
      endpoint: name,
      agent,
      // Core's Facts names the built-in facets; a protocol's own is data to the pipeline.
      facts: { echo: { line } } as unknown as Facts,
      summary: line,
    });
    if (decided.held) decided = await decided.held;
    if (decided.verdict.decision === "deny") {
      write(`DENIED ${decided.verdict.reason} ${decided.receipt}`);
      continue;
    }
    const answer = await forward(services, services.endpoint(name) as EchoEndpoint, line);
    actions.complete([decided], {
      upstreamStatus: null,
      bytesIn: line.length,
      bytesOut: answer.length,
    });
    write(answer);
  }
}

/** One line to the upstream, one line back. */
async function forward(
  services: ProtocolServices,
  endpoint: EchoEndpoint,
  line: string,
): Promise<string> {
  const [hostname, port] = splitHostPort(endpoint.upstream);
  const conn = await services.net.dial(hostname, port);
  try {
    await conn.write(new TextEncoder().encode(`${line}\n`));
    const lines = linesOf(conn.readable);
    for await (const answer of lines) return answer;
    return "";
  } finally {
    try {
      conn.close();
    } catch { /* the readable closed it */ }
  }
}

/** An upstream that answers each line with `echo: <line>` and remembers what it saw. */
export function startEchoUpstream(): { port: number; seen: string[]; close(): Promise<void> } {
  const server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const seen: string[] = [];
  const serving = (async () => {
    for await (const conn of server) {
      (async () => {
        const lines = linesOf(conn.readable);
        for await (const line of lines) {
          seen.push(line);
          await conn.write(new TextEncoder().encode(`echo: ${line}\n`));
        }
      })().catch(() => {}).finally(() => {
        try {
          conn.close();
        } catch { /* closed */ }
      });
    }
  })().catch(() => {});
  return {
    port: (server.addr as Deno.NetAddr).port,
    seen,
    close: async () => {
      server.close();
      await serving;
    },
  };
}

/** The `\n`-terminated lines of a byte stream. */
export async function* linesOf(readable: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of readable) {
    buffered += decoder.decode(chunk, { stream: true });
    let at;
    while ((at = buffered.indexOf("\n")) >= 0) {
      yield buffered.slice(0, at);
      buffered = buffered.slice(at + 1);
    }
  }
}
