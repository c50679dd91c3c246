import { deepEqual, equal, match, notDeepEqual, ok, rejects, throws } from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
  DEFAULT_SLOT,
  generateMasterKey,
  type KeySource,
  MASTER_KEY_FILE,
  openVault,
  readKeyFile,
  Vault,
  VAULT_FILE,
  VaultError,
  writeKeyFile,
} from "./mod.ts";
import { newRoot, NONCE_BYTES, seal } from "./_seal.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_vault_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const keySource = (key = generateMasterKey(), origin = "test key"): KeySource => ({
  kind: "key",
  key,
  origin,
});

/** Runs `fn` against the raw SQLite file, as an attacker with write access would. */
function raw<T>(path: string, fn: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(path);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

interface Row {
  name: string;
  slot: string;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
  fingerprint: string;
}

function rows(path: string): Row[] {
  return raw(
    path,
    (db) =>
      db.prepare(
        "SELECT name, slot, nonce, ciphertext, fingerprint FROM secrets ORDER BY name, slot",
      )
        .all() as unknown as Row[],
  );
}

function meta(path: string): Map<string, unknown> {
  return raw(path, (db) =>
    new Map(
      db.prepare("SELECT key, value FROM meta").all().map((r) => [r.key as string, r.value]),
    ));
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** True when `needle` occurs in `haystack` byte for byte. */
function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/** vault.db and its -wal/-shm files, those that exist. */
function vaultFiles(path: string): Uint8Array[] {
  const files: Uint8Array[] = [];
  for (const p of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) {
    try {
      files.push(Deno.readFileSync(p));
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  return files;
}

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

/** Creates a vault holding `github_pat` and `pg_ro/password`; returns its path and key. */
async function twoSecrets(dir: string): Promise<{ path: string; source: KeySource }> {
  const path = join(dir, VAULT_FILE);
  const source = keySource();
  const vault = await Vault.create(path, source);
  await vault.set("github_pat", DEFAULT_SLOT, "ghp_tamper_target");
  await vault.set("pg_ro", "password", "pg-tamper-target");
  vault.close();
  return { path, source };
}

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

/** A state directory as `init` leaves it: 0700. */
async function stateDir(dir: string): Promise<string> {
  const state = join(dir, "state");
  await Deno.mkdir(state, { mode: 0o700 });
  await Deno.chmod(state, 0o700);
  return state;
}

Deno.test("openVault() creates master.key (0600) and the vault when asked, then reopens with it", async () => {
  await withDir(async (dir) => {
    const state = await stateDir(dir);
    await rejects(() => openVault(state), /vault\.db' does not exist: run 'clawpatrol init'/);
    const vault = await openVault(state, { create: true });
    await vault.set("k", DEFAULT_SLOT, "v1");
    vault.close();
    const keyFile = join(state, MASTER_KEY_FILE);
    equal((await Deno.stat(keyFile)).mode! & 0o777, 0o600);
    equal((await Deno.stat(join(state, VAULT_FILE))).mode! & 0o777, 0o600);
    const again = await openVault(state, { create: true });
    equal(await again.get("k"), "v1");
    again.close();
    // The key in the file is the one that opens the vault.
    const direct = await Vault.open(join(state, VAULT_FILE), keySource(await readKeyFile(keyFile)));
    direct.close();
  });
});

Deno.test("openVault() prefers the env key over master.key and never writes it to disk", async () => {
  await withDir(async (dir) => {
    const state = await stateDir(dir);
    const envKey = btoa(String.fromCharCode(...generateMasterKey()));
    const vault = await openVault(state, { create: true, envKey });
    vault.close();
    deepEqual([...Deno.readDirSync(state)].map((e) => e.name), [VAULT_FILE]);
    await rejects(
      () => openVault(state),
      /is unlocked by a key, but '.*master\.key' does not exist and CLAWPATROL_MASTER_KEY is not set/,
    );
    await writeKeyFile(join(state, MASTER_KEY_FILE), generateMasterKey());
    await rejects(() => openVault(state), /the key from '.*master\.key' does not match/);
    (await openVault(state, { envKey })).close();
    await rejects(
      () => openVault(state, { envKey: "bm90IGEga2V5" }),
      /The key from CLAWPATROL_MASTER_KEY is 9 bytes long, not 32/,
    );
  });
});

Deno.test("openVault() asks for a passphrase only for a passphrase vault", async () => {
  await withDir(async (dir) => {
    const state = await stateDir(dir);
    let asked = 0;
    const passphrase = () => {
      asked++;
      return Promise.resolve("state passphrase");
    };
    const vault = await openVault(state, { create: { passphrase: true }, passphrase });
    vault.close();
    equal(asked, 1);
    deepEqual([...Deno.readDirSync(state)].map((e) => e.name), [VAULT_FILE]);
    await rejects(
      () => openVault(state, { envKey: btoa("x".repeat(32)) }),
      /is passphrase-protected: pass --passphrase-stdin/,
    );
    equal(asked, 1);
  });
});

Deno.test("openVault() refuses a state dir, master.key or vault.db others can access", async () => {
  await withDir(async (dir) => {
    const state = await stateDir(dir);
    (await openVault(state, { create: true })).close();
    const keyFile = join(state, MASTER_KEY_FILE);
    const vaultFile = join(state, VAULT_FILE);

    await Deno.chmod(state, 0o755);
    await rejects(
      () => openVault(state),
      (e: Error) =>
        e instanceof VaultError &&
        e.message ===
          `State directory '${state}' is readable by other users (mode 755): run 'chmod 700 ${state}'`,
    );
    await Deno.chmod(state, 0o700);

    await Deno.chmod(keyFile, 0o644);
    await rejects(
      () => openVault(state),
      (e: Error) =>
        e.message ===
          `Vault key file '${keyFile}' is readable by other users (mode 644): run 'chmod 600 ${keyFile}'`,
    );
    await Deno.chmod(keyFile, 0o600);

    await Deno.chmod(vaultFile, 0o644);
    await rejects(
      () => openVault(state),
      (e: Error) =>
        e.message ===
          `Vault file '${vaultFile}' is readable by other users (mode 644): run 'chmod 600 ${vaultFile}'`,
    );
    await Deno.chmod(vaultFile, 0o600);
    (await openVault(state)).close();
    await rejects(() => openVault(join(dir, "nope")), /State directory '.*nope' does not exist/);
  });
});

Deno.test("openVault() points at master.key.new left by an interrupted rotation", async () => {
  await withDir(async (dir) => {
    const state = await stateDir(dir);
    const vault = await openVault(state, { create: true });
    const next = generateMasterKey();
    await writeKeyFile(join(state, `${MASTER_KEY_FILE}.new`), next);
    await vault.rotateKey(keySource(next));
    vault.close();
    await rejects(() => openVault(state), /interrupted 'clawpatrol vault rotate-key'.*run 'mv /);
  });
});
