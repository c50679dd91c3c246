/**
 * The `clawpatrol vault` subcommands on stored values: `set`, `list` and `rm`. Values are read
 * from stdin or a prompt that does not echo, and never printed.
 *
 * @module
 */

import { DEFAULT_SLOT, openVault, type VaultEntry } from "../credentials/mod.ts";
import { UsageError } from "./_args.ts";
import { err, out } from "./_io.ts";
import { InputCancelled, promptNoEcho, StdinReader, stripNewline } from "./_secret_input.ts";
import {
  isConfigured,
  refuseStrayPassphrase,
  unlockOptions,
  type VaultContext,
} from "./_vault_context.ts";
import { mergeWithStore } from "./_vault_store.ts";

/**
 * `vault set NAME`: stores the value read from stdin or a prompt, creating the vault if needed,
 * and reports the stored value's fingerprint.
 *
 * @example
 * ```ts
 * await vaultSet(ctx, "github_pat", DEFAULT_SLOT);
 * ```
 */
export async function vaultSet(ctx: VaultContext, name: string, slot: string): Promise<number> {
  await refuseStrayPassphrase(ctx);
  if (!isConfigured(ctx.config, name)) {
    err(
      `Warning: '${name}' is not a credential in ${ctx.config.path}: storing it anyway, but the ` +
        `gateway only injects credentials the config declares`,
    );
  }
  await mergeWithStore(ctx);
  const vault = await openVault(ctx.stateDir, { ...unlockOptions(ctx), create: true });
  try {
    const value = await readValue(ctx, name, slot);
    const replaced = vault.list().some((e) => e.name === name && e.slot === slot);
    await vault.set(name, slot, value);
    const entry = vault.list().find((e) => e.name === name && e.slot === slot);
    out(
      `${replaced ? "Replaced" : "Stored"} ${name} (slot ${slot}, fingerprint ${
        entry?.fingerprint ?? "?"
      })`,
    );
  } finally {
    vault.close();
  }
  await mergeWithStore(ctx);
  return 0;
}

/** The value: the rest of stdin when it is not a terminal, else a prompt that does not echo. */
async function readValue(ctx: VaultContext, name: string, slot: string): Promise<string> {
  let value: string;
  if (!Deno.stdin.isTerminal()) {
    value = stripNewline(await (ctx.stdin ?? new StdinReader()).rest());
  } else {
    const typed = await promptNoEcho(
      `Value for ${name}${slot === DEFAULT_SLOT ? "" : ` (slot ${slot})`}: `,
    );
    if (typed === null) throw new InputCancelled();
    value = typed;
  }
  if (value === "") {
    throw new UsageError(
      `empty value for '${name}': nothing stored (pipe the value in, or type it at the prompt)`,
    );
  }
  return value;
}

/**
 * `vault list [--json]`: every stored value's name, slot, update time and fingerprint (never the
 * value), then a note for each configured credential that has none.
 *
 * @example
 * ```ts
 * await vaultList(ctx, false);
 * ```
 */
export async function vaultList(ctx: VaultContext, json: boolean): Promise<number> {
  await refuseStrayPassphrase(ctx);
  await mergeWithStore(ctx);
  const vault = await openVault(ctx.stateDir, unlockOptions(ctx));
  let entries: VaultEntry[];
  try {
    entries = vault.list();
  } finally {
    vault.close();
  }
  const note = (e: VaultEntry) =>
    e.name.startsWith("@")
      ? "gateway's own"
      : isConfigured(ctx.config, e.name)
      ? ""
      : "not in config";
  if (json) {
    out(JSON.stringify(entries.map((e) => ({
      name: e.name,
      slot: e.slot,
      updatedAt: e.updatedAt.toISOString(),
      fingerprint: e.fingerprint,
      configured: isConfigured(ctx.config, e.name),
    }))));
  } else if (entries.length === 0) {
    out("The vault is empty: store a value with 'clawpatrol vault set NAME'");
  } else {
    const rows = [
      ["NAME", "SLOT", "UPDATED", "FINGERPRINT", "NOTE"],
      ...entries.map((e) => [
        e.name,
        e.slot,
        e.updatedAt.toISOString().replace(/\.\d{3}Z$/, "Z"),
        e.fingerprint,
        note(e),
      ]),
    ];
    const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
    for (const row of rows) {
      out(
        row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i])).join("  ")
          .trimEnd(),
      );
    }
  }
  const stored = new Set(entries.map((e) => e.name));
  for (const credential of ctx.config.credentials.values()) {
    if (!stored.has(credential.name)) {
      err(
        `Note: credential '${credential.name}' has no value in the vault: run ` +
          `'clawpatrol vault set ${credential.name}'`,
      );
    }
  }
  return 0;
}

/**
 * `vault rm NAME [--slot S]`: removes one slot's value, or every slot's.
 *
 * @example
 * ```ts
 * await vaultRemove(ctx, "github_pat", undefined);
 * ```
 */
export async function vaultRemove(
  ctx: VaultContext,
  name: string,
  slot: string | undefined,
): Promise<number> {
  await refuseStrayPassphrase(ctx);
  await mergeWithStore(ctx);
  const vault = await openVault(ctx.stateDir, unlockOptions(ctx));
  try {
    const removed = vault.remove(name, slot);
    if (removed === 0) {
      throw new Error(
        `Nothing stored for '${name}'${slot === undefined ? "" : ` in slot '${slot}'`}: see ` +
          `'clawpatrol vault list'`,
      );
    }
    out(
      slot === undefined
        ? `Removed ${name} (${removed} slot${removed === 1 ? "" : "s"})`
        : `Removed ${name} (slot ${slot})`,
    );
  } finally {
    vault.close();
  }
  await mergeWithStore(ctx);
  return 0;
}
