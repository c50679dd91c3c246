/**
 * ALPN on the TLS the gateway terminates for HTTP: a client that offers h2 first (as curl, Go and
 * browsers do) is told `http/1.1` in the handshake, on the forward proxy's intercepted tunnels
 * and on the Kubernetes listener, and its request is then served over HTTP/1.1.
 *
 * @module
 */

import { equal, match } from "node:assert/strict";
import tls from "node:tls";
import { withProxy } from "./_proxy_fixture.ts";
import { connect, RawConn } from "./_raw_http.ts";
import { withK8sGateway } from "./_k8s_fixture.ts";

const H2_FIRST = ["h2", "http/1.1"];

Deno.test("an intercepted tunnel selects ALPN http/1.1 for a client offering h2 first, and serves it", async () => {
  await withProxy({}, async (fx) => {
    const { conn, response } = await connect(fx);
    equal(response.status, 200, response.text);
    const secure = await Deno.startTls(conn.conn as Deno.TcpConn, {
      hostname: "api.test",
      caCerts: [await Deno.readTextFile(fx.caFile)],
      alpnProtocols: H2_FIRST,
    });
    const tunnel = new RawConn(secure);
    try {
      const { alpnProtocol } = await secure.handshake();
      equal(alpnProtocol, "http/1.1");
      const res = await tunnel.request({ method: "GET", target: "/alpn" });
      equal(res.status, 200, res.text);
      equal(JSON.parse(res.text).path, "/alpn");
    } finally {
      tunnel.close();
    }
  });
});

Deno.test({
  name: "the Kubernetes listener selects ALPN http/1.1 for a node:tls client offering h2 first",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withK8sGateway(async (fx) => {
      const url = new URL(fx.url());
      const socket = tls.connect({
        host: url.hostname,
        port: Number(url.port),
        ca: [fx.caPem],
        ALPNProtocols: H2_FIRST,
      });
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once("secureConnect", resolve);
          socket.once("error", reject);
        });
        equal(socket.alpnProtocol, "http/1.1");
        const reply = new Promise<string>((resolve, reject) => {
          let text = "";
          socket.on("data", (chunk) => {
            text += chunk;
            if (text.includes("\r\n\r\n")) resolve(text);
          });
          socket.once("error", reject);
          socket.once("end", () => resolve(text));
        });
        socket.write(
          "GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: " + url.host +
            `\r\nAuthorization: Bearer ${fx.token}\r\nConnection: close\r\n\r\n`,
        );
        match(await reply, /^HTTP\/1\.1 200 /);
      } finally {
        socket.destroy();
      }
    }),
});
