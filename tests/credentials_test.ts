/**
 * Credential injection end to end: real clients (curl, python3) through `clawpatrol run` send
 * placeholders; the upstream sees the real secret, the agent never does (responses that echo it
 * are scrubbed), misplaced placeholders are denied, and no test secret lands in a receipt, the
 * vault file or the gateway's log.
 *
 * @module
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { cli } from "./_helpers.ts";
import { withProxy } from "./_proxy_fixture.ts";
import {
  ALWAYS_KEY,
  API_TOKEN,
  assertNoSecret,
  assertNothingLeaked,
  BASIC_PASSWORD,
  configForRun,
  options,
  QUERY_KEY,
  runAs,
} from "./_credentials_fixture.ts";

Deno.test("curl through clawpatrol run: the upstream gets the real token, the agent only ever sees the placeholder", async () => {
  await withProxy(options(), async (fx) => {
    const config = await configForRun(fx);
    // The agent's environment carries placeholders, never values.
    const env = await cli(["env", "-c", config, "--agent", "bot", "--token", fx.token]);
    equal(env.code, 0, env.stderr);
    match(env.stdout, /API_TOKEN='?\{\{api_token\}\}'?/);
    assertNoSecret("clawpatrol env", env.stdout + env.stderr);

    const got = await runAs(fx, config, [
      "sh",
      "-c",
      'curl -sS -i -g -H "Authorization: Bearer $API_TOKEN" "https://api.test/user?key={{api_key}}"',
    ]);
    equal(got.code, 0, got.stderr);
    const seen = fx.seen.at(-1)!;
    equal(seen.headers.get("authorization"), `Bearer ${API_TOKEN}`);
    equal(seen.target, `/user?key=${encodeURIComponent(QUERY_KEY)}`);
    // inject = "always": set although the agent sent nothing for it.
    equal(seen.headers.get("x-api-key"), `Key ${ALWAYS_KEY}`);

    // The echo is scrubbed back to placeholders, in the body and in the echoed header.
    assertNoSecret("curl output", got.stdout + got.stderr);
    const body = JSON.parse(got.stdout.slice(got.stdout.lastIndexOf("\r\n\r\n") + 4));
    equal(body.authorization, "Bearer {{api_token}}");
    equal(body.apiKey, "Key {{api_always}}");
    equal(body.query, "?key={{api_key}}");
    match(got.stdout, /x-echo-authorization: Bearer \{\{api_token\}\}/i);

    const receipts = await fx.receipts();
    const allowed = receipts.find((r) => r.summary.startsWith("GET api.test/user"));
    ok(allowed, "no receipt for the request");
    equal(allowed.verdict, "allow");
    deepEqual((allowed.facts as { http: { placeholders: string[] } }).http.placeholders, [
      "api_key",
      "api_token",
    ]);
    await assertNothingLeaked(fx);
  });
});

Deno.test("python3 urllib through clawpatrol run: basic-auth and query-token credentials work", async () => {
  await withProxy(options(), async (fx) => {
    const config = await configForRun(fx);
    const script = `
import base64, json, os, urllib.request
pw = os.environ["API_PASSWORD"]
req = urllib.request.Request("https://api.test/basic?key={{api_key}}")
req.add_header("Authorization", "Basic " + base64.b64encode(("svc-bot:" + pw).encode()).decode())
print(urllib.request.urlopen(req, timeout=20).read().decode())
`;
    const got = await runAs(fx, config, ["python3", "-c", script]);
    equal(got.code, 0, got.stderr);
    const seen = fx.seen.at(-1)!;
    equal(seen.headers.get("authorization"), `Basic ${btoa(`svc-bot:${BASIC_PASSWORD}`)}`);
    equal(seen.target, `/basic?key=${encodeURIComponent(QUERY_KEY)}`);
    assertNoSecret("python output", got.stdout + got.stderr);
    const echoed = JSON.parse(got.stdout);
    equal(echoed.authorization, `Basic ${btoa("svc-bot:{{api_basic}}")}`);
    await assertNothingLeaked(fx);
  });
});

Deno.test("a placeholder sent to an endpoint its credential is not bound to is denied and never substituted", async () => {
  await withProxy(options(), async (fx) => {
    const config = await configForRun(fx);
    const got = await runAs(fx, config, [
      "curl",
      "-sS",
      "-i",
      "-H",
      "Authorization: Bearer {{api_token}}",
      "https://slashes.test/x",
    ]);
    equal(got.code, 0, got.stderr);
    match(got.stdout, /HTTP\/1\.1 403/);
    match(got.stdout, /placeholder for credential 'api_token'/);
    equal(fx.seen.length, 0, "the request reached an upstream");
    const receipts = await fx.receipts();
    const denied = receipts.find((r) => r.endpoint === "slashes");
    ok(denied);
    equal(denied.verdict, "deny");
    deepEqual(
      (denied.facts as { http: { misplaced_placeholders: string[] } }).http.misplaced_placeholders,
      ["api_token"],
    );
  });
});

Deno.test("with misplaced_placeholder = allow, a placeholder for another endpoint arrives unsubstituted", async () => {
  await withProxy(options({ defaults: `misplaced_placeholder = "allow"` }), async (fx) => {
    const config = await configForRun(fx);
    const got = await runAs(fx, config, [
      "curl",
      "-sS",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "-H",
      "Authorization: Bearer {{api_token}}",
      "https://slashes.test/x",
    ]);
    equal(got.stdout, "200", got.stderr);
    equal(fx.seen.at(-1)!.headers.get("authorization"), "Bearer {{api_token}}");
  });
});
