/**
 * The Kubernetes listener at the byte level: garbage instead of TLS, malformed and stalled
 * requests each get a receipt (and a Status where a channel is left), and the listener keeps
 * serving everyone else.
 */

import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { type K8sFixture, withK8sGateway } from "./_k8s_fixture.ts";
import { eventually, withTimeout } from "./_helpers.ts";

async function readAll(conn: Deno.Conn, limitMs = 5_000): Promise<string> {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(16 * 1024);
  const timer = setTimeout(() => conn.close(), limitMs);
  try {
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
  } finally {
    clearTimeout(timer);
  }
  try {
    conn.close();
  } catch {
    // Already closed.
  }
  return new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
}

/**
 * Enrols agent `outsider` in a profile without the endpoint and waits until the running gateway
 * refuses it with 403 (it picks up a new agent within a second; until then the token is unknown).
 */
async function enrolOutsider(fx: K8sFixture): Promise<string> {
  const outsider = fx.registry.add("outsider", "nobody");
  await eventually(
    "a 403 for the new agent",
    async () => (await listPods(fx.url(), fx.caPem, outsider)) === 403 || undefined,
  );
  return outsider;
}

async function tlsTo(url: string, caPem: string): Promise<Deno.TlsConn> {
  const u = new URL(url);
  return await Deno.connectTls({ hostname: u.hostname, port: Number(u.port), caCerts: [caPem] });
}

async function listPods(url: string, caPem: string, token: string): Promise<number> {
  const client = Deno.createHttpClient({ caCerts: [caPem] });
  try {
    const res = await fetch(`${url}/api/v1/namespaces/default/pods`, {
      client,
      headers: { authorization: `Bearer ${token}` },
    });
    await res.body?.cancel();
    return res.status;
  } finally {
    client.close();
  }
}

Deno.test({
  name: "kubernetes listener: garbage instead of TLS gets a receipt and others are still served",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withK8sGateway(async (fx) => {
      const u = new URL(fx.url());
      const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
      await conn.write(new TextEncoder().encode("GET /api/v1/pods HTTP/1.1\r\nHost: x\r\n\r\n"));
      await readAll(conn);
      assertEquals(await listPods(fx.url(), fx.caPem, fx.token), 200);
      const receipts = await fx.receipts();
      assert(receipts.some((r) => r.reason.startsWith("TLS handshake with the agent failed")));
    }),
});

Deno.test({
  name: "kubernetes listener: a malformed request gets a BadRequest Status and a receipt",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withK8sGateway(async (fx) => {
      const conn = await tlsTo(fx.url(), fx.caPem);
      await conn.write(
        new TextEncoder().encode("GET /api/v1/pods HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"),
      );
      const text = await readAll(conn);
      assert(text.startsWith("HTTP/1.1 400"), text);
      const body = JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4));
      assertEquals([body.kind, body.reason, body.code], ["Status", "BadRequest", 400]);
      const receipts = await fx.receipts();
      assert(
        receipts.some((r) => r.protocol === "kubernetes" && r.summary === "malformed request"),
      );
      assertEquals(fx.api.requests.length, 0);
    }),
});

Deno.test({
  name: "kubernetes listener: a request smuggled behind a body length is decided on its own",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withK8sGateway(async (fx) => {
      const conn = await tlsTo(fx.url(), fx.caPem);
      const auth = `Authorization: Bearer ${fx.token}\r\n`;
      await conn.write(new TextEncoder().encode(
        `GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: x\r\n${auth}` +
          `Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n` +
          `GET /api/v1/secrets HTTP/1.1\r\nHost: x\r\n${auth}\r\n`,
      ));
      const text = await readAll(conn);
      assert(text.startsWith("HTTP/1.1 400"), text);
      assert(!fx.api.requests.some((r) => r.path.includes("secrets")));
    }),
});

Deno.test({
  name: "kubernetes listener: a stalled head gets a Timeout Status after header_timeout",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withK8sGateway(async (fx) => {
      const conn = await tlsTo(fx.url(), fx.caPem);
      await conn.write(new TextEncoder().encode("GET /api/v1/pods HTTP/1.1\r\nHost: x\r\n"));
      // Another agent is served while this one stalls.
      assertEquals(await listPods(fx.url(), fx.caPem, fx.token), 200);
      const text = await readAll(conn, 10_000);
      assert(text.startsWith("HTTP/1.1 408"), text);
      const body = JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4));
      assertEquals([body.kind, body.reason], ["Status", "Timeout"]);
      const receipts = await fx.receipts();
      assert(receipts.some((r) => r.reason === "request head not received in time"));
    }, { limits: 'header_timeout = "500ms"' }),
});

Deno.test({
  name: "kubernetes listener: an agent outside the endpoint's profile is refused with Forbidden",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withK8sGateway(async (fx) => {
      await enrolOutsider(fx);
      assertEquals(fx.api.requests.length, 0);
      const receipts = await fx.receipts();
      assert(receipts.some((r) => r.agent === "outsider" && r.reason.includes("not in profile")));
    }),
});

Deno.test({
  name:
    "kubernetes listener: each request on a connection is its own token's, whatever came before",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withK8sGateway(async (fx) => {
      const outsider = await enrolOutsider(fx);
      const before = fx.api.requests.length;
      // On one connection the agent of the last request is kept (sparing a hash); it must never
      // answer for another token. A refusal closes the connection, so each sequence ends in one.
      const get = (token: string) =>
        `GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: x\r\n` +
        `Authorization: Bearer ${token}\r\n\r\n`;
      const statuses = async (...tokens: string[]) => {
        const conn = await tlsTo(fx.url(), fx.caPem);
        await conn.write(new TextEncoder().encode(tokens.map(get).join("")));
        const text = await readAll(conn, 10_000);
        // A body with a length ends where the next status line starts: no line break between.
        return [...text.matchAll(/HTTP\/1\.1 (\d{3}) [A-Za-z ]*\r\n/g)].map((m) => Number(m[1]));
      };
      assertEquals(await statuses(fx.token, fx.token, outsider), [200, 200, 403]);
      assertEquals(await statuses(fx.token, `${fx.token}x`), [200, 401]);
      assertEquals(await statuses(outsider, fx.token), [403]);
      assertEquals(fx.api.requests.length - before, 3);
      fx.registry.revoke("outsider");
    }),
});

Deno.test({
  name:
    "kubernetes listener: a reload applies to the next request; a removed endpoint's listener closes",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withK8sGateway(async (fx) => {
      const url = fx.url();
      const others = [fx.url("down"), fx.url("wrongca")];
      assertEquals(await listPods(url, fx.caPem, fx.token), 200);
      const path = `${fx.dir}/gateway.hcl`;
      const original = await Deno.readTextFile(path);
      // Pods become off limits: the open listener decides with the new rules at once.
      await Deno.writeTextFile(
        path,
        original.replace(
          "condition = \"k8s.resource == 'secrets'\"",
          "condition = \"k8s.resource in ['secrets', 'pods']\"",
        ),
      );
      assert(await fx.gateway.reload());
      assertEquals(await listPods(url, fx.caPem, fx.token), 403);
      assertEquals(fx.url(), url, "an edit that leaves listen alone keeps the listener");
      // The endpoint (and everything naming it) is gone: its listener closes, and a connection
      // open on it ends.
      const without = original
        .replace(/endpoint "kubernetes" "cluster" \{[^}]*\}/, "")
        .replace(/credential "k8s_bearer_token" "k8s_token" \{[^}]*\}/, "")
        .replace("credentials = [k8s_bearer_token.k8s_token]", "")
        .replace(
          /rule "k8s-(no-secrets|no-privileged|exec-outside-default|protected-deletes)" \{[^}]*\}/g,
          "",
        )
        .replace(
          "endpoints = [kubernetes.cluster, kubernetes.down",
          "endpoints = [kubernetes.down",
        );
      await Deno.writeTextFile(path, without);
      const open = await tlsTo(url, fx.caPem);
      assert(await fx.gateway.reload(), fx.log.messages("error").join("\n"));
      // Ends by the gateway's doing: readAll's own time limit is longer than this one.
      const ended = await withTimeout(readAll(open, 30_000), 10_000, "the connection to end");
      assertEquals(ended, "", "the open connection was closed by the gateway");
      const u = new URL(url);
      await rejects(
        Deno.connect({ hostname: u.hostname, port: Number(u.port) }),
        Deno.errors.ConnectionRefused,
      );
      assertEquals(fx.gateway.listenerAddresses("kubernetes").has("cluster"), false);
      assertEquals([fx.url("down"), fx.url("wrongca")], others, "the other listeners stay");
      assert(
        fx.log.messages("info").includes(
          `kubernetes listener cluster on ${url} closed: endpoint removed`,
        ),
      );
      assertEquals(fx.log.messages("warn").filter((m) => m.includes("restart")), []);
      assertEquals(fx.api.requests.length, 1);
    }),
});
