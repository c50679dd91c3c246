/**
 * The privileged steps beside the app (`isolate.sh`, `tunnel.sh`): run directly when this process
 * is root, else through sudo (without a password when it allows; on a terminal it may ask),
 * never anything else as root. Each script is short, checks every
 * argument, and is meant to be read before it is granted.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { err } from "./_io.ts";
import { whileForwarding } from "./_child.ts";

/** A privileged script shipped with the app (`install.sh` copies them beside it). */
export type PrivilegedScript = "isolate.sh" | "tunnel.sh";

/** Where `script` is. */
export function scriptPath(script: PrivilegedScript): string {
  return fileURLToPath(new URL(`../../${script}`, import.meta.url));
}

/** Where sudo may be: the grant names the one there is (none: a root-only machine). */
export const SUDO_PATHS = ["/usr/bin/sudo", "/bin/sudo"];

/** A privileged step that cannot run here, said as what to do (exit code 2, no stack). */
export class PrivilegeError extends Error {}

/** How a step ran: its exit code and, when captured, what it printed. */
export interface StepResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options for {@linkcode runPrivileged}. */
export interface RunPrivilegedOptions {
  /** Bytes for the step's stdin (secrets travel here, never in argv); absent: this terminal's. */
  input?: string;
  /** Capture stdout and stderr instead of passing this terminal's on. */
  capture?: boolean;
}

/**
 * Runs `script ARGS…` as root. Throws {@linkcode PrivilegeError} naming the sudoers line when
 * this process is not root and sudo cannot run it without a password.
 *
 * @example
 * ```ts
 * const { code } = await runPrivileged("tunnel.sh", ["down", "--interface", "cpwg-office"], {});
 * ```
 */
export async function runPrivileged(
  script: PrivilegedScript,
  args: string[],
  options: RunPrivilegedOptions = {},
): Promise<StepResult> {
  const path = scriptPath(script);
  if (Deno.uid() === 0) return await spawn("sh", [path, ...args], options);
  const sudo = await new Deno.Command("sudo", { args: ["-n", "true"], stderr: "null" })
    .output().catch(() => null);
  if (sudo !== null && !sudo.success && Deno.stdin.isTerminal()) {
    // sudo is there but wants a password: it asks on this terminal, for this one step.
    err(`${script} needs root: sudo may ask for your password`);
    return await spawn("sudo", [path, ...args], options);
  }
  if (!sudo?.success) {
    throw new PrivilegeError(
      `this step needs root: run it as root, or let sudo run ${script} without a password ` +
        `(sudoers: ${Deno.env.get("USER") ?? "USER"} ALL=(root) NOPASSWD: ${path}; the file ` +
        "must be root's and not writable by you)",
    );
  }
  return await spawn("sudo", ["-n", path, ...args], options);
}

/** Runs the step, passing TERM and HUP on; this terminal's Ctrl-C is the step's to handle. */
async function spawn(
  program: string,
  args: string[],
  options: RunPrivilegedOptions,
): Promise<StepResult> {
  const output = options.capture ? "piped" : "inherit";
  const child = new Deno.Command(program, {
    args,
    stdin: options.input === undefined ? "inherit" : "piped",
    stdout: output,
    stderr: output,
  }).spawn();
  if (options.input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.input)).catch(() => {});
    await writer.close().catch(() => {});
  }
  return await whileForwarding(child, async () => {
    if (!options.capture) return { code: (await child.status).code, stdout: "", stderr: "" };
    const out = await child.output();
    const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
  });
}
