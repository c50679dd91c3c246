import { equal } from "node:assert/strict";
import { join } from "node:path";
import { loadConfigText } from "../config/mod.ts";
import { DEFAULT_SLOT, openVault } from "../credentials/mod.ts";
import { HttpCredentials } from "./_http_credentials.ts";
import { MemoryLogger } from "./log.ts";
import { SecretCache } from "./_secrets.ts";
import { PROTOCOLS } from "../protocols/registry.ts";

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

Deno.test("HttpCredentials compiles a scrubber once per value set and drops it when the cache forgets", async () => {
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
    const use = await creds.use(AGENT, "gh", REQUEST);
    equal(use.refusal, null);
    equal((await use.apply()).headers[0][1], "Bearer ghp_real_value_1");
    const scrubber = use.scrubber()!;
    const out = dec.decode(scrubber.push(enc.encode("echo ghp_real_value_1 !")));
    equal(out + dec.decode(scrubber.end()), "echo {{gh_pat}} !");
    equal(creds.compiledScrubbers, 1);
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
    equal(creds.compiledScrubbers, 0, "a compiled scrubber outlived the secret cache");
    creds.close();
  } finally {
    vault.close();
    await Deno.remove(dir, { recursive: true });
  }
});
