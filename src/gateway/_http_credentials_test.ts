import { equal } from "node:assert/strict";
import { join } from "node:path";
import { loadConfigText } from "../config/mod.ts";
import { DEFAULT_SLOT, openVault, type Vault } from "../credentials/mod.ts";
import { HttpCredentials } from "./_http_credentials.ts";
import { MemoryLogger } from "./log.ts";
import { SecretCache } from "./_secrets.ts";
import { PROTOCOLS } from "../protocols/registry.ts";
import { startFakeTokenEndpoint } from "../../tests/_oauth_fakes.ts";

const CONFIG = `schema_version = 1
endpoint "https" "gh" {
  hosts = ["api.github.com"]
}
credential "bearer_token" "gh_pat" {
  endpoint = https.gh
}
credential "bearer_token" "gh_unset" {
  endpoint    = https.gh
  placeholder = "{{unset_one}}"
}
profile "bots" {
  credentials = [bearer_token.gh_pat]
}
`;

const enc = new TextEncoder();
const dec = new TextDecoder();
const AGENT = { name: "bot", profile: "bots" };
const REQUEST = {
  headers: [["Authorization", "Bearer {{gh_pat}}"]] as [string, string][],
  target: "/user",
  body: new Uint8Array(0),
  bodyTruncated: false,
};

/** The credentials hook over a fresh vault holding `gh_pat`; the vault and its dir go after. */
async function withCredentials(
  fn: (ctx: {
    creds: HttpCredentials;
    secrets: SecretCache;
    log: MemoryLogger;
    vault: Vault;
    stateDir: string;
  }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_httpcred_" });
  const stateDir = join(dir, "state");
  await Deno.mkdir(stateDir, { mode: 0o700 });
  const vault = await openVault(stateDir, { create: true });
  try {
    await vault.set("gh_pat", DEFAULT_SLOT, "ghp_real_value_1");
    const secrets = new SecretCache(vault, { changeCheckMs: 0 });
    const log = new MemoryLogger();
    const creds = new HttpCredentials(
      await loadConfigText("t.hcl", CONFIG, { protocols: PROTOCOLS }),
      secrets,
      log,
    );
    await fn({ creds, secrets, log, vault, stateDir });
  } finally {
    vault.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("HttpCredentials compiles a scrubber once per value set and drops it when the cache forgets", async () => {
  await withCredentials(async ({ creds, secrets, log, stateDir }) => {
    const use = await creds.use(AGENT, "gh", REQUEST);
    equal(use.refusal, null);
    equal((await use.apply()).headers[0][1], "Bearer ghp_real_value_1");
    const scrubber = use.scrubber()!;
    const out = dec.decode(scrubber.push(enc.encode("echo ghp_real_value_1 !")));
    equal(out + dec.decode(scrubber.end()), "echo {{gh_pat}} !");
    equal(creds.compiledScrubbers.held, 1);
    // The credential without a value is only scrubbed for, never needed: no log line per request.
    equal(log.lines.filter((l) => l.message.includes("gh_unset")).length, 0);

    // A new value (another process wrote the vault): the old one is no longer held or scrubbed.
    const other = await openVault(stateDir);
    await other.set("gh_pat", DEFAULT_SLOT, "ghp_real_value_2");
    other.close();
    const next = await creds.use(AGENT, "gh", REQUEST);
    equal((await next.apply()).headers[0][1], "Bearer ghp_real_value_2");
    const s2 = next.scrubber()!;
    equal(dec.decode(s2.push(enc.encode("ghp_real_value_2 "))), "{{gh_pat}} ");

    secrets.clear();
    equal(creds.compiledScrubbers.held, 0, "a compiled scrubber outlived the secret cache");
    creds.close();
  });
});

Deno.test("HttpCredentials keeps the scrubbers of requests that take turns sending an access token", async () => {
  const tokens = startFakeTokenEndpoint({ lifetimeS: 600, refreshToken: "rt-initial" });
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_httpcred_" });
  const stateDir = join(dir, "state");
  await Deno.mkdir(stateDir, { mode: 0o700 });
  const vault = await openVault(stateDir, { create: true });
  const config = `${CONFIG}credential "oauth_refresh" "gh_oauth" {
  endpoint  = https.gh
  token_url = "${tokens.url}"
}
profile "oauth_bots" {
  credentials = [oauth_refresh.gh_oauth, bearer_token.gh_pat]
}
`;
  try {
    await vault.set("gh_pat", DEFAULT_SLOT, "ghp_real_value_1");
    await vault.set("gh_oauth", DEFAULT_SLOT, "rt-initial");
    const secrets = new SecretCache(vault, { changeCheckMs: 0 });
    const creds = new HttpCredentials(
      await loadConfigText("t.hcl", config, { protocols: PROTOCOLS }),
      secrets,
      new MemoryLogger(),
    );
    const agent = { name: "bot", profile: "oauth_bots" };
    const withToken = { ...REQUEST, headers: [["Authorization", "Bearer {{gh_oauth}}"]] };
    // The first token's refresh rotated the vault's refresh token, so the cache forgot: settle.
    const first = await creds.use(agent, "gh", withToken as typeof REQUEST);
    const token = (await first.apply()).headers[0][1].slice("Bearer ".length);
    equal(token.startsWith("ya29."), true, token);
    await creds.use(agent, "gh", withToken as typeof REQUEST);
    const settled = creds.compiledScrubbers.compiles;

    const scrubbed = async (request: typeof REQUEST) => {
      const scrubber = (await creds.use(agent, "gh", request)).scrubber()!;
      const text = `${token} ghp_real_value_1`;
      return dec.decode(scrubber.push(enc.encode(text))) + dec.decode(scrubber.end());
    };
    for (let i = 0; i < 4; i++) {
      // Sent, the access token is scrubbed; not sent, only the stored secret is.
      equal(await scrubbed(withToken as typeof REQUEST), "{{gh_oauth}} {{gh_pat}}");
      equal(await scrubbed(REQUEST), `${token} {{gh_pat}}`);
    }
    equal(creds.compiledScrubbers.compiles - settled, 1, "a scrubber was compiled again");
    equal(creds.compiledScrubbers.held, 2);
    equal(tokens.grants.length, 1);
    creds.close();
    secrets.clear();
  } finally {
    vault.close();
    await tokens.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HttpCredentials refuses, never throws, when the vault cannot be read behind a held value", async () => {
  await withCredentials(async ({ creds, secrets, log, vault }) => {
    equal((await creds.use(AGENT, "gh", REQUEST)).refusal, null);
    // The value is held; checking the vault for changes now fails.
    vault.close();
    const use = await creds.use(AGENT, "gh", REQUEST);
    equal(use.refusal, "credential 'gh_pat' is not available on the gateway");
    equal(
      JSON.stringify(log.lines).includes("ghp_real_value_1"),
      false,
      "a secret reached the log",
    );
    creds.close();
    secrets.clear();
  });
});
