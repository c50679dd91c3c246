/**
 * `gcp_service_account` and `oauth_refresh`: the gateway keeps a short-lived access token from
 * the vault's key or refresh token, swaps it in for the agent's placeholder (curl through the
 * proxy), fetches a new one before the old expires, and refuses requests, never forwarding them
 * unauthenticated, when the token endpoint refuses (a revoked key or refresh token).
 *
 * @module
 */

import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { DEFAULT_SLOT, openVault } from "../src/credentials/mod.ts";
import { eventually } from "./_helpers.ts";
import {
  type FakeTokenEndpoint,
  startFakeTokenEndpoint,
  testServiceAccount,
} from "./_oauth_fakes.ts";
import { type ProxyFixture, withProxy } from "./_proxy_fixture.ts";

/** Tokens live 2 s at the fake endpoint: the gateway replaces them after 1 s. */
const LIFETIME_S = 2;

/** curl GET through the proxy with `Authorization: Bearer <placeholder>`: status and body. */
async function curl(
  fx: ProxyFixture,
  placeholder: string,
): Promise<{ status: number; body: string }> {
  const out = await new Deno.Command("curl", {
    args: [
      ...["-sS", "-o", "-", "-w", "\n%{http_code}", "-m", "20"],
      ...["--proxy", fx.proxyUrl, "--cacert", fx.caFile],
      ...["-H", `Authorization: Bearer ${placeholder}`, "https://api.test/storage/v1/b"],
    ],
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const at = text.lastIndexOf("\n");
  return { status: Number(text.slice(at + 1)), body: text.slice(0, at) };
}

/** The fake API: 200 for a live token from the endpoint, 401 otherwise (recorded). */
function api(tokens: FakeTokenEndpoint, seen: (string | null)[], stale: string[] = []) {
  return (req: Request) => {
    const authorization = req.headers.get("authorization");
    seen.push(authorization);
    if (!tokens.validBearer(authorization)) stale.push(String(authorization));
    return tokens.validBearer(authorization)
      ? Response.json({ items: [{ name: "reports" }] })
      : Response.json({ error: "unauthenticated" }, { status: 401 });
  };
}

/** Requests until the API has seen two different tokens, every one of them live. */
async function assertRefreshed(fx: ProxyFixture, placeholder: string, seen: (string | null)[]) {
  await eventually(
    "a refreshed token",
    async () => {
      const res = await curl(fx, placeholder);
      equal(res.status, 200, res.body);
      return new Set(seen).size >= 2 ? true : undefined;
    },
    15_000,
    250,
  );
}

Deno.test("gcp_service_account: a token from the key's signed JWT, refreshed before expiry; a revoked key denies", async () => {
  const tokens = startFakeTokenEndpoint({ lifetimeS: LIFETIME_S, refreshToken: "unused" });
  const account = await testServiceAccount(tokens.url);
  tokens.serviceAccount = account;
  const seen: (string | null)[] = [];
  const stale: string[] = [];
  try {
    await withProxy({
      credentials:
        `credential "gcp_service_account" "gcp_sa" {\n  endpoint = https.api\n  scopes = "https://www.googleapis.com/auth/devstorage.read_only"\n}\n`,
      botCredentials: ["gcp_service_account.gcp_sa"],
      secrets: { gcp_sa: account.json },
      handler: api(tokens, seen, stale),
    }, async (fx) => {
      const first = await curl(fx, "{{gcp_sa}}");
      equal(first.status, 200, first.body);
      equal(tokens.grants[0].type, "urn:ietf:params:oauth:grant-type:jwt-bearer");
      await assertRefreshed(fx, "{{gcp_sa}}", seen);

      // The account's key is disabled: once the held token is due, requests are refused.
      tokens.revoked = true;
      const refused = await eventually(
        "a refusal",
        async () => {
          const res = await curl(fx, "{{gcp_sa}}");
          return res.status === 403 ? res : undefined;
        },
        10_000,
        250,
      );
      match(
        refused.body,
        /credential 'gcp_sa' has no valid access token: the token endpoint answered 400 invalid_grant/,
      );
      // Until then the held token was still live; no request ever carried an expired one.
      equal(stale.length, 0, `the API got tokens it no longer accepts: ${stale.join(", ")}`);
      ok(seen.every((a) => a !== "Bearer {{gcp_sa}}"), "the placeholder never reached the API");
      ok(
        fx.log.messages("warn").some((m) =>
          m.includes("credential 'gcp_sa': the token endpoint answered 400")
        ),
      );
      const all = JSON.stringify(await fx.receipts()) + fx.log.messages().join("\n");
      ok(
        !all.includes("PRIVATE KEY") && !all.includes("ya29."),
        "a secret reached a receipt or log",
      );
    });
  } finally {
    await tokens.close();
  }
});

Deno.test("oauth_refresh: the refresh token buys access tokens, its rotation is kept in the vault; revoked, requests are denied", async () => {
  const tokens = startFakeTokenEndpoint({
    lifetimeS: LIFETIME_S,
    refreshToken: "rt-initial",
    clientId: "Iv1.clawpatrol",
  });
  const seen: (string | null)[] = [];
  try {
    await withProxy({
      credentials:
        `credential "oauth_refresh" "gh_oauth" {\n  endpoint  = https.api\n  token_url = "${tokens.url}"\n  client_id = "Iv1.clawpatrol"\n}\n`,
      botCredentials: ["oauth_refresh.gh_oauth"],
      secrets: { gh_oauth: "rt-initial" },
      handler: api(tokens, seen),
    }, async (fx) => {
      const first = await curl(fx, "{{gh_oauth}}");
      equal(first.status, 200, first.body);
      await assertRefreshed(fx, "{{gh_oauth}}", seen);
      // Each refresh used the token the previous one returned, and the vault holds the latest.
      const used = tokens.grants.map((g) => g.refreshToken);
      equal(used[0], "rt-initial");
      ok(used.length >= 2 && used[1] !== "rt-initial", used.join(","));
      const vault = await openVault(join(fx.dir, "state"));
      try {
        equal(await vault.get("gh_oauth", DEFAULT_SLOT), tokens.refreshToken);
      } finally {
        vault.close();
      }

      tokens.revoked = true;
      const refused = await eventually(
        "a refusal",
        async () => {
          const res = await curl(fx, "{{gh_oauth}}");
          return res.status === 403 ? res : undefined;
        },
        10_000,
        250,
      );
      match(
        refused.body,
        /credential 'gh_oauth' has no valid access token: the token endpoint answered 400 invalid_grant/,
      );
      ok(seen.every((a) => a === null || a.startsWith("Bearer ya29.")), "nothing else was sent");
    });
  } finally {
    await tokens.close();
  }
});

Deno.test("an unreachable token endpoint refuses the request with a reason, never forwards it", async () => {
  const seen: (string | null)[] = [];
  await withProxy({
    credentials:
      `credential "oauth_refresh" "gh_oauth" {\n  endpoint  = https.api\n  token_url = "http://127.0.0.1:9/token"\n}\n`,
    botCredentials: ["oauth_refresh.gh_oauth"],
    secrets: { gh_oauth: "rt-initial" },
    handler: (req) => {
      seen.push(req.headers.get("authorization"));
      return new Response("reached");
    },
  }, async (fx) => {
    const res = await curl(fx, "{{gh_oauth}}");
    equal(res.status, 403, res.body);
    match(res.body, /token endpoint http:\/\/127\.0\.0\.1:9 cannot be reached/);
    equal(seen.length, 0);
  });
});
