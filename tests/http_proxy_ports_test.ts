/**
 * An endpoint claims its hosts only on the ports it declares (`ports` on https endpoints, the API
 * server's port on Kubernetes endpoints): through the real proxy, a CONNECT or absolute-form
 * request to a claimed host on any other port is refused like an unknown host, with a receipt,
 * whatever `defaults.unknown_host` says, and the gateway never dials that port.
 *
 * @module
 */

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { queryReceipts } from "../src/audit/mod.ts";
import { withProxy } from "./_proxy_fixture.ts";
import { basic, connect, openTunnel, RawConn } from "./_raw_http.ts";
import { gatewayHeader, startTestGateway } from "./_gateway.ts";
import { withK8sGateway } from "./_k8s_fixture.ts";

const RECEIPT = "x-clawpatrol-receipt";

Deno.test("CONNECT to a claimed host on a port its endpoint does not declare is refused with 403 and a receipt naming the port", async () => {
  await withProxy({}, async (fx) => {
    const { conn, response } = await connect(fx, { authority: "api.test:22" });
    conn.close();
    equal(response.status, 403, response.text);
    const body = JSON.parse(response.text);
    deepStrictEqual(
      [body.error, body.rule, body.reason],
      ["denied", null, "port 22 is not one of the ports of endpoint 'api' (443)"],
    );
    equal(response.headers.get(RECEIPT), body.receipt);
    const rows = await fx.receipts();
    equal(rows.length, 1);
    deepStrictEqual(
      [rows[0].id, rows[0].verdict, rows[0].endpoint, rows[0].reason],
      [body.receipt, "deny", "api", body.reason],
    );
    equal(fx.seen.length, 0, "a request reached the upstream");
  });
});

Deno.test("with unknown_host = passthrough, a claimed host on an undeclared port is refused, never relayed", async () => {
  await withProxy({ unknownHost: "passthrough" }, async (fx) => {
    const { conn, response } = await connect(fx, { authority: "api.test:8443" });
    conn.close();
    equal(response.status, 403, response.text);
    equal(
      JSON.parse(response.text).reason,
      "port 8443 is not one of the ports of endpoint 'api' (443)",
    );
    // Absolute-form requests are held to the same ports.
    const plain = new RawConn(await Deno.connect({ hostname: "127.0.0.1", port: fx.proxyPort }));
    try {
      await plain.write(
        `GET http://api.test:8080/x HTTP/1.1\r\nHost: api.test:8080\r\n` +
          `Proxy-Authorization: ${basic(fx.agent, fx.token)}\r\n\r\n`,
      );
      const head = await plain.readHead();
      equal(head.status, 403);
    } finally {
      plain.close();
    }
    const rows = await fx.receipts();
    deepStrictEqual(rows.map((r) => [r.verdict, r.endpoint]), [["deny", "api"], ["deny", "api"]]);
    match(rows[1].reason, /^port 8080 is not one of the ports of endpoint 'api' \(443\)$/);
    ok(!rows.some((r) => r.summary.includes("passthrough")), "a claimed host was passed through");
    equal(fx.seen.length, 0);
  });
});

Deno.test("an endpoint with ports = [443, 8443] is reached on 8443 and still refuses other ports", async () => {
  await withProxy({ apiAttributes: "ports = [443, 8443]" }, async (fx) => {
    const tunnel = await openTunnel(fx, { authority: "api.test:8443" });
    try {
      const res = await tunnel.request({ method: "GET", target: "/hello", host: "api.test:8443" });
      equal(res.status, 200, res.text);
      equal(JSON.parse(res.text).path, "/hello");
    } finally {
      tunnel.close();
    }
    const { conn, response } = await connect(fx, { authority: "api.test:9443" });
    conn.close();
    equal(
      JSON.parse(response.text).reason,
      "port 9443 is not one of the ports of endpoint 'api' (443, 8443)",
    );
    const rows = await fx.receipts();
    deepStrictEqual(rows.map((r) => [r.verdict, r.rule]), [["allow", "reads"], ["deny", null]]);
  });
});

Deno.test("CONNECT to an undeclared port of a host claimed without an upstream override never dials that port", async () => {
  // Something else listening on the claimed host (think sshd on :22).
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let dialled = 0;
  const accepting = (async () => {
    for await (const c of listener) {
      dialled++;
      c.close();
    }
  })();
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_ports_" });
  try {
    const { gateway, token } = await startTestGateway(
      dir,
      `${gatewayHeader()}endpoint "https" "local" {
  hosts = ["127.0.0.1"]
}
profile "bots" {
  endpoints = [https.local]
}
rule "all" {
  endpoint  = https.local
  condition = "true"
  verdict   = "allow"
}
`,
      {},
      { name: "bot", profile: "bots" },
    );
    try {
      const proxy = gateway.proxyAddress;
      const conn = new RawConn(await Deno.connect({ hostname: "127.0.0.1", port: proxy.port }));
      const authority = `127.0.0.1:${listener.addr.port}`;
      try {
        await conn.write(
          `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n` +
            `Proxy-Authorization: ${basic("bot", token)}\r\n\r\n`,
        );
        const head = await conn.readHead();
        equal(head.status, 403);
        // The refusal closes the agent's connection: nothing was relayed or dialled behind it.
        await conn.readToEnd();
      } finally {
        conn.close();
      }
      await gateway.settled();
      const rows = await queryReceipts(join(dir, "state", "receipts.db"));
      deepStrictEqual(rows.map((r) => [r.verdict, r.endpoint, r.reason]), [[
        "deny",
        "local",
        `port ${listener.addr.port} is not one of the ports of endpoint 'local' (443)`,
      ]]);
    } finally {
      await gateway.stop();
    }
    equal(dialled, 0, "the gateway connected to the undeclared port");
  } finally {
    listener.close();
    await accepting.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "CONNECT to a Kubernetes API server's host is accepted on the server's port only",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withK8sGateway(async (fx) => {
      const proxy = fx.gateway.proxyAddress;
      const server = new URL(fx.api.url);
      const connectTo = async (port: number) => {
        const conn = new RawConn(await Deno.connect({ hostname: "127.0.0.1", port: proxy.port }));
        const authority = `${server.hostname}:${port}`;
        try {
          await conn.write(
            `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n` +
              `Proxy-Authorization: ${basic("bot", fx.token)}\r\n\r\n`,
          );
          const head = await conn.readHead();
          const text = head.status === 200 ? "" : new TextDecoder().decode(await conn.readToEnd());
          return { status: head.status, text };
        } finally {
          conn.close();
        }
      };
      equal((await connectTo(Number(server.port))).status, 200);
      const refused = await connectTo(22);
      equal(refused.status, 403);
      equal(
        JSON.parse(refused.text).reason,
        `port 22 is not one of the ports of endpoint 'cluster' (${server.port})`,
      );
      const rows = await fx.receipts();
      ok(rows.some((r) =>
        r.verdict === "deny" && r.endpoint === "cluster" &&
        r.reason === JSON.parse(refused.text).reason
      ));
    }),
});
