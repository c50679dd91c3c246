/**
 * `clawpatrol vault set NAME [--slot S] | list [--json] | rm NAME [--slot S] | rotate-key`: the
 * credential values the gateway injects, sealed in `state_dir/vault.db`. Values are read from
 * stdin or a prompt that does not echo, never from the command line, and never printed.
 *
 * @module
 */

import { DEFAULT_SLOT } from "../credentials/mod.ts";
import { parseCommand, UsageError } from "./_args.ts";
import { err } from "./_io.ts";
import { InputCancelled } from "./_secret_input.ts";
import { vaultContext } from "./_vault_context.ts";
import { vaultRotateKey } from "./_vault_rotate.ts";
import { vaultList, vaultRemove, vaultSet } from "./_vault_values.ts";

const SUBCOMMANDS = "set, list, rm or rotate-key";

/** Credential names and slots as the config spells them (HCL labels used in references). */
const NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** Which options each subcommand accepts (the global ones aside). */
const OPTIONS_OF: Record<string, string[]> = {
  set: ["slot", "passphrase-stdin"],
  list: ["json", "passphrase-stdin"],
  rm: ["slot", "passphrase-stdin"],
  "rotate-key": ["passphrase-stdin", "new-key-stdin", "to-passphrase", "to-key"],
};

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
  const ctx = await vaultContext(global, values);
  try {
    switch (sub) {
      case "set":
        return await vaultSet(ctx, rest[0], (values.slot as string | undefined) ?? DEFAULT_SLOT);
      case "list":
        return await vaultList(ctx, values.json === true);
      case "rm":
        return await vaultRemove(ctx, rest[0], values.slot as string | undefined);
      default:
        return await vaultRotateKey(ctx, {
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
