import { equal, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import { pathExists } from "../core/mod.ts";
import { openVault } from "../credentials/mod.ts";
import { CA_CERT_FILE, CA_KEY_FILE, createGatewayCa } from "../tls/mod.ts";
import { CA_KEY_ENTRY, createState, MASTER_KEY_FILE, openGatewayCa, VAULT_FILE } from "./state.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_state_" });
  try {
    await fn(join(dir, "state"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("createState() seals the CA key in the vault: no ca.key file is left", async () => {
  await withDir(async (state) => {
    const created = await createState(state);
    ok(created.includes(join(state, VAULT_FILE)));
    ok(created.includes(join(state, MASTER_KEY_FILE)));
    equal(await pathExists(join(state, CA_KEY_FILE)), false, "ca.key still on disk");
    const vault = await openVault(state);
    try {
      const pem = await vault.get(CA_KEY_ENTRY.name, CA_KEY_ENTRY.slot);
      ok(pem?.includes("BEGIN PRIVATE KEY"));
      // The vault's key signs for the certificate in ca.pem.
      const ca = await openGatewayCa(state, vault);
      equal(ca.certPem, await Deno.readTextFile(join(state, CA_CERT_FILE)));
    } finally {
      vault.close();
    }
    // A second run keeps the CA: agents keep trusting it.
    const before = await Deno.readTextFile(join(state, CA_CERT_FILE));
    equal((await createState(state)).length, 0);
    equal(await Deno.readTextFile(join(state, CA_CERT_FILE)), before);
  });
});

Deno.test("openGatewayCa() migrates a pre-vault ca.key into the vault and removes the file", async () => {
  await withDir(async (state) => {
    const old = await createGatewayCa(state);
    const vault = await openVault(state, { create: true });
    try {
      const ca = await openGatewayCa(state, vault);
      equal(ca.fingerprint, old.fingerprint);
      equal(await pathExists(join(state, CA_KEY_FILE)), false);
      ok(await vault.get(CA_KEY_ENTRY.name, CA_KEY_ENTRY.slot));
      // Loading again uses the vault alone.
      equal((await openGatewayCa(state, vault)).fingerprint, old.fingerprint);
    } finally {
      vault.close();
    }
  });
});

Deno.test("openGatewayCa() refuses a ca.key that does not belong to ca.pem, and keeps the file", async () => {
  await withDir(async (state) => {
    await createGatewayCa(state);
    const other = join(state, "..", "other");
    await createGatewayCa(other);
    await Deno.copyFile(join(other, CA_KEY_FILE), join(state, CA_KEY_FILE));
    const vault = await openVault(state, { create: true });
    try {
      await rejects(openGatewayCa(state, vault), /is not the key of/);
      ok(await pathExists(join(state, CA_KEY_FILE)), "a rejected key file was removed");
      equal(await vault.get(CA_KEY_ENTRY.name, CA_KEY_ENTRY.slot), null);
    } finally {
      vault.close();
    }
  });
});

Deno.test("openGatewayCa() names the fix when the key is in neither place", async () => {
  await withDir(async (state) => {
    await createGatewayCa(state);
    await Deno.remove(join(state, CA_KEY_FILE));
    const vault = await openVault(state, { create: true });
    try {
      await rejects(openGatewayCa(state, vault), /clawpatrol init --force/);
    } finally {
      vault.close();
    }
  });
});
