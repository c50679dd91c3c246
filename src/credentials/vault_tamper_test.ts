// A vault file changed behind the vault's back: tampered rows fail authentication, damage is a
// VaultError, and no stored secret is readable in the file or its WAL.

import { equal, match, ok, rejects, throws } from "node:assert/strict";
import { join } from "node:path";
import { DEFAULT_SLOT, type KeySource, Vault, VAULT_FILE, VaultError } from "./mod.ts";
import { contains, keySource, raw, twoSecrets, vaultFiles, withDir } from "./_vault_testing.ts";

async function assertAuthFailure(
  path: string,
  source: KeySource,
  name: string,
  slot: string,
): Promise<void> {
  const vault = await Vault.open(path, source);
  try {
    await rejects(
      () => vault.get(name, slot),
      (e: Error) =>
        e instanceof VaultError && e.credential === name &&
        e.message.startsWith(
          `Credential '${name}' (slot '${slot}') in '${path}' fails authentication`,
        ) &&
        !e.message.includes("tamper_target"),
    );
  } finally {
    vault.close();
  }
}

Deno.test("a flipped ciphertext byte fails authentication naming the credential and slot", async () => {
  await withDir(async (dir) => {
    const { path, source } = await twoSecrets(dir);
    raw(path, (db) => {
      const { ciphertext } = db.prepare("SELECT ciphertext FROM secrets WHERE name = 'github_pat'")
        .get() as { ciphertext: Uint8Array };
      ciphertext[0] ^= 0x01;
      db.prepare("UPDATE secrets SET ciphertext = ? WHERE name = 'github_pat'").run(ciphertext);
    });
    await assertAuthFailure(path, source, "github_pat", DEFAULT_SLOT);
    // The untouched row still opens.
    const vault = await Vault.open(path, source);
    equal(await vault.get("pg_ro", "password"), "pg-tamper-target");
    vault.close();
  });
});

Deno.test("a changed nonce fails authentication naming the credential and slot", async () => {
  await withDir(async (dir) => {
    const { path, source } = await twoSecrets(dir);
    raw(path, (db) => {
      const { nonce } = db.prepare("SELECT nonce FROM secrets WHERE name = 'pg_ro'")
        .get() as { nonce: Uint8Array };
      nonce[11] ^= 0x80;
      db.prepare("UPDATE secrets SET nonce = ? WHERE name = 'pg_ro'").run(nonce);
    });
    await assertAuthFailure(path, source, "pg_ro", "password");
    raw(path, (db) => db.prepare("UPDATE secrets SET nonce = x'00' WHERE name = 'pg_ro'").run());
    await assertAuthFailure(path, source, "pg_ro", "password");
  });
});

Deno.test("a row copied to another credential or slot fails authentication (AAD binds both)", async () => {
  await withDir(async (dir) => {
    const { path, source } = await twoSecrets(dir);
    raw(path, (db) => {
      db.exec(
        `INSERT INTO secrets SELECT 'stolen', slot, nonce, ciphertext, fingerprint, updated_at
         FROM secrets WHERE name = 'github_pat';
         INSERT INTO secrets SELECT name, 'other', nonce, ciphertext, fingerprint, updated_at
         FROM secrets WHERE name = 'pg_ro';`,
      );
    });
    await assertAuthFailure(path, source, "stolen", DEFAULT_SLOT);
    await assertAuthFailure(path, source, "pg_ro", "other");
  });
});

Deno.test("no stored secret appears in vault.db or its WAL files", async () => {
  await withDir(async (dir) => {
    const path = join(dir, VAULT_FILE);
    const secrets = {
      github_pat: "ghp_GREPME0123456789abcdefghijklmnopqrstu",
      openai: "sk-proj-GREPME-openai-key-abcdefghijklmnop",
      pg_ro: "correct-horse-battery-staple-GREPME",
      ca_key: "-----BEGIN PRIVATE KEY-----\nGREPMEMIGHAgEAMBMGByqGSM49AgEGCCqGSM49\n",
    };
    const vault = await Vault.create(path, keySource());
    for (const [name, value] of Object.entries(secrets)) await vault.set(name, "value", value);
    await vault.set("github_pat", "backup", secrets.github_pat);
    const check = (files: Uint8Array[]) => {
      ok(files.length > 0);
      for (const bytes of files) {
        for (const value of [...Object.values(secrets), "GREPME"]) {
          ok(
            !contains(bytes, new TextEncoder().encode(value)),
            `'${value}' found in the vault files`,
          );
        }
      }
    };
    check(vaultFiles(path)); // while open: the WAL holds the recent writes
    vault.close();
    check(vaultFiles(path));
  });
});

Deno.test("a truncated, garbage or empty vault file is reported as damaged, not a crash", async () => {
  await withDir(async (dir) => {
    const { path, source } = await twoSecrets(dir);
    const bytes = await Deno.readFile(path);
    const variants: [string, Uint8Array][] = [
      ["truncated", bytes.subarray(0, Math.floor(bytes.length / 2))],
      ["garbage", crypto.getRandomValues(new Uint8Array(bytes.length))],
      ["header only", bytes.subarray(0, 100)],
      ["empty", new Uint8Array(0)],
    ];
    for (const [what, content] of variants) {
      await Deno.writeFile(path, content, { mode: 0o600 });
      for (const attempt of [() => Vault.open(path, source), () => Vault.unlockKind(path)]) {
        try {
          await attempt();
          ok(false, `${what}: opened a damaged file`);
        } catch (e) {
          ok(e instanceof VaultError, `${what}: ${e}`);
          match(e.message, new RegExp(`^Vault file '${path}' is damaged: `), what);
        }
      }
    }
  });
});

Deno.test("damage found after opening surfaces as a VaultError from get() and list()", async () => {
  await withDir(async (dir) => {
    const { path, source } = await twoSecrets(dir);
    const vault = await Vault.open(path, source);
    try {
      // Another process replaces the secrets table with something that is not one.
      raw(path, (db) => db.exec("DROP TABLE secrets; CREATE TABLE secrets (x)"));
      await rejects(() => vault.get("github_pat"), (e: Error) => e instanceof VaultError);
      throws(
        () => vault.list(),
        (e: Error) => e instanceof VaultError && /damaged/.test(e.message),
      );
    } finally {
      vault.close();
    }
  });
});

Deno.test("a vault file truncated while open fails get(), list() and set() with VaultError", async () => {
  await withDir(async (dir) => {
    const path = join(dir, VAULT_FILE);
    const source = keySource();
    const writer = await Vault.create(path, source);
    for (let i = 0; i < 100; i++) await writer.set(`n${i}`, DEFAULT_SLOT, "x".repeat(500));
    writer.close();
    const vault = await Vault.open(path, source);
    try {
      await Deno.truncate(path, Math.floor((await Deno.stat(path)).size / 2));
      const damagedError = (e: Error) => e instanceof VaultError && /is damaged: /.test(e.message);
      await rejects(() => vault.get("n99"), damagedError);
      throws(() => vault.list(), damagedError);
      await rejects(() => vault.set("n1", DEFAULT_SLOT, "y"), damagedError);
    } finally {
      vault.close();
    }
  });
});
