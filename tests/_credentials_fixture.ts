/**
 * Shared by the credential injection tests: a proxy fixture with four credentials on
 * `https.api` whose upstream echoes everything a leaky API might, and assertions that no test
 * secret shows anywhere.
 *
 * @module
 */

import { ok } from "node:assert/strict";
import { join } from "node:path";
import { cli } from "./_helpers.ts";
import type { ProxyFixture, ProxyFixtureOptions } from "./_proxy_fixture.ts";

export const API_TOKEN = "ghp_REALsecretVALUE_0123456789abcdef";
export const BASIC_PASSWORD = "pa55:word/with&odd=chars";
export const QUERY_KEY = "qk_live_7f3a9c1e5b";
export const ALWAYS_KEY = "hdr_always_c0ffee42";
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

/** Fixture options with the credentials, their secrets, the leaky echo and allow-all rules. */
export function options(extra: Partial<ProxyFixtureOptions> = {}): ProxyFixtureOptions {
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
export async function configForRun(fx: ProxyFixture): Promise<string> {
  const text = await Deno.readTextFile(join(fx.dir, "gateway.hcl"));
  const path = join(fx.dir, "run.hcl");
  await Deno.writeTextFile(
    path,
    text.replace(/proxy_listen\s*=\s*"[^"]*"/, `proxy_listen = "127.0.0.1:${fx.proxyPort}"`),
  );
  return path;
}

/** `clawpatrol run --agent bot -- CMD…` with the agent's token on stdin-free argv, as the tests of run do. */
export async function runAs(fx: ProxyFixture, config: string, command: string[]) {
  return await cli(["run", "-c", config, "--agent", "bot", "--token", fx.token, "--", ...command]);
}

/** Every byte a test captured must be free of every test secret. */
export function assertNoSecret(where: string, text: string): void {
  for (const secret of SECRETS) {
    ok(!text.includes(secret), `${where} contains a secret`);
    ok(!text.includes(encodeURIComponent(secret)), `${where} contains a %-encoded secret`);
  }
  ok(!text.includes(btoa(`svc-bot:${BASIC_PASSWORD}`)), `${where} contains the basic credential`);
}

/** Receipts, vault, log: no secret anywhere the gateway writes. */
export async function assertNothingLeaked(fx: ProxyFixture): Promise<void> {
  await fx.receipts();
  for (const name of await Array.fromAsync(Deno.readDir(join(fx.dir, "state")))) {
    if (!name.isFile) continue;
    const bytes = await Deno.readFile(join(fx.dir, "state", name.name));
    assertNoSecret(`state/${name.name}`, new TextDecoder("latin1").decode(bytes));
  }
  assertNoSecret("gateway log", JSON.stringify(fx.log.lines));
}

/** Deno fetch through the proxy (DENO_CERT-style trust via a client with the gateway CA). */
export async function fetchVia(
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
