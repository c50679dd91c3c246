/**
 * Issue 27: request forms some upstream frameworks route differently from what rules see,
 * through the real proxy, as raw bytes in the CONNECT tunnel to a local TLS upstream.
 *
 * @module
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { type ProxyFixture, withProxy } from "./_proxy_fixture.ts";
import { gatewayBody, header, openTunnel, type RawResponse } from "./_raw_tunnel.ts";

const FULLWIDTH_ADMIN = "/%EF%BD%81%EF%BD%84%EF%BD%8D%EF%BD%89%EF%BD%8E";

function get(path: string, extra = ""): string {
  return `GET ${path} HTTP/1.1\r\nHost: api.test\r\n${extra}\r\n`;
}

/** Asserts a gateway answer `status` whose receipt was recorded as a deny; returns the body. */
async function refused(fx: ProxyFixture, res: RawResponse, status: number) {
  equal(res.status, status, res.body);
  const body = gatewayBody(res);
  ok(body.receipt, "the answer names a receipt");
  equal(header(res, "x-clawpatrol-receipt"), body.receipt);
  const row = (await fx.receipts()).find((r) => r.id === body.receipt);
  equal(row?.verdict, "deny");
  return body;
}

const ALLOW_READS = `
rule "no-admin" {
  endpoint  = https.api
  priority  = 10
  condition = "http.canonical_path.startsWith('/admin')"
  verdict   = "deny"
  reason    = "no admin"
}
rule "no-deletes" {
  endpoint  = https.api
  priority  = 5
  condition = "http.effective_method == 'delete'"
  verdict   = "deny"
  reason    = "no deletes"
}
rule "reads" {
  endpoint  = https.api
  condition = "http.method == 'get'"
  verdict   = "allow"
}
`;

Deno.test("double-encoded paths, path parameters and method overrides get 400 with a receipt and never reach the upstream", async () => {
  await withProxy({ rules: ALLOW_READS }, async (fx) => {
    const t = await openTunnel(fx);
    try {
      const cases: [string, RegExp][] = [
        [get("/%2561dmin"), /double-encoded/],
        [get("/public/%252e%252e/admin"), /double-encoded/],
        [get("/;/admin"), /path parameters/],
        [get("/;x=1/admin"), /path parameters/],
        [get("/x", "X-HTTP-Method-Override: DELETE\r\n"), /method override to 'DELETE' on a GET/],
        [get("/x", "X-HTTP-Method: DELETE\r\n"), /method override/],
        [get("/x", "X-Method-Override: PUT\r\n"), /method override/],
        [get("/x?_method=DELETE"), /method override/],
        [
          "POST /x HTTP/1.1\r\nHost: api.test\r\nContent-Type: application/x-www-form-urlencoded" +
          "\r\nContent-Length: 14\r\n\r\n_method=DELETE",
          /method override to 'DELETE' on a POST/,
        ],
      ];
      for (const [request, reason] of cases) {
        // A refusal keeps the connection: one tunnel carries every attempt.
        await t.send(request);
        const body = await refused(fx, await t.readResponse(), 400);
        match(body.reason, reason, request);
      }
      equal(fx.seen.length, 0, "no refused request reached the upstream");
      // The same connection still serves a plain request.
      await t.send(get("/public", "X-HTTP-Method-Override: GET\r\n"));
      equal((await t.readResponse()).status, 200);
      deepEqual(fx.seen.map((r) => r.target), ["/public"]);
    } finally {
      await t.close();
    }
  });
});

Deno.test("with the endpoint's opt-ins the forms are forwarded as sent, and rules on canonical_path and effective_method still decide", async () => {
  const apiAttributes = `  allow_double_encoding = true
  allow_path_params     = true
  allow_method_override = true`;
  await withProxy({ rules: ALLOW_READS, apiAttributes }, async (fx) => {
    const t = await openTunnel(fx);
    try {
      for (const path of ["/public/%2561", "/;x=1/public"]) {
        await t.send(get(path));
        const res = await t.readResponse();
        equal(res.status, 200, res.body);
      }
      deepEqual(fx.seen.map((r) => r.target), ["/public/%2561", "/;x=1/public"]);
      for (
        const path of [
          "/ADMIN",
          "/%20/admin",
          FULLWIDTH_ADMIN,
          "/%2561dmin",
          "/;/admin",
          "/Admin/users",
        ]
      ) {
        await t.send(get(path));
        equal((await refused(fx, await t.readResponse(), 403)).rule, "no-admin", path);
      }
      await t.send(get("/repos/x", "X-HTTP-Method-Override: DELETE\r\n"));
      equal((await refused(fx, await t.readResponse(), 403)).rule, "no-deletes");
      equal(fx.seen.length, 2, "denied requests never reached the upstream");
    } finally {
      await t.close();
    }
  });
});
