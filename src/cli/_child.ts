/**
 * Waiting for a child that owns the terminal (`run`'s command, a privileged step): TERM and HUP
 * sent to this process are passed on, and Ctrl-C, which the terminal sends to the whole
 * foreground group, is left for the child to decide; this process stays to report how it ended.
 *
 * @module
 */

/** Signals passed on to the child. SIGINT is not: a terminal's Ctrl-C already reaches it. */
const FORWARDED: Deno.Signal[] = ["SIGTERM", "SIGHUP"];

/**
 * Runs `wait` (which waits for `child`) with the signals handled as above.
 *
 * @example
 * ```ts
 * const status = await whileForwarding(child, () => child.status);
 * ```
 */
export async function whileForwarding<T>(
  child: Deno.ChildProcess,
  wait: () => Promise<T>,
): Promise<T> {
  const forward = FORWARDED.map((signal) => {
    const listener = () => {
      try {
        child.kill(signal);
      } catch {
        // Exited meanwhile.
      }
    };
    Deno.addSignalListener(signal, listener);
    return () => Deno.removeSignalListener(signal, listener);
  });
  const ignoreInterrupt = () => {};
  Deno.addSignalListener("SIGINT", ignoreInterrupt);
  try {
    return await wait();
  } finally {
    for (const remove of forward) remove();
    Deno.removeSignalListener("SIGINT", ignoreInterrupt);
  }
}
