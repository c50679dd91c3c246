/**
 * Request smuggling and policy evasion through the running forward proxy, with raw bytes no HTTP
 * library would send. Each case asserts the gateway's answer, that nothing it refused reached the
 * upstream, and that the refusal left a deny receipt.
 */

// Policy evasion: paths, methods and pipelining that would dodge a rule, and headers that must
// never be forwarded.

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { withProxy } from "./_proxy_fixture.ts";
import { header, openTunnel, proxyAuthorization } from "./_raw_tunnel.ts";
import { assertRefused, denyReceipt, get } from "./_smuggling_fixture.ts";

const ADMIN_RULES = `
rule "no-admin" {
  endpoint  = https.api
  priority  = 10
  condition = "http.path.startsWith('/admin')"
  verdict   = "deny"
  reason    = "admin is off limits"
}
rule "reads" {
  endpoint  = https.api
  condition = "http.method == 'get'"
  verdict   = "allow"
}
`;

Deno.test("dot-segments, empty segments and escaped unreserved bytes cannot dodge a path rule", async () => {
  await withProxy({ rules: ADMIN_RULES }, async (fx) => {
    const t = await openTunnel(fx);
    try {
      for (
        const path of [
          "/admin",
          "/public/../admin",
          "/public/%2e%2e/admin",
          "/public/%2E%2e/admin",
          "/./admin",
          "//admin",
          "/%61dmin",
          "/public/x/../../admin/",
        ]
      ) {
        // A rule deny keeps the connection: one tunnel carries every attempt.
        await t.send(get(path));
        const res = await t.readResponse();
        const body = await assertRefused(fx, res, 403);
        equal(body.rule, "no-admin", path);
        equal((await denyReceipt(fx, body.receipt)).rule, "no-admin");
      }
      equal(fx.seen.length, 0, "no /admin request reached the upstream");

      // What was decided is what runs: the upstream gets the normalised path, not the raw one.
      await t.send(get("/public/./x/../y?q=1"));
      const res = await t.readResponse();
      equal(res.status, 200, res.body);
      equal(fx.seen.length, 1);
      equal(fx.seen[0].target, "/public/y?q=1");
      const receipt = (await fx.receipts()).find((r) =>
        r.id === header(res, "x-clawpatrol-receipt")
      );
      equal(receipt?.verdict, "allow");
      equal(receipt?.summary, "GET api.test/public/y");
    } finally {
      await t.close();
    }
  });
});

Deno.test("an encoded slash or backslash gets 400, unless the endpoint allows it; then it is forwarded still encoded", async () => {
  await withProxy({}, async (fx) => {
    const t = await openTunnel(fx);
    try {
      for (const path of ["/a%2Fb", "/a%2fb", "/a%5Cb", "/a%5cb", "/public/..%2fadmin"]) {
        await t.send(get(path));
        const body = await assertRefused(fx, await t.readResponse(), 400);
        match(body.reason, /encoded slash or backslash/, path);
      }
      equal(fx.seen.length, 0);
    } finally {
      await t.close();
    }

    const s = await openTunnel(fx, { host: "slashes.test" });
    try {
      await s.send("GET /a%2fb/c%5cd HTTP/1.1\r\nHost: slashes.test\r\n\r\n");
      const res = await s.readResponse();
      equal(res.status, 200, res.body);
      deepEqual(fx.seen.map((r) => r.target), ["/a%2Fb/c%5Cd"]);
      deepEqual(JSON.parse(res.body), { path: "/a%2Fb/c%5Cd" });
    } finally {
      await s.close();
    }
  });
});

Deno.test("method case tricks: 'delete' and 'DeLeTe' are denied, 'get' is forwarded as GET, 'Purge' gets 400", async () => {
  await withProxy({}, async (fx) => {
    const t = await openTunnel(fx);
    try {
      for (const method of ["delete", "DeLeTe", "DELETE"]) {
        await t.send(`${method} /x HTTP/1.1\r\nHost: api.test\r\n\r\n`);
        const body = await assertRefused(fx, await t.readResponse(), 403);
        equal(body.rule, "no-deletes", method);
      }
      equal(fx.seen.length, 0);

      await t.send("get /lower HTTP/1.1\r\nHost: api.test\r\n\r\n");
      const res = await t.readResponse();
      equal(res.status, 200, res.body);
      deepEqual(fx.seen.map((r) => [r.method, r.target]), [["GET", "/lower"]]);

      await t.send("Purge /x HTTP/1.1\r\nHost: api.test\r\n\r\n");
      const purge = await assertRefused(fx, await t.readResponse(), 400);
      match(purge.reason, /extension methods must be uppercase/);
      equal(fx.seen.length, 1, "Purge did not reach the upstream");
    } finally {
      await t.close();
    }
  });
});

Deno.test("Proxy-Authorization and fields named in Connection are never forwarded", async () => {
  await withProxy({}, async (fx) => {
    const t = await openTunnel(fx);
    try {
      const auth = proxyAuthorization(fx.agent, fx.token);
      await t.send(
        get(
          "/x",
          `Proxy-Authorization: ${auth}\r\nConnection: x-secret\r\nX-Secret: 1\r\nX-Kept: yes\r\n`,
        ),
      );
      equal((await t.readResponse()).status, 200);
      equal(fx.seen.length, 1);
      const headers = fx.seen[0].headers;
      equal(headers.get("proxy-authorization"), null);
      equal(headers.get("x-secret"), null);
      equal(headers.get("x-kept"), "yes");
      for (const [name, value] of headers) {
        ok(!value.includes(fx.token), `header ${name} carries the agent's token`);
      }
    } finally {
      await t.close();
    }
  });
});

Deno.test("pipelined requests in one write are each decided: 200, 403, 200 in order, the DELETE never forwarded", async () => {
  await withProxy({}, async (fx) => {
    const t = await openTunnel(fx);
    try {
      await t.send(
        get("/one") + "DELETE /two HTTP/1.1\r\nHost: api.test\r\n\r\n" + get("/three"),
      );
      const first = await t.readResponse();
      const second = await t.readResponse();
      const third = await t.readResponse();
      equal(first.status, 200, first.body);
      equal(JSON.parse(first.body).path, "/one");
      const denied = await assertRefused(fx, second, 403);
      equal(denied.rule, "no-deletes");
      equal(third.status, 200, third.body);
      equal(JSON.parse(third.body).path, "/three");
      deepEqual(fx.seen.map((r) => [r.method, r.target]), [["GET", "/one"], ["GET", "/three"]]);
    } finally {
      await t.close();
    }
  });
});
