/**
 * Placeholder-shaped text that names no credential, end to end through the real proxy with curl:
 * refused with 403 naming the text (and a receipt listing it in `http.unknown_placeholders`),
 * never forwarded as is, unless the endpoint sets `unknown_placeholders = "allow"`; looked for in
 * bodies only where a credential bound to the endpoint substitutes there.
 *
 * @module
 */

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import type { Receipt } from "../src/core/mod.ts";
import { type ProxyFixture, type ProxyFixtureOptions, withProxy } from "./_proxy_fixture.ts";

const API_TOKEN = "ghp_REALsecretVALUE_unknown_0123";

/** A bearer credential on endpoint `api`, held by the agent, plus `extra` credential blocks. */
function options(
  extra: Partial<ProxyFixtureOptions> = {},
  credentials = "",
): ProxyFixtureOptions {
  return {
    credentials: `
credential "bearer_token" "api_token" {
  endpoint = https.api
}
${credentials}`,
    botCredentials: ["bearer_token.api_token"],
    secrets: { api_token: API_TOKEN },
    ...extra,
  };
}

/** curl through the proxy; `-g` so braces in a URL are not a glob. */
async function curl(
  fx: ProxyFixture,
  args: string[],
): Promise<{ status: number; body: string; receipt: string }> {
  const out = await new Deno.Command("curl", {
    args: [
      ...["-sS", "-g", "-o", "-", "-w", "\n%{http_code} %header{x-clawpatrol-receipt}"],
      ...["-m", "20", "--proxy", fx.proxyUrl, "--cacert", fx.caFile, ...args],
    ],
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const at = text.lastIndexOf("\n");
  const [status, receipt] = text.slice(at + 1).split(" ");
  return { status: Number(status), body: text.slice(0, at), receipt: receipt ?? "" };
}

/** The http facts a receipt recorded. */
function httpFacts(r: Receipt): { placeholders: string[]; unknown_placeholders: string[] } {
  return (r.facts as { http: { placeholders: string[]; unknown_placeholders: string[] } }).http;
}

Deno.test("Authorization: Bearer {{…}} naming no credential is refused with 403 naming the text, receipted, and never forwarded", async () => {
  await withProxy(options(), async (fx) => {
    const typo = await curl(fx, ["-H", "Authorization: Bearer {{api_tokn}}", "https://api.test/x"]);
    equal(typo.status, 403, typo.body);
    const body = JSON.parse(typo.body);
    deepStrictEqual(
      [body.error, body.rule, body.reason],
      ["denied", null, "placeholder '{{api_tokn}}' names no credential configured on the gateway"],
    );
    equal(typo.receipt, body.receipt);
    equal(fx.seen.length, 0, "the request reached the upstream");
    // The configured placeholder still works, on the same endpoint.
    const right = await curl(fx, [
      "-H",
      "Authorization: Bearer {{api_token}}",
      "https://api.test/x",
    ]);
    equal(right.status, 200, right.body);
    equal(fx.seen[0].headers.get("authorization"), `Bearer ${API_TOKEN}`);
    const rows = await fx.receipts();
    const denied = rows.find((r) => r.id === body.receipt)!;
    deepStrictEqual([denied.verdict, denied.rule, denied.endpoint], ["deny", null, "api"]);
    ok(denied.reason.startsWith(body.reason), denied.reason);
    deepStrictEqual(httpFacts(denied).unknown_placeholders, ["{{api_tokn}}"]);
    deepStrictEqual(httpFacts(denied).placeholders, []);
    ok(!JSON.stringify(rows).includes(API_TOKEN), "a receipt holds the secret");
  });
});

Deno.test("with unknown_placeholders = allow on the endpoint, {{…}} text reaches the upstream as is and its receipt lists it", async () => {
  await withProxy(
    options({ apiAttributes: `unknown_placeholders = "allow"` }),
    async (fx) => {
      const got = await curl(fx, [
        "-H",
        "X-Template: Hello {{customer_name}}",
        "https://api.test/x",
      ]);
      equal(got.status, 200, got.body);
      equal(fx.seen[0].headers.get("x-template"), "Hello {{customer_name}}");
      const [row] = await fx.receipts();
      deepStrictEqual([row.id, row.verdict, row.rule], [got.receipt, "allow", "reads"]);
      deepStrictEqual(httpFacts(row).unknown_placeholders, ["{{customer_name}}"]);
    },
  );
});

Deno.test("{{…}} in a request body is refused only where a credential bound to the endpoint substitutes in bodies", async () => {
  const post = ["-X", "POST", "-H", "Content-Type: application/json"];
  const data = ["--data", '{"greeting":"Hello {{customer_name}}"}', "https://api.test/echo"];
  // Header-only credentials: the body's braces are the request's own data.
  await withProxy(options(), async (fx) => {
    const got = await curl(fx, [...post, ...data]);
    equal(got.status, 200, got.body);
    equal(fx.seen[0].body, '{"greeting":"Hello {{customer_name}}"}');
  });
  await withProxy(
    options(
      {},
      `credential "bearer_token" "api_body" {
  endpoint      = https.api
  substitute_in = ["header", "body"]
}`,
    ),
    async (fx) => {
      const got = await curl(fx, [...post, ...data]);
      equal(got.status, 403, got.body);
      equal(
        JSON.parse(got.body).reason,
        "placeholder '{{customer_name}}' names no credential configured on the gateway",
      );
      equal(fx.seen.length, 0);
    },
  );
});
