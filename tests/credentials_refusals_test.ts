/**
 * Credential injection that must refuse: a placeholder where it cannot be substituted, a secret
 * missing from the vault or unfit for a header, a compressed response that cannot be scrubbed.
 * Nothing is forwarded and nothing leaks.
 *
 * @module
 */

import { equal, match, ok } from "node:assert/strict";
import { withProxy } from "./_proxy_fixture.ts";
import {
  ALWAYS_KEY,
  API_TOKEN,
  assertNoSecret,
  BASIC_PASSWORD,
  fetchVia,
  options,
  QUERY_KEY,
} from "./_credentials_fixture.ts";

Deno.test("a placeholder in the body of a header-only credential is denied; the request never leaves", async () => {
  await withProxy(options(), async (fx) => {
    const res = await fetchVia(fx, "https://api.test/echo", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ note: "{{api_token}}" }),
    });
    equal(res.status, 403);
    match(res.body, /placeholder for credential 'api_token'/);
    equal(fx.seen.length, 0);
    // The operator log says where it sat and why it was not substituted.
    ok(
      fx.log.messages("warn").some((m) => /misplaced placeholder: api_token in body/.test(m)),
      fx.log.messages().join("\n"),
    );
  });
});

Deno.test("a compressed response from a credential-bound endpoint is refused, not passed unscrubbed", async () => {
  const gzipped = () => {
    const body = new Blob([`{"token":"${API_TOKEN}"}`]).stream()
      .pipeThrough(new CompressionStream("gzip"));
    return new Response(body, {
      headers: { "content-encoding": "gzip", "content-type": "application/json" },
    });
  };
  await withProxy(options({ handler: gzipped }), async (fx) => {
    const res = await fetchVia(fx, "https://api.test/gz", {
      headers: { authorization: "Bearer {{api_token}}", "accept-encoding": "gzip" },
    });
    equal(res.status, 502);
    match(res.body, /compressed response/);
    // The gateway asked for an identity response: the agent's Accept-Encoding was not forwarded.
    equal(fx.seen.at(-1)!.headers.get("accept-encoding"), null);
    assertNoSecret("agent response", res.body);
    const receipt = (await fx.receipts()).find((r) => r.summary.includes("/gz"));
    ok(receipt);
    equal(receipt.upstreamStatus, 502);
  });
});

Deno.test("a credential with no value in the vault refuses the request with a receipt and a clear log line", async () => {
  const secrets = { api_basic: BASIC_PASSWORD, api_key: QUERY_KEY, api_always: ALWAYS_KEY };
  await withProxy(options({ secrets }), async (fx) => {
    // Warned at start, before any request needs it.
    ok(
      fx.log.messages("warn").some((m) =>
        m === "credential 'api_token' has no value in the vault: requests that need it are refused"
      ),
      fx.log.messages().join("\n"),
    );
    const res = await fetchVia(fx, "https://api.test/x", {
      headers: { authorization: "Bearer {{api_token}}" },
    });
    equal(res.status, 403);
    match(res.body, /credential 'api_token' is not available/);
    equal(fx.seen.length, 0);
    ok(fx.log.lines.some((e) => /vault set api_token/.test(JSON.stringify(e))));
    const receipt = (await fx.receipts()).find((r) => r.verdict === "deny");
    ok(receipt);
  });
});

Deno.test("a secret that cannot go in a header fails closed: 502 with a receipt, nothing forwarded, nothing leaked", async () => {
  const secrets = {
    api_token: "line1\r\nX-Injected: yes",
    api_basic: BASIC_PASSWORD,
    api_key: QUERY_KEY,
    api_always: ALWAYS_KEY,
  };
  await withProxy(options({ secrets }), async (fx) => {
    const res = await fetchVia(fx, "https://api.test/crlf", {
      headers: { authorization: "Bearer {{api_token}}" },
    });
    equal(res.status, 502);
    equal(fx.seen.length, 0, "a request with a header-breaking secret reached the upstream");
    ok(!res.body.includes("line1") && !res.body.includes("X-Injected"));
    ok(!JSON.stringify(fx.log.lines).includes("X-Injected"), "the secret reached the log");
    const receipt = (await fx.receipts()).find((r) => r.summary.includes("/crlf"));
    ok(receipt);
    equal(receipt.upstreamStatus, 502);
  });
});

Deno.test("passthrough traffic carrying a placeholder is refused before it leaves", async () => {
  await withProxy(options({ unknownHost: "passthrough" }), async (fx) => {
    const res = await fetchVia(fx, "http://unclaimed.test/x", {
      headers: { authorization: "Bearer {{api_token}}" },
    });
    equal(res.status, 403);
    match(res.body, /placeholder for credential 'api_token'/);
    const receipt = (await fx.receipts()).find((r) => r.summary.includes("unclaimed.test"));
    ok(receipt);
    equal(receipt.verdict, "deny");
    equal(receipt.endpoint, null);
  });
});
