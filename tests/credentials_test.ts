/**
 * Credential injection end to end: real clients (curl, python3) through `clawpatrol run` send
 * placeholders; the upstream sees the real secret, the agent never does (responses that echo it
 * are scrubbed), misplaced placeholders are denied, and no test secret lands in a receipt, the
 * vault file or the gateway's log.
 *
 * @module
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { cli } from "./_helpers.ts";
import { DEFAULT_SLOT, openVault } from "../src/credentials/mod.ts";
import { type ProxyFixture, type ProxyFixtureOptions, withProxy } from "./_proxy_fixture.ts";

const API_TOKEN = "ghp_REALsecretVALUE_0123456789abcdef";
const BASIC_PASSWORD = "pa55:word/with&odd=chars";
const QUERY_KEY = "qk_live_7f3a9c1e5b";
const ALWAYS_KEY = "hdr_always_c0ffee42";
const SECRETS = [API_TOKEN, BASIC_PASSWORD, QUERY_KEY, ALWAYS_KEY];

const CREDENTIALS = `
credential "bearer_token" "api_token" {
  endpoint = https.api
  env      = "API_TOKEN"
}
credential "basic_auth" "api_basic" {
  endpoint = https.api
  username = "svc-bot"
  env      = "API_PASSWORD"
}
credential "query_token" "api_key" {
  endpoint = https.api
  param    = "key"
}
credential "header_token" "api_always" {
  endpoint = https.api
  header   = "X-Api-Key"
  prefix   = "Key "
  inject   = "always"
}
`;

const HELD = [
  "bearer_token.api_token",
  "basic_auth.api_basic",
  "query_token.api_key",
  "header_token.api_always",
];

/** Echoes everything a leaky API might: credential headers, query and body, also in a header. */
async function leakyEcho(req: Request): Promise<Response> {
  const url = new URL(req.url);
  const auth = req.headers.get("authorization") ?? "";
  return Response.json({
    authorization: auth,
    apiKey: req.headers.get("x-api-key"),
    query: decodeURIComponent(url.search),
    body: await req.text(),
  }, { headers: { "x-echo-authorization": auth } });
}

function options(extra: Partial<ProxyFixtureOptions> = {}): ProxyFixtureOptions {
  return {
    credentials: CREDENTIALS,
    botCredentials: HELD,
    secrets: {
      api_token: API_TOKEN,
      api_basic: BASIC_PASSWORD,
      api_key: QUERY_KEY,
      api_always: ALWAYS_KEY,
    },
    handler: leakyEcho,
    rules: `
rule "api-all" {
  endpoint  = https.api
  condition = "true"
  verdict   = "allow"
}
rule "slashes-all" {
  endpoint  = https.slashes
  condition = "true"
  verdict   = "allow"
}
`,
    ...extra,
  };
}

/** A copy of the config with the proxy port the gateway bound, for `run`/`env`. */
async function configForRun(fx: ProxyFixture): Promise<string> {
  const text = await Deno.readTextFile(join(fx.dir, "gateway.hcl"));
  const path = join(fx.dir, "run.hcl");
  await Deno.writeTextFile(
    path,
    text.replace(/proxy_listen\s*=\s*"[^"]*"/, `proxy_listen = "127.0.0.1:${fx.proxyPort}"`),
  );
  return path;
}

/** `clawpatrol run --agent bot -- CMD…` with the agent's token on stdin-free argv, as the tests of run do. */
async function runAs(fx: ProxyFixture, config: string, command: string[]) {
  return await cli(["run", "-c", config, "--agent", "bot", "--token", fx.token, "--", ...command]);
}

/** Every byte a test captured must be free of every test secret. */
function assertNoSecret(where: string, text: string): void {
  for (const secret of SECRETS) {
    ok(!text.includes(secret), `${where} contains a secret`);
    ok(!text.includes(encodeURIComponent(secret)), `${where} contains a %-encoded secret`);
  }
  ok(!text.includes(btoa(`svc-bot:${BASIC_PASSWORD}`)), `${where} contains the basic credential`);
}

/** Receipts, vault, log: no secret anywhere the gateway writes. */
async function assertNothingLeaked(fx: ProxyFixture): Promise<void> {
  await fx.receipts();
  for (const name of await Array.fromAsync(Deno.readDir(join(fx.dir, "state")))) {
    if (!name.isFile) continue;
    const bytes = await Deno.readFile(join(fx.dir, "state", name.name));
    assertNoSecret(`state/${name.name}`, new TextDecoder("latin1").decode(bytes));
  }
  assertNoSecret("gateway log", JSON.stringify(fx.log.lines));
}

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

Deno.test("the agent's own Authorization for a bound endpoint is replaced, never forwarded", async () => {
  await withProxy(options(), async (fx) => {
    const res = await fetchVia(fx, "https://api.test/own", {
      headers: { authorization: "Bearer agent-held-token" },
    });
    equal(res.status, 200);
    const seen = fx.seen.at(-1)!;
    equal(seen.headers.get("authorization"), null);
    ok(!JSON.stringify([...seen.headers]).includes("agent-held-token"));
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

/** Deno fetch through the proxy (DENO_CERT-style trust via a client with the gateway CA). */
async function fetchVia(
  fx: ProxyFixture,
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; body: string }> {
  const client = Deno.createHttpClient({
    proxy: {
      url: `http://127.0.0.1:${fx.proxyPort}`,
      basicAuth: { username: fx.agent, password: fx.token },
    },
    caCerts: [await Deno.readTextFile(fx.caFile)],
  });
  try {
    const res = await fetch(url, { ...init, client });
    return { status: res.status, body: await res.text() };
  } finally {
    client.close();
  }
}

Deno.test("a value changed with the vault while the gateway runs is used from the next request on", async () => {
  await withProxy(options(), async (fx) => {
    const headers = { authorization: "Bearer {{api_token}}" };
    equal((await fetchVia(fx, "https://api.test/one", { headers })).status, 200);
    equal(fx.seen.at(-1)!.headers.get("authorization"), `Bearer ${API_TOKEN}`);

    // What `clawpatrol vault set` does: another connection to the same vault file.
    const rotated = "ghp_ROTATEDsecret_fedcba9876543210";
    const vault = await openVault(join(fx.dir, "state"));
    try {
      await vault.set("api_token", DEFAULT_SLOT, rotated);
    } finally {
      vault.close();
    }
    await new Promise((r) => setTimeout(r, 400)); // The gateway checks for changes every 250 ms.
    const res = await fetchVia(fx, "https://api.test/two", { headers });
    equal(res.status, 200);
    equal(fx.seen.at(-1)!.headers.get("authorization"), `Bearer ${rotated}`);
    ok(!res.body.includes(rotated), "the rotated value was echoed back unscrubbed");
  });
});

Deno.test("a streamed response from a credential-bound endpoint reaches the agent event by event, scrubbed", async () => {
  let firstSeen!: () => void;
  const seenByAgent = new Promise<void>((resolve) => firstSeen = resolve);
  const stream = () =>
    new Response(
      new ReadableStream({
        async start(controller) {
          const enc = new TextEncoder();
          controller.enqueue(enc.encode(`data: {"token":"${API_TOKEN}"}\n\n`));
          // The second event is sent only once the agent holds the first: a gateway that
          // buffered (or held back a fixed tail) would leave the agent waiting here.
          const waited = await Promise.race([
            seenByAgent.then(() => "ok"),
            new Promise((r) => setTimeout(() => r("timeout"), 5_000)),
          ]);
          controller.enqueue(enc.encode(`data: ${waited}\n\n`));
          controller.close();
        },
      }),
      { headers: { "content-type": "text/event-stream" } },
    );
  await withProxy(options({ handler: stream }), async (fx) => {
    const client = Deno.createHttpClient({
      proxy: {
        url: `http://127.0.0.1:${fx.proxyPort}`,
        basicAuth: { username: fx.agent, password: fx.token },
      },
      caCerts: [await Deno.readTextFile(fx.caFile)],
    });
    try {
      const res = await fetch("https://api.test/stream", {
        headers: { authorization: "Bearer {{api_token}}" },
        client,
      });
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!text.includes("\n\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      equal(text, 'data: {"token":"{{api_token}}"}\n\n');
      firstSeen();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      equal(text, 'data: {"token":"{{api_token}}"}\n\ndata: ok\n\n');
    } finally {
      client.close();
    }
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
