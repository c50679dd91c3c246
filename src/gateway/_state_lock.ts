/**
 * One gateway per state directory: an exclusive advisory lock on `STATE/gateway.lock`, held for
 * the gateway's life. Two gateways on one state would both write receipts, rotate the vault and
 * bind the same listeners; the second must stop before it opens anything.
 *
 * @module
 */

import { join } from "node:path";

/** File name of the lock inside the state directory. */
export const LOCK_FILE = "gateway.lock";

/** A held state-directory lock. */
export interface StateLock {
  /** The lock file: `STATE/gateway.lock`. */
  readonly path: string;
  /** Releases the lock (the file stays). Calling it again does nothing. */
  release(): void;
}

/**
 * Takes the state directory's lock without waiting, and writes this process's pid into it.
 *
 * The lock is `flock(LOCK_EX | LOCK_NB)` (Deno's `FsFile.tryLock`), owned by the open file: the
 * kernel drops it when the process dies however it dies (SIGKILL, OOM), so a stale lock file
 * never blocks a restart, and no liveness probe (`kill(pid, 0)`, which needs more than read and
 * write on the state directory) is needed. The pid inside is only for the message.
 *
 * @example
 * ```ts
 * const lock = await acquireStateLock("/var/lib/clawpatrol/state");
 * try {
 *   // serve
 * } finally {
 *   lock.release();
 * }
 * ```
 *
 * @throws {Error} when another process holds the lock, naming its pid.
 */
export async function acquireStateLock(stateDir: string): Promise<StateLock> {
  const path = join(stateDir, LOCK_FILE);
  // Not `truncate`: opening must not wipe the pid of the gateway that holds the lock.
  const file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
  let locked = false;
  try {
    locked = await file.tryLock(true);
    if (!locked) {
      const pid = await holderPid(file);
      throw new Error(
        `Another gateway is already running on '${stateDir}'${
          pid === null ? "" : ` (pid ${pid})`
        }: stop it first`,
      );
    }
    await file.truncate(0);
    const line = new TextEncoder().encode(`${Deno.pid}\n`);
    for (let at = 0; at < line.length;) at += await file.write(line.subarray(at));
    // A lock file left by an older run with a looser mode: it names a pid, nothing more.
    await Deno.chmod(path, 0o600);
  } catch (err) {
    if (locked) file.unlockSync();
    file.close();
    throw err;
  }
  let held = true;
  return {
    path,
    release() {
      if (!held) return;
      held = false;
      try {
        // Emptied while still held: a later reader never sees this pid as the holder's.
        file.truncateSync(0);
        file.unlockSync();
      } finally {
        file.close();
      }
    },
  };
}

/** The pid the holder wrote, or `null` when it has not yet (or the file says something else). */
async function holderPid(file: Deno.FsFile): Promise<number | null> {
  try {
    await file.seek(0, Deno.SeekMode.Start);
    const buffer = new Uint8Array(32);
    const n = await file.read(buffer);
    const text = new TextDecoder().decode(buffer.subarray(0, n ?? 0)).trim();
    return /^[1-9][0-9]{0,9}$/.test(text) ? Number(text) : null;
  } catch {
    return null; // Where locks are mandatory (Windows), the holder's file cannot be read.
  }
}
