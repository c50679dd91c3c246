/**
 * Reading secrets (vault values, passphrases, keys) from stdin or a terminal prompt that does not
 * echo. Secrets are never taken from argv, where `ps` and shell history would show them.
 *
 * @module
 */

import { concatBytes } from "../core/mod.ts";
import { UsageError } from "./_args.ts";

/** The operator pressed Ctrl-C at a prompt: the command stops (exit code 130). */
export class InputCancelled extends Error {
  constructor() {
    super("Cancelled");
    this.name = "InputCancelled";
  }
}

/** Largest secret read from stdin or a prompt, in bytes. */
export const MAX_SECRET_BYTES = 1024 * 1024;

/**
 * Stdin as consecutive lines and then the rest: `--passphrase-stdin` takes the first line, and
 * `vault set` the remainder as the value. Lines are read a byte at a time, so nothing past a line
 * is consumed until asked for.
 *
 * @example
 * ```ts
 * const stdin = new StdinReader();
 * const passphrase = await stdin.line(); // "correct horse"
 * const value = await stdin.rest();      // everything after the first newline
 * ```
 */
export class StdinReader {
  readonly #source: { read(p: Uint8Array): Promise<number | null> };

  constructor(source: { read(p: Uint8Array): Promise<number | null> } = Deno.stdin) {
    this.#source = source;
  }

  /** The next line without its `\n` or `\r\n`; `null` at end of input. */
  async line(): Promise<string | null> {
    const bytes: number[] = [];
    const buf = new Uint8Array(1);
    for (;;) {
      const n = await this.#source.read(buf);
      if (n === null) {
        if (bytes.length === 0) return null;
        break;
      }
      if (n === 0) continue;
      if (buf[0] === 0x0a) break;
      bytes.push(buf[0]);
      if (bytes.length > MAX_SECRET_BYTES) {
        throw new UsageError(`a line on stdin is longer than ${MAX_SECRET_BYTES} bytes`);
      }
    }
    if (bytes.at(-1) === 0x0d) bytes.pop();
    const line = decode(new Uint8Array(bytes));
    bytes.fill(0);
    return line;
  }

  /** Everything left on stdin, as read (no newline is stripped). */
  async rest(): Promise<string> {
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const chunk = new Uint8Array(64 * 1024);
      const n = await this.#source.read(chunk);
      if (n === null) break;
      total += n;
      if (total > MAX_SECRET_BYTES) {
        for (const c of chunks) c.fill(0);
        throw new UsageError(`stdin holds more than ${MAX_SECRET_BYTES} bytes`);
      }
      chunks.push(chunk.subarray(0, n));
    }
    const all = concatBytes(chunks);
    for (const c of chunks) c.fill(0);
    try {
      return decode(all);
    } finally {
      all.fill(0);
    }
  }
}

function decode(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new UsageError("the input is not UTF-8 text");
  }
}

/**
 * Strips one trailing `\n` or `\r\n` (what `echo` and most editors add), nothing else.
 *
 * @example
 * ```ts
 * stripNewline("token\n\n"); // "token\n"
 * ```
 */
export function stripNewline(text: string): string {
  if (text.endsWith("\r\n")) return text.slice(0, -2);
  if (text.endsWith("\n")) return text.slice(0, -1);
  return text;
}

/** Options for {@linkcode readSecret}. */
export interface ReadSecretOptions {
  /**
   * Take the secret as the next line of this reader (`--passphrase-stdin`) instead of prompting.
   */
  stdinLines?: StdinReader;
  /** What is read, for messages ("the vault passphrase"). @default {"the secret"} */
  what?: string;
  /** On a terminal, ask twice and require both to match (new passphrases). @default {false} */
  confirm?: boolean;
  /** How to supply the secret when there is no terminal. @default {"pass --passphrase-stdin"} */
  hint?: string;
}

/**
 * A secret: the next line of `stdinLines` when given, else typed at a terminal prompt on stderr
 * that does not echo. Refuses an empty secret, and a missing terminal with `hint`.
 *
 * @throws {InputCancelled} on Ctrl-C at the prompt.
 *
 * @example
 * ```ts
 * const passphrase = await readSecret("Vault passphrase: ", { what: "the vault passphrase" });
 * ```
 */
export async function readSecret(prompt: string, options: ReadSecretOptions = {}): Promise<string> {
  const what = options.what ?? "the secret";
  let secret: string | null;
  if (options.stdinLines) {
    secret = await options.stdinLines.line();
    if (secret === null) throw new UsageError(`stdin ended before ${what}`);
  } else {
    if (!Deno.stdin.isTerminal()) {
      throw new UsageError(
        `no terminal to ask for ${what} on: ${options.hint ?? "pass --passphrase-stdin"}`,
      );
    }
    secret = await promptNoEcho(prompt);
    if (secret === null) throw new InputCancelled();
    if (options.confirm && secret !== "") {
      const again = await promptNoEcho("Repeat to confirm: ");
      if (again === null) throw new InputCancelled();
      if (again !== secret) throw new UsageError(`the two entries of ${what} differ`);
    }
  }
  if (secret === "") throw new UsageError(`empty ${what}`);
  return secret;
}

/**
 * Reads one line from the terminal in raw mode, echoing nothing: Backspace deletes a character,
 * Ctrl-U the line, Enter ends it. `null` on Ctrl-C. A newline is printed after, on stderr.
 *
 * @example
 * ```ts
 * const value = await promptNoEcho("Value for github_pat: ");
 * ```
 */
export async function promptNoEcho(prompt: string): Promise<string | null> {
  const encoder = new TextEncoder();
  const bytes: number[] = [];
  const buf = new Uint8Array(1);
  // Raw before the prompt shows: nothing typed after it is echoed or turned into a signal.
  Deno.stdin.setRaw(true);
  try {
    Deno.stderr.writeSync(encoder.encode(prompt));
    while (bytes.length < MAX_SECRET_BYTES) {
      const n = await Deno.stdin.read(buf);
      if (n === null) break;
      if (n === 0) continue;
      const b = buf[0];
      if (b === 0x0d || b === 0x0a) break;
      if (b === 0x03) return null; // Ctrl-C: raw mode turns it into a byte, not a signal
      if (b === 0x04) { // Ctrl-D ends an empty line; mid-line it is ignored, as in a shell
        if (bytes.length === 0) break;
        continue;
      }
      if (b === 0x7f || b === 0x08) {
        // One character: a UTF-8 lead byte and its continuation bytes (10xxxxxx).
        while (bytes.length > 0 && (bytes[bytes.length - 1] & 0xc0) === 0x80) bytes.pop();
        bytes.pop();
      } else if (b === 0x15) {
        bytes.fill(0);
        bytes.length = 0;
      } else {
        bytes.push(b);
      }
    }
  } finally {
    Deno.stdin.setRaw(false);
    Deno.stderr.writeSync(encoder.encode("\n"));
  }
  const text = new Uint8Array(bytes);
  bytes.fill(0);
  try {
    return decode(text);
  } finally {
    text.fill(0);
  }
}
