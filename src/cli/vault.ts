/**
 * `clawpatrol vault set NAME [--slot S] | list [--json] | rm NAME [--slot S] | rotate-key`: the
 * credential values the gateway injects, sealed in `state_dir/vault.db`. Values are read from
 * stdin or a prompt that does not echo, never from the command line, and never printed.
 *
 * @module
 */

import { join } from "node:path";
import type { Config } from "../config/mod.ts";
import { pathExists, shredFile, zeroFile } from "../core/mod.ts";
import {
  DEFAULT_SLOT,
  generateMasterKey,
  MASTER_KEY_ENV,
  MASTER_KEY_FILE,
  openVault,
  type OpenVaultOptions,
  parseMasterKey,
  PENDING_KEY_SUFFIX,
  Vault,
  VAULT_FILE,
  type VaultEntry,
  writeKeyFile,
} from "../credentials/mod.ts";
import { checkStateDir, loadAndCompile, stateDirOf } from "../gateway/mod.ts";
import { type GlobalOptions, parseCommand, UsageError } from "./_args.ts";
import { err, out } from "./_io.ts";
import {
  InputCancelled,
  promptNoEcho,
  readSecret,
  StdinReader,
  stripNewline,
} from "./_secret_input.ts";

const SUBCOMMANDS = "set, list, rm or rotate-key";

/** Credential names and slots as the config spells them (HCL labels used in references). */
const NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** Passphrases shorter than this get a warning: a copy of vault.db can be attacked offline. */
const SHORT_PASSPHRASE = 12;

/** Which options each subcommand accepts (the global ones aside). */
const OPTIONS_OF: Record<string, string[]> = {
  set: ["slot", "passphrase-stdin"],
  list: ["json", "passphrase-stdin"],
  rm: ["slot", "passphrase-stdin"],
  "rotate-key": ["passphrase-stdin", "new-key-stdin", "to-passphrase", "to-key"],
};

/** The config, its state directory and how to unlock the vault in it. */
interface Context {
  config: Config;
  stateDir: string;
  vaultPath: string;
  /** Set when `--passphrase-stdin` or `--new-key-stdin`: stdin holds secrets line by line. */
  stdin?: StdinReader;
  passphraseStdin: boolean;
  envKey?: string;
}

/**
 * Runs `clawpatrol vault SUBCOMMAND`.
 *
 * @example
 * ```ts
 * await vaultCommand(["set", "github_pat"]); // reads the value from stdin or a prompt
 * ```
 */
export async function vaultCommand(args: string[]): Promise<number> {
  const { values, positionals, global } = parseCommand(args, {
    slot: { type: "string", short: "s" },
    json: { type: "boolean" },
    "passphrase-stdin": { type: "boolean" },
    "new-key-stdin": { type: "boolean" },
    "to-passphrase": { type: "boolean" },
    "to-key": { type: "boolean" },
  });
  const [sub, ...rest] = positionals;
  if (sub === undefined) throw new UsageError(`vault needs a subcommand: ${SUBCOMMANDS}`);
  const allowed = OPTIONS_OF[sub];
  if (!allowed) throw new UsageError(`unknown vault subcommand '${sub}': use ${SUBCOMMANDS}`);
  for (const option of Object.keys(OPTIONS_OF).flatMap((s) => OPTIONS_OF[s])) {
    if (values[option] !== undefined && !allowed.includes(option)) {
      throw new UsageError(`--${option} is not an option of 'vault ${sub}'`);
    }
  }
  if (sub === "set" || sub === "rm") {
    if (rest.length === 0) throw new UsageError(`vault ${sub} needs a credential NAME`);
    if (rest.length > 1) {
      // The extra words are not repeated: one of them may be the secret itself.
      throw new UsageError(
        sub === "set"
          ? "vault set takes one credential NAME: the value is read from stdin or a prompt, " +
            "never from the command line"
          : "vault rm takes one credential NAME",
      );
    }
    checkName(rest[0], "credential name");
    if (typeof values.slot === "string") checkName(values.slot, "slot");
  } else if (rest.length > 0) {
    throw new UsageError(`vault ${sub} takes no arguments`);
  }
  const ctx = await context(global, values);
  try {
    switch (sub) {
      case "set":
        return await set(ctx, rest[0], (values.slot as string | undefined) ?? DEFAULT_SLOT);
      case "list":
        return await list(ctx, values.json === true);
      case "rm":
        return await remove(ctx, rest[0], values.slot as string | undefined);
      default:
        return await rotateKey(ctx, {
          toPassphrase: values["to-passphrase"] === true,
          toKey: values["to-key"] === true,
          newKeyStdin: values["new-key-stdin"] === true,
        });
    }
  } catch (e) {
    if (e instanceof InputCancelled) {
      err("Cancelled: nothing changed");
      return 130;
    }
    throw e;
  }
}

function checkName(name: string, what: string): void {
  if (name.startsWith("@")) {
    throw new UsageError(
      `'${name}' is the gateway's own entry (its CA key): it is not changed from the command line`,
    );
  }
  if (!NAME_PATTERN.test(name)) {
    throw new UsageError(
      `invalid ${what}: use 1 to 128 letters, digits, '_', '.' or '-', starting with a letter, ` +
        `digit or '_'`,
    );
  }
}

async function context(
  global: GlobalOptions,
  values: Record<string, unknown>,
): Promise<Context> {
  const passphraseStdin = values["passphrase-stdin"] === true;
  const usesStdin = passphraseStdin || values["new-key-stdin"] === true;
  if (usesStdin && Deno.stdin.isTerminal()) {
    throw new UsageError(
      `--${
        passphraseStdin ? "passphrase-stdin" : "new-key-stdin"
      } reads stdin, which is a terminal: pipe the input in, or leave the option out to be asked`,
    );
  }
  const { config } = await loadAndCompile(global.config);
  const stateDir = await stateDirOf(config);
  await checkStateDir(stateDir);
  return {
    config,
    stateDir,
    vaultPath: join(stateDir, VAULT_FILE),
    stdin: usesStdin ? new StdinReader() : undefined,
    passphraseStdin,
    // An empty variable (`export CLAWPATROL_MASTER_KEY=`) means unset.
    envKey: Deno.env.get(MASTER_KEY_ENV) || undefined,
  };
}

/** How to unlock: the env key, else master.key; the passphrase from stdin or a prompt. */
function unlockOptions(ctx: Context): OpenVaultOptions {
  return {
    envKey: ctx.envKey,
    passphrase: () =>
      readSecret("Vault passphrase: ", {
        stdinLines: ctx.passphraseStdin ? ctx.stdin : undefined,
        what: "the vault passphrase",
      }),
  };
}

/** Refuses `--passphrase-stdin` for a key vault: its first line would be taken for nothing. */
async function refuseStrayPassphrase(ctx: Context, kindAfter?: "key" | "passphrase") {
  if (!ctx.passphraseStdin) return;
  if (!(await pathExists(ctx.vaultPath))) {
    throw new UsageError(
      `the vault '${ctx.vaultPath}' does not exist, so no passphrase opens it: run ` +
        `'clawpatrol init', or leave out --passphrase-stdin`,
    );
  }
  if (Vault.unlockKind(ctx.vaultPath) === "key" && kindAfter !== "passphrase") {
    throw new UsageError(
      `the vault '${ctx.vaultPath}' is unlocked by a key (${MASTER_KEY_FILE} or ` +
        `${MASTER_KEY_ENV}), not a passphrase: leave out --passphrase-stdin`,
    );
  }
}

function isConfigured(config: Config, name: string): boolean {
  return [...config.credentials.values()].some((c) => c.name === name);
}

async function set(ctx: Context, name: string, slot: string): Promise<number> {
  await refuseStrayPassphrase(ctx);
  if (!isConfigured(ctx.config, name)) {
    err(
      `Warning: '${name}' is not a credential in ${ctx.config.path}: storing it anyway, but the ` +
        `gateway only injects credentials the config declares`,
    );
  }
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
    return 0;
  } finally {
    vault.close();
  }
}

/** The value: the rest of stdin when it is not a terminal, else a prompt that does not echo. */
async function readValue(ctx: Context, name: string, slot: string): Promise<string> {
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

async function list(ctx: Context, json: boolean): Promise<number> {
  await refuseStrayPassphrase(ctx);
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

async function remove(ctx: Context, name: string, slot: string | undefined): Promise<number> {
  await refuseStrayPassphrase(ctx);
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
    return 0;
  } finally {
    vault.close();
  }
}

interface RotateOptions {
  toPassphrase: boolean;
  toKey: boolean;
  newKeyStdin: boolean;
}

async function rotateKey(ctx: Context, options: RotateOptions): Promise<number> {
  const { toPassphrase, toKey, newKeyStdin } = options;
  if (toPassphrase && toKey) {
    throw new UsageError("--to-passphrase and --to-key exclude each other");
  }
  if (!(await pathExists(ctx.vaultPath))) {
    throw new Error(`Vault file '${ctx.vaultPath}' does not exist: run 'clawpatrol init'`);
  }
  const current = Vault.unlockKind(ctx.vaultPath);
  if (toPassphrase && current === "passphrase") {
    throw new UsageError(
      "the vault is already passphrase-protected: leave out --to-passphrase to change the passphrase",
    );
  }
  if (toKey && current === "key") {
    throw new UsageError("the vault is already unlocked by a key: leave out --to-key to rotate it");
  }
  const target = toPassphrase ? "passphrase" : toKey ? "key" : current;
  if (newKeyStdin && target !== "key") {
    throw new UsageError("--new-key-stdin is for a vault unlocked by a key, not a passphrase");
  }
  if (target === "key" && ctx.envKey !== undefined && !newKeyStdin) {
    throw new UsageError(
      `the vault key comes from ${MASTER_KEY_ENV}: pass the new key on stdin with ` +
        `--new-key-stdin (e.g. 'openssl rand -base64 32'), then update the variable`,
    );
  }
  await refuseStrayPassphrase(ctx, target);
  const keyFile = join(ctx.stateDir, MASTER_KEY_FILE);
  const vault = await openVault(ctx.stateDir, unlockOptions(ctx));
  try {
    if (target === "passphrase") {
      const passphrase = await readSecret("New vault passphrase: ", {
        stdinLines: ctx.passphraseStdin ? ctx.stdin : undefined,
        what: "the new vault passphrase",
        confirm: true,
      });
      if ([...passphrase].length < SHORT_PASSPHRASE) {
        err(
          `Warning: a passphrase shorter than ${SHORT_PASSPHRASE} characters can be guessed ` +
            `offline by anyone with a copy of ${VAULT_FILE}`,
        );
      }
      await vault.rotateKey({ kind: "passphrase", passphrase });
      if (current === "key") {
        const hadKeyFile = await pathExists(keyFile);
        if (hadKeyFile) await shredFile(keyFile);
        out(
          `The vault is now passphrase-protected${
            hadKeyFile ? `; ${keyFile} is deleted` : ""
          }. The gateway asks for the passphrase when it starts (serve --passphrase-stdin ` +
            `reads it from stdin).`,
        );
        if (ctx.envKey !== undefined) {
          err(`Note: ${MASTER_KEY_ENV} no longer opens the vault: unset it`);
        }
      } else {
        out("Changed the vault passphrase: the old one no longer opens the vault.");
      }
      out("Stored credentials are unchanged; a running gateway keeps working.");
      return 0;
    }
    const key = newKeyStdin ? await readNewKey(ctx) : generateMasterKey();
    if (ctx.envKey !== undefined) {
      await vault.rotateKey({ kind: "key", key, origin: "the new key" });
      out(
        `${current === "key" ? "Rotated the vault key" : "The vault is now unlocked by a key"}: ` +
          `set ${MASTER_KEY_ENV} to the new key (the one given on stdin) wherever the gateway ` +
          `runs; the old ${current === "key" ? "key" : "passphrase"} no longer opens the vault.`,
      );
      if (await pathExists(keyFile)) {
        err(`Note: ${keyFile} does not hold the new key: remove it or replace its content`);
      }
    } else {
      // The new key is on disk before the rotation commits, and in place after: an interruption
      // leaves it in master.key.new, which openVault points out.
      const pending = keyFile + PENDING_KEY_SUFFIX;
      await writeKeyFile(pending, key, { overwrite: true });
      await vault.rotateKey({ kind: "key", key, origin: `'${keyFile}'` });
      if (await pathExists(keyFile)) await zeroFile(keyFile);
      await Deno.rename(pending, keyFile);
      out(
        `${
          current === "key" ? "Rotated the vault key" : "The vault is now unlocked by a key"
        }: the new key is in ${keyFile}; the old ${
          current === "key" ? "key" : "passphrase"
        } no longer opens the vault.`,
      );
    }
    out(
      "Stored credentials are unchanged; a running gateway keeps working. Backups of vault.db " +
        "made before now still open with the old key.",
    );
    return 0;
  } finally {
    vault.close();
  }
}

/** The new key for `--new-key-stdin`: the next line of stdin, base64 of 32 bytes. */
async function readNewKey(ctx: Context): Promise<Uint8Array> {
  const line = await (ctx.stdin ?? new StdinReader()).line();
  if (line === null) throw new UsageError("stdin ended before the new key (base64 of 32 bytes)");
  return parseMasterKey(line, "stdin");
}
