/**
 * A lock file for read-modify-write of the agents file across processes: created with O_EXCL,
 * removed afterwards, taken over when older than the stale timeout (its holder crashed).
 *
 * @module
 */

/** Options for {@linkcode withFileLock}. */
export interface FileLockOptions {
  /**
   * A lock older than this is assumed left behind by a crashed process and removed.
   * @default {10_000}
   */
  staleMs?: number;
  /**
   * Give up after waiting this long for a live lock.
   * @default {staleMs + 1_000}
   */
  waitMs?: number;
}

const POLL_MS = 10;

/** Blocks the thread for `ms` (the registry API is synchronous). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Runs `fn` while holding `lockPath`, created exclusively; removes it afterwards (only if it is
 * still ours: a holder that outlived the stale timeout may have lost it to another process).
 *
 * @example
 * ```ts
 * withFileLock("state/agents.json.lock", () => Deno.writeTextFileSync("state/x", "y"));
 * ```
 */
export function withFileLock<T>(lockPath: string, fn: () => T, options: FileLockOptions = {}): T {
  const staleMs = options.staleMs ?? 10_000;
  const waitMs = options.waitMs ?? staleMs + 1_000;
  const nonce = `${Deno.pid}:${crypto.randomUUID()}`;
  const deadline = performance.now() + waitMs;
  while (true) {
    try {
      const file = Deno.openSync(lockPath, { write: true, createNew: true, mode: 0o600 });
      try {
        file.writeSync(new TextEncoder().encode(nonce + "\n"));
      } finally {
        file.close();
      }
      break;
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
    }
    removeIfStale(lockPath, staleMs);
    if (performance.now() >= deadline) {
      throw new Error(
        `Cannot lock '${lockPath}': another clawpatrol command holds it; ` +
          `remove the file if none is running`,
      );
    }
    sleepSync(POLL_MS);
  }
  try {
    return fn();
  } finally {
    try {
      if (Deno.readTextFileSync(lockPath).trim() === nonce) Deno.removeSync(lockPath);
    } catch {
      // Already taken over or removed: nothing of ours to clean up.
    }
  }
}

function removeIfStale(lockPath: string, staleMs: number): void {
  try {
    const mtime = Deno.statSync(lockPath).mtime?.getTime();
    // Between the stat and the remove another process may have replaced a stale lock with a fresh
    // one; a stale lock only exists after a crash, so that narrow race is accepted.
    if (mtime !== undefined && Date.now() - mtime > staleMs) Deno.removeSync(lockPath);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}
