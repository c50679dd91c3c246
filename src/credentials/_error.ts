/**
 * The vault's error class.
 *
 * @module
 */

/** Options for {@linkcode VaultError}. */
export interface VaultErrorOptions {
  /** The credential the failure concerns, when there is one. */
  credential?: string;
}

/**
 * A vault failure the operator can cause and fix: a wrong key or passphrase, a file others can
 * read, a damaged or tampered file. Messages name the file or credential, never a secret value.
 *
 * @example
 * ```ts
 * try {
 *   await vault.get("github_pat");
 * } catch (err) {
 *   if (err instanceof VaultError) console.error(err.message, err.credential);
 * }
 * ```
 */
export class VaultError extends Error {
  /** The credential the failure concerns, when there is one. */
  readonly credential?: string;

  constructor(message: string, options: VaultErrorOptions = {}) {
    super(message);
    this.name = "VaultError";
    if (options.credential !== undefined) this.credential = options.credential;
  }
}
