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
  splitHostPort,
} from "../src/core/mod.ts";

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

function listenEcho(
  endpoint: Endpoint,
  services: ProtocolServices,
): Promise<ProtocolListener> {
  const [hostname, port] = splitHostPort(endpoint.listen!);
  const server = Deno.listen({ hostname, port });
  const open = new Set<Deno.Conn>();
  const serving = (async () => {
    for await (const conn of server) {
      open.add(conn);
      serve(conn, endpoint.name, services)
        .catch((err) => services.log("error", `echo ${endpoint.name}: ${err}`))
        .finally(() => {
          open.delete(conn);
          try {
            conn.close();
          } catch { /* already closed */ }
        });
    }
  })().catch(() => {});
  const address = server.addr as Deno.NetAddr;
  return Promise.resolve({
    endpoint: endpoint.name,
    address: { hostname: address.hostname, port: address.port },
    url: `${address.hostname}:${address.port}`,
    close: async () => {
      server.close();
      for (const conn of open) conn.close();
      await serving;
    },
    endRevokedSessions: () => {},
  });
}

async function serve(conn: Deno.Conn, name: string, services: ProtocolServices): Promise<void> {
  const lines = linesOf(conn.readable);
  const write = (text: string) => conn.write(new TextEncoder().encode(`${text}\n`));
  let agent = null;
  for await (const line of lines) {
    if (agent === null) {
      agent = services.agents.authenticateToken(line);
      if (agent === null) {
        const reason = "a valid agent token is required";
        const receipt = services.guard.refuse({
          protocol: "echo",
          endpoint: name,
          agent: null,
          summary: "login",
          reason,
        });
        await write(`DENIED ${reason} ${receipt}`);
        return;
      }
      await write("OK");
      continue;
    }
    let decided = services.guard.decide({
      protocol: "echo",
      endpoint: name,
      agent,
      // Core's Facts names the built-in facets; a protocol's own is data to the pipeline.
      facts: { echo: { line } } as unknown as Facts,
      summary: line,
    });
    if (decided.held) decided = await decided.held;
    if (decided.verdict.decision === "deny") {
      decided.finish({ upstreamStatus: null, bytesIn: line.length, bytesOut: 0 });
      await write(`DENIED ${decided.verdict.reason} ${decided.receipt}`);
      continue;
    }
    const answer = await forward(services.endpoint(name) as EchoEndpoint, line);
    decided.finish({ upstreamStatus: null, bytesIn: line.length, bytesOut: answer.length });
    await write(answer);
  }
}

/** One line to the upstream, one line back. */
async function forward(endpoint: EchoEndpoint, line: string): Promise<string> {
  const [hostname, port] = splitHostPort(endpoint.upstream);
  const conn = await Deno.connect({ hostname, port });
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
export async function* linesOf(readable: ReadableStream<Uint8Array>): AsyncGenerator<string> {
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
