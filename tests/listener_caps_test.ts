// Connection caps and the handshake deadline on the agent listeners, in-process: a connection that
// never authenticates is closed after `handshake_timeout`; past `max_unauthenticated_connections`
// a new one is closed at once (Postgres: FATAL 53300 first); an agent past
// `max_connections_per_agent` gets 503. Each refusal is counted by cause.
import { deepStrictEqual as assertEquals, match, ok as assert } from "node:assert/strict";
import { closedPort, withTempDir } from "./_helpers.ts";
import { gatewayHeader, startTestGateway } from "./_gateway.ts";
import { withK8sGateway } from "./_k8s_fixture.ts";
import type { Gateway } from "../src/gateway/mod.ts";

function config(limits: string): string {
  return `${gatewayHeader(limits)}
endpoint "https" "github" {
  hosts = ["api.github.com"]
}
endpoint "postgres" "db" {
  host    = "127.0.0.1:${closedPort()}"
  listen  = "127.0.0.1:0"
  sslmode = "disable"
}
profile "default" {
  endpoints = [https.github]
}
`;
}

async function withGateway(
  limits: string,
  fn: (gateway: Gateway, agent: { name: string; token: string }) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const agent = { name: "ci-bot", profile: "default" };
    const { gateway, token } = await startTestGateway(dir, config(limits), {}, agent);
    try {
      await fn(gateway, { name: agent.name, token });
    } finally {
      await gateway.stop();
    }
  });
}

/** `clawpatrol_connections_refused_total` for `protocol` and `cause`, 0 when not yet counted. */
function refused(gateway: Gateway, protocol: string, cause: string): number {
  const line = gateway.metrics.registry.render().split("\n").find((l) =>
    l.startsWith("clawpatrol_connections_refused_total{") &&
    l.includes(`protocol="${protocol}"`) && l.includes(`cause="${cause}"`)
  );
  return line ? Number(line.split(" ").at(-1)) : 0;
}

/** Everything the gateway sends until it closes the connection. */
async function readUntilClosed(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: number[] = [];
  const buf = new Uint8Array(4096);
  for (let n; (n = await conn.read(buf)) !== null;) chunks.push(...buf.subarray(0, n));
  return new Uint8Array(chunks);
}

function connect(address: { port: number }): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port: address.port });
}

Deno.test("the proxy closes a silent connection at handshake_timeout and one past the unauthenticated cap at once", async () => {
  const limits = `    handshake_timeout = "1s"
    max_unauthenticated_connections = 2`;
  await withGateway(limits, async (gateway) => {
    const silent = [await connect(gateway.proxyAddress), await connect(gateway.proxyAddress)];
    const opened = Date.now();
    const third = await connect(gateway.proxyAddress);
    assertEquals((await readUntilClosed(third)).length, 0, "closed without a word");
    assert(Date.now() - opened < 900, "the third was refused at once, not at the deadline");
    assertEquals(refused(gateway, "https", "unauthenticated_cap"), 1);
    for (const conn of silent) await readUntilClosed(conn);
    assert(Date.now() - opened >= 900, "the silent ones lasted until handshake_timeout");
    assertEquals(refused(gateway, "https", "handshake_timeout"), 2);
    for (const conn of [...silent, third]) conn.close();
    // Their places are free again: a client that speaks is served.
    const client = await connect(gateway.proxyAddress);
    await client.write(
      new TextEncoder().encode("GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\n\r\n"),
    );
    match(new TextDecoder().decode(await readUntilClosed(client)), /^HTTP\/1\.1 407 /);
    client.close();
  });
});

Deno.test("the postgres listener answers FATAL 53300 past max_unauthenticated_connections", async () => {
  await withGateway("    max_unauthenticated_connections = 1", async (gateway) => {
    const address = gateway.listenerAddresses("postgres").get("db")!;
    const holding = await connect(address);
    const refusedOne = await connect(address);
    const answer = new TextDecoder().decode(await readUntilClosed(refusedOne));
    assertEquals(answer[0], "E", "an ErrorResponse");
    match(answer, /SFATAL\0/);
    match(answer, /C53300\0/);
    match(answer, /Mtoo many connections\0/);
    assertEquals(refused(gateway, "postgres", "unauthenticated_cap"), 1);
    holding.close();
    refusedOne.close();
  });
});

Deno.test("an agent past max_connections_per_agent gets 503 from the proxy", async () => {
  await withGateway("    max_connections_per_agent = 1", async (gateway, agent) => {
    const auth = `Proxy-Authorization: Basic ${btoa(`${agent.name}:${agent.token}`)}`;
    const connectHead =
      `CONNECT api.github.com:443 HTTP/1.1\r\nHost: api.github.com:443\r\n${auth}\r\n\r\n`;
    // The first tunnel authenticates and stays open, waiting for its TLS handshake.
    const first = await connect(gateway.proxyAddress);
    await first.write(new TextEncoder().encode(connectHead));
    const established = new Uint8Array(64);
    const n = await first.read(established);
    match(new TextDecoder().decode(established.subarray(0, n ?? 0)), /^HTTP\/1\.1 200 /);
    const second = await connect(gateway.proxyAddress);
    await second.write(new TextEncoder().encode(connectHead));
    const answer = new TextDecoder().decode(await readUntilClosed(second));
    match(answer, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
    match(answer, /too many open connections for this agent/);
    assertEquals(refused(gateway, "https", "agent_cap"), 1);
    second.close();
    first.close();
  });
});

Deno.test({
  name: "a kubernetes agent past max_connections_per_agent gets 503",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withK8sGateway(async (fx) => {
      const url = new URL(fx.url());
      const tls = () =>
        Deno.connectTls({ hostname: url.hostname, port: Number(url.port), caCerts: [fx.caPem] });
      const request = new TextEncoder().encode(
        `GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: x\r\n` +
          `Authorization: Bearer ${fx.token}\r\n\r\n`,
      );
      // The first connection authenticates with its request and stays open (kept alive).
      const first = await tls();
      await first.write(request);
      const head = new Uint8Array(64);
      const n = await first.read(head);
      match(new TextDecoder().decode(head.subarray(0, n ?? 0)), /^HTTP\/1\.1 200 /);
      const second = await tls();
      await second.write(request);
      const answer = new TextDecoder().decode(await readUntilClosed(second));
      match(answer, /^HTTP\/1\.1 503 /);
      // 5xx reach kubectl as text it prints (it shows no Status body for them).
      match(answer, /too many open connections for this agent/);
      assertEquals(refused(fx.gateway, "kubernetes", "agent_cap"), 1);
      second.close();
      first.close();
    }, { limits: "max_connections_per_agent = 1" }),
});
