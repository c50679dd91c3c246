// openVault(): the state directory's master.key, the env key, a passphrase, file modes, and an
// interrupted key rotation.

import { deepEqual, equal, rejects } from "node:assert/strict";
import { join } from "node:path";
import {
  DEFAULT_SLOT,
  generateMasterKey,
  MASTER_KEY_FILE,
  openVault,
  readKeyFile,
  Vault,
  VAULT_FILE,
  VaultError,
  writeKeyFile,
} from "./mod.ts";
import { keySource, withDir } from "./_vault_testing.ts";

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
