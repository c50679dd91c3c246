/**
 * `clawpatrol log pubkey [--rotate]` and the anchor half of `clawpatrol log verify
 * --checkpoint FILE [--pubkey KEY]…`: the key anchors are signed with, and checking anchors kept
 * outside `state_dir` against the receipts (a rewritten chain, a cut tail).
 *
 * @module
 */

import { checkAnchors, keyId, parseAnchors } from "../audit/mod.ts";
import { openVault } from "../credentials/mod.ts";
import { anchorKey, rotateAnchorKey, trustedAnchorKeys } from "../gateway/mod.ts";
import { UsageError } from "./_args.ts";
import { err, out } from "./_io.ts";
import { vaultUnlock } from "./_vault_unlock.ts";

/** Prints the anchor public key (made on first use); `rotate` retires it for a new one first. */
export async function printAnchorKey(
  stateDir: string,
  options: { rotate: boolean; passphraseStdin: boolean },
): Promise<number> {
  const vault = await openVault(stateDir, vaultUnlock(options));
  try {
    if (options.rotate) {
      const key = await rotateAnchorKey(vault);
      err(`Rotated: new anchors are signed with key ${await keyId(key)}; older keys stay trusted`);
    }
    const key = (await anchorKey(vault)).publicKey;
    out(`ed25519 ${key} key ${await keyId(key)}`);
    return 0;
  } finally {
    vault.close();
  }
}

/**
 * Checks the anchors in `file` against the receipts: 0 when every anchor is trusted, genuine and
 * agrees with the chain, 1 otherwise. Trusted keys: `pinned` when given (no vault needed), else
 * the vault's current and retired keys.
 */
export async function verifyAnchors(
  dbPath: string,
  file: string,
  trust: { pinned: string[]; stateDir: string; passphraseStdin: boolean },
): Promise<number> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new UsageError(`cannot read --checkpoint '${file}': ${(e as Error).message}`);
  }
  const { anchors, problems } = parseAnchors(text, file);
  if (anchors.length === 0 && problems.length === 0) {
    throw new UsageError(`--checkpoint '${file}' holds no anchors`);
  }
  const keys = trust.pinned.length > 0 ? trust.pinned : await vaultKeys(trust);
  const check = await checkAnchors(dbPath, anchors, new Set(keys.map(pinnedKey)));
  for (const p of [...problems, ...check.problems]) out(`ANCHOR ${p}`);
  const failed = problems.length + check.problems.length;
  out(
    `${file}: ${check.matched} anchors agree with the receipts` +
      (check.pruned > 0 ? `, ${check.pruned} name receipts pruned since` : "") +
      (failed > 0 ? `, ${failed} problems` : ""),
  );
  return failed > 0 ? 1 : 0;
}

async function vaultKeys(trust: { stateDir: string; passphraseStdin: boolean }) {
  const vault = await openVault(trust.stateDir, vaultUnlock(trust));
  try {
    return await trustedAnchorKeys(vault);
  } finally {
    vault.close();
  }
}

/** `--pubkey` takes what `log pubkey` prints, or only its key. */
function pinnedKey(text: string): string {
  const parts = text.trim().split(/\s+/);
  const key = parts[0] === "ed25519" ? parts[1] : parts[0];
  if (!key || !/^[A-Za-z0-9_-]{43}$/.test(key)) {
    throw new UsageError(
      `--pubkey '${text}' is not an Ed25519 public key ('log pubkey' prints one)`,
    );
  }
  return key;
}
