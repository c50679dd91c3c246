import { deepEqual, equal, match, notDeepEqual, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import { DEFAULT_SLOT, generateMasterKey, Vault, VAULT_FILE, VaultError } from "./mod.ts";
import { newRoot, NONCE_BYTES, seal } from "./_seal.ts";
import {
  contains,
  keySource,
  meta,
  raw,
  rows,
  twoSecrets,
  vaultFiles,
  withDir,
} from "./_vault_testing.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("a value set in the vault reads back after reopening, and list() never holds it", async () => {
  await withDir(async (dir) => {
    const path = join(dir, VAULT_FILE);
    const source = keySource();
    const vault = await Vault.create(path, source);
    await vault.set("github_pat", DEFAULT_SLOT, "ghp_round_trip_secret");
    await vault.set("pg_ro", "password", "pg-päss-wörd");
    await vault.set("pg_ro", "user", "agent_ro");
    equal(await vault.get("github_pat"), "ghp_round_trip_secret");
    equal(await vault.get("missing"), null);
    equal(await vault.get("github_pat", "other"), null);
    vault.close();

    const again = await Vault.open(path, source);
    try {
      equal(await again.get("github_pat", DEFAULT_SLOT), "ghp_round_trip_secret");
      equal(await again.get("pg_ro", "password"), "pg-päss-wörd");
      const entries = again.list();
      deepEqual(entries.map((e) => [e.name, e.slot]), [
        ["github_pat", "value"],
        ["pg_ro", "password"],
        ["pg_ro", "user"],
      ]);
      for (const e of entries) {
        match(e.fingerprint, /^[0-9a-f]{12}$/);
        ok(e.updatedAt instanceof Date && Date.now() - e.updatedAt.getTime() < 60_000);
      }
      ok(!JSON.stringify(entries).includes("ghp_round_trip_secret"));
      equal(again.remove("pg_ro", "user"), 1);
      equal(again.remove("pg_ro", "user"), 0);
      equal(again.remove("pg_ro"), 1);
      equal(await again.get("pg_ro", "password"), null);
      equal(again.remove("nothing"), 0);
    } finally {
      again.close();
    }
  });
});

Deno.test("Vault.create() writes a 0600 file and refuses to replace an existing one", async () => {
  await withDir(async (dir) => {
    const path = join(dir, VAULT_FILE);
    const vault = await Vault.create(path, keySource());
    vault.close();
    equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    await rejects(() => Vault.create(path, keySource()), /already exists/);
    deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [VAULT_FILE]);
    deepEqual(meta(path).get("format"), 1);
    equal(meta(path).get("unlock"), "key");
  });
});

Deno.test("each write seals with a fresh nonce: the same value twice gives different rows", async () => {
  await withDir(async (dir) => {
    const path = join(dir, VAULT_FILE);
    const vault = await Vault.create(path, keySource());
    try {
      await vault.set("token", DEFAULT_SLOT, "same-value");
      const [first] = rows(path);
      await vault.set("token", DEFAULT_SLOT, "same-value");
      const [second] = rows(path);
      equal(first.nonce.length, NONCE_BYTES);
      notDeepEqual(first.nonce, second.nonce);
      notDeepEqual(first.ciphertext, second.ciphertext);
      // The fingerprint depends on the value only, so operators can compare values.
      equal(first.fingerprint, second.fingerprint);
      await vault.set("token", DEFAULT_SLOT, "other-value");
      notDeepEqual(rows(path)[0].fingerprint, first.fingerprint);
    } finally {
      vault.close();
    }
  });
});

Deno.test("1000 seals under one key never repeat a nonce", async () => {
  const key = await crypto.subtle.importKey("raw", newRoot(), "AES-GCM", false, ["encrypt"]);
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const { nonce } = await seal(key, "name", "slot", "value");
    seen.add(hex(nonce));
  }
  equal(seen.size, 1000);
});

Deno.test("Vault.open() with another key says the key from its origin does not match", async () => {
  await withDir(async (dir) => {
    const path = join(dir, VAULT_FILE);
    (await Vault.create(path, keySource())).close();
    await rejects(
      () => Vault.open(path, keySource(generateMasterKey(), "CLAWPATROL_MASTER_KEY")),
      (e: Error) =>
        e instanceof VaultError &&
        e.message.startsWith(
          `Cannot unlock the vault '${path}': the key from CLAWPATROL_MASTER_KEY does not match`,
        ),
    );
  });
});

Deno.test("a passphrase vault stores its PBKDF2 parameters, refuses a wrong passphrase and a key", async () => {
  await withDir(async (dir) => {
    const path = join(dir, VAULT_FILE);
    const vault = await Vault.create(path, { kind: "passphrase", passphrase: "correct horse" });
    await vault.set("api", DEFAULT_SLOT, "sk-passphrase-secret");
    vault.close();
    const stored = meta(path);
    equal(stored.get("unlock"), "passphrase");
    equal(stored.get("kdf"), "PBKDF2-SHA256");
    equal(stored.get("kdf_iterations"), 600_000);
    equal((stored.get("kdf_salt") as Uint8Array).length, 16);
    equal(Vault.unlockKind(path), "passphrase");

    await rejects(
      () => Vault.open(path, keySource()),
      /is passphrase-protected, not unlocked by a key: pass --passphrase-stdin/,
    );
    await rejects(
      () => Vault.open(path, { kind: "passphrase", passphrase: "wrong horse" }),
      (e: Error) =>
        e instanceof VaultError &&
        e.message === `Cannot unlock the vault '${path}': the passphrase is wrong`,
    );
    const again = await Vault.open(path, { kind: "passphrase", passphrase: "correct horse" });
    equal(await again.get("api"), "sk-passphrase-secret");
    again.close();

    // The iteration count is read back from the file: changing it changes the derived key.
    raw(
      path,
      (db) => db.prepare("UPDATE meta SET value = 600001 WHERE key = 'kdf_iterations'").run(),
    );
    await rejects(
      () => Vault.open(path, { kind: "passphrase", passphrase: "correct horse" }),
      /the passphrase is wrong/,
    );
  });
});

Deno.test("a key vault opened with a passphrase says a key unlocks it", async () => {
  await withDir(async (dir) => {
    const path = join(dir, VAULT_FILE);
    (await Vault.create(path, keySource())).close();
    await rejects(
      () => Vault.open(path, { kind: "passphrase", passphrase: "anything" }),
      /is unlocked by a key \(master\.key or CLAWPATROL_MASTER_KEY\), not a passphrase/,
    );
  });
});

Deno.test("rotateKey() re-wraps the root: new key opens, old key refused, rows untouched", async () => {
  await withDir(async (dir) => {
    const { path, source } = await twoSecrets(dir);
    const before = rows(path);
    const oldRoot = meta(path).get("root") as Uint8Array;
    const next = keySource(generateMasterKey(), "new key");
    const vault = await Vault.open(path, source);
    await vault.rotateKey(next);
    // The open instance keeps working.
    equal(await vault.get("github_pat"), "ghp_tamper_target");
    // Nothing of the old wrapped root lingers (file, WAL) for the old key to open.
    for (const bytes of vaultFiles(path)) ok(!contains(bytes, oldRoot));
    vault.close();

    deepEqual(rows(path), before);
    await rejects(() => Vault.open(path, source), /the key from test key does not match/);
    const reopened = await Vault.open(path, next);
    equal(await reopened.get("github_pat"), "ghp_tamper_target");
    equal(await reopened.get("pg_ro", "password"), "pg-tamper-target");
    reopened.close();
    for (const bytes of vaultFiles(path)) ok(!contains(bytes, oldRoot));
  });
});

Deno.test("rotateKey() converts a key vault to a passphrase vault and back", async () => {
  await withDir(async (dir) => {
    const { path, source } = await twoSecrets(dir);
    const vault = await Vault.open(path, source);
    await vault.rotateKey({ kind: "passphrase", passphrase: "a long passphrase" });
    equal(vault.unlockedBy, "passphrase");
    vault.close();
    equal(Vault.unlockKind(path), "passphrase");
    equal(meta(path).get("kdf_iterations"), 600_000);
    await rejects(() => Vault.open(path, source), /is passphrase-protected/);

    const unlocked = await Vault.open(path, {
      kind: "passphrase",
      passphrase: "a long passphrase",
    });
    const back = keySource();
    await unlocked.rotateKey(back);
    unlocked.close();
    equal(Vault.unlockKind(path), "key");
    deepEqual([...meta(path).keys()].sort(), ["created_at", "format", "root", "unlock"]);
    const reopened = await Vault.open(path, back);
    equal(await reopened.get("github_pat"), "ghp_tamper_target");
    reopened.close();
  });
});

Deno.test("version() changes when this or another connection writes, and only then", async () => {
  await withDir(async (dir) => {
    const path = join(dir, VAULT_FILE);
    const source = keySource();
    const a = await Vault.create(path, source);
    const b = await Vault.open(path, source);
    try {
      const v0 = a.version();
      equal(a.version(), v0);
      await a.get("nothing");
      a.list();
      equal(a.version(), v0);
      await b.set("token", DEFAULT_SLOT, "from-b");
      const v1 = a.version();
      ok(v1 !== v0);
      equal(a.version(), v1);
      await a.set("token", DEFAULT_SLOT, "from-a");
      const v2 = a.version();
      ok(v2 !== v1);
      b.remove("token");
      ok(a.version() !== v2);
      const v3 = b.version();
      a.remove("nothing-here");
      equal(b.version(), v3);
    } finally {
      a.close();
      b.close();
    }
  });
});

Deno.test("names and slots holding NUL are refused (they would make the AAD ambiguous)", async () => {
  await withDir(async (dir) => {
    const vault = await Vault.create(join(dir, VAULT_FILE), keySource());
    try {
      await rejects(() => vault.set("a\0b", "c", "v"), /Invalid credential name/);
      await rejects(() => vault.set("a", "b\0c", "v"), /Invalid slot/);
      await rejects(() => vault.set("a", "b", ""), /empty value/);
    } finally {
      vault.close();
    }
  });
});
