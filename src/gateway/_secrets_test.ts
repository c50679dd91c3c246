import { equal } from "node:assert/strict";
import { join } from "node:path";
import { DEFAULT_SLOT, openVault, type Vault } from "../credentials/mod.ts";
import { SecretCache } from "./_secrets.ts";

async function withVault(fn: (vault: Vault, stateDir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_secrets_" });
  const stateDir = join(dir, "state");
  await Deno.mkdir(stateDir, { mode: 0o700 });
  const vault = await openVault(stateDir, { create: true });
  try {
    await fn(vault, stateDir);
  } finally {
    vault.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("SecretCache forgets a value left unused for idleMs", async () => {
  await withVault(async (vault) => {
    await vault.set("gh", DEFAULT_SLOT, "one");
    const cache = new SecretCache(vault, { idleMs: 60 });
    let forgotten = 0;
    cache.onForget(() => forgotten++);
    equal(await cache.get("gh"), "one");
    equal(cache.size, 1);
    await new Promise((r) => setTimeout(r, 250));
    equal(cache.size, 0, "an idle value is still held decrypted");
    equal(forgotten, 1, "listeners were not told the value was forgotten");
    cache.clear();
  });
});

Deno.test("SecretCache drops every value when another process writes the vault", async () => {
  await withVault(async (vault, stateDir) => {
    await vault.set("gh", DEFAULT_SLOT, "one");
    const cache = new SecretCache(vault, { changeCheckMs: 0 });
    let forgotten = 0;
    cache.onForget(() => forgotten++);
    equal(await cache.get("gh"), "one");
    const other = await openVault(stateDir);
    await other.set("gh", DEFAULT_SLOT, "two");
    other.close();
    equal(await cache.get("gh"), "two");
    equal(forgotten, 1);
    equal(await cache.get("absent"), null);
    cache.clear();
    equal(cache.size, 0);
  });
});

Deno.test("SecretCache.held answers from what get read, and notices a vault written elsewhere", async () => {
  await withVault(async (vault, stateDir) => {
    await vault.set("gh", DEFAULT_SLOT, "one");
    await vault.set("gh", "cert", "pem");
    const cache = new SecretCache(vault, { changeCheckMs: 0 });
    equal(cache.held("gh"), undefined, "held read the vault");
    equal(await cache.get("gh"), "one");
    equal(cache.held("gh"), "one");
    equal(cache.held("gh", "cert"), undefined, "another slot answered for the default one");
    equal(await cache.get("gh", "cert"), "pem");
    equal(cache.held("gh", "cert"), "pem");
    const other = await openVault(stateDir);
    await other.set("gh", DEFAULT_SLOT, "two");
    other.close();
    equal(cache.held("gh"), undefined, "a value outlived a change of the vault");
    equal(cache.size, 0);
    equal(await cache.get("gh"), "two");
    cache.clear();
  });
});
