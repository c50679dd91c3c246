/**
 * The fake API server (tests/_k8s_apiserver.ts) against the real kubectl, with no gateway in
 * between: proves the fixture speaks enough of the API (discovery, Table lists, get, create,
 * delete, logs, watch, exec over WebSocket, auth) that gateway tests can rely on it.
 */

// The wire below kubectl (ALPN, Status bodies, raw streams) and authentication by token or
// client certificate.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { startFakeApiServer } from "./_k8s_apiserver.ts";
import { mintTestCa, mintTestCertificate } from "./_test_ca.ts";
import { includes, kubectlInstalled, withApi } from "./_k8s_apiserver_kubectl.ts";

const ignore = !kubectlInstalled;

Deno.test({
  name:
    "fake API server: HTTP/1.1 with h2 offered, Status bodies for 401/404, raw watch and log streams",
  fn: async () => {
    const api = await startFakeApiServer({ token: "t0ken" });
    const client = Deno.createHttpClient({ caCerts: [api.caPem] });
    const get = (path: string, token = "t0ken") =>
      fetch(`${api.url}${path}`, { client, headers: { authorization: `Bearer ${token}` } });
    try {
      const conn = await Deno.connectTls({
        hostname: "127.0.0.1",
        port: Number(new URL(api.url).port),
        caCerts: [api.caPem],
        alpnProtocols: ["h2", "http/1.1"],
      });
      assertEquals((await conn.handshake()).alpnProtocol, "http/1.1");
      conn.close();

      const denied = await get("/api/v1/pods", "wrong");
      assertEquals(denied.status, 401);
      assertEquals(denied.headers.get("content-type"), "application/json");
      assertEquals(await denied.json(), {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: "Unauthorized",
        reason: "Unauthorized",
        code: 401,
      });
      const missing = await get("/apis/batch/v1/jobs");
      assertEquals([missing.status, (await missing.json()).reason], [404, "NotFound"]);

      const t0 = Date.now();
      const watch = await get("/api/v1/namespaces/default/pods?watch=1");
      const events = (await watch.text()).trim().split("\n").map((l) => JSON.parse(l));
      assert(Date.now() - t0 >= 400, "the watch ended before its bounded time");
      assertEquals(
        events.map((e) => `${e.type} ${e.object.metadata.name}`),
        ["ADDED web-1", "ADDED web-2", "MODIFIED web-1", "MODIFIED web-2"],
      );

      const follow = await get("/api/v1/namespaces/default/pods/web-1/log?follow=true");
      assertEquals(follow.headers.get("content-type"), "text/plain");
      const chunks: number[] = [];
      for await (const _ of follow.body!) chunks.push(Date.now());
      assert(chunks.length >= 3 && chunks.at(-1)! - chunks[0] >= 150, "logs were not streamed");

      assertEquals(
        api.requests.map((r) => [r.method, r.path, r.query, r.authorization]),
        [
          ["GET", "/api/v1/pods", "", "Bearer wrong"],
          ["GET", "/apis/batch/v1/jobs", "", "Bearer t0ken"],
          ["GET", "/api/v1/namespaces/default/pods", "watch=1", "Bearer t0ken"],
          ["GET", "/api/v1/namespaces/default/pods/web-1/log", "follow=true", "Bearer t0ken"],
        ],
      );
    } finally {
      client.close();
      await api.close();
    }
  },
});

Deno.test({
  name:
    "fake API server: a wrong token gets Unauthorized; a client certificate from clientCaPem passes",
  ignore,
  fn: async () => {
    const clientCa = await mintTestCa("fake k8s client CA");
    const alice = await mintTestCertificate(clientCa, {
      usage: "client",
      commonName: "alice",
      hosts: [],
    });
    await withApi(async (api, run) => {
      const wrong = await run(["get", "pods"], { token: "not-the-token" });
      assert(wrong.code !== 0);
      // kubectl words any 401 during discovery this way, as it does against a real cluster.
      includes(wrong.stderr, "You must be logged in to the server");
      assert(
        api.requests.length > 0 &&
          api.requests.every((r) => r.authorization === "Bearer not-the-token"),
      );

      const cert = await run(["get", "pods"], {
        user: {
          "client-certificate-data": btoa(alice.certPem),
          "client-key-data": btoa(alice.keyPem),
        },
      });
      assertEquals(cert.code, 0, cert.stderr);
      includes(cert.stdout, "web-1");
      assertEquals(api.requests.at(-1)?.clientCommonName, "alice");
    }, { clientCaPem: clientCa.certPem });
  },
});
