/**
 * Watches config files and calls back after edits settle.
 *
 * @module
 */

/**
 * Watches `files` (and the config directory, so new files and editors' rename-on-save are seen)
 * and calls `onChange` once edits have been quiet for `debounceMs`. Returns a stop function.
 */
export function watchConfig(
  files: string[],
  configPath: string,
  debounceMs: number,
  onChange: () => Promise<unknown>,
): () => void {
  let watcher: Deno.FsWatcher;
  try {
    watcher = Deno.watchFs([...new Set([configPath, ...files])], { recursive: false });
  } catch {
    return () => {};
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  (async () => {
    try {
      for await (const event of watcher) {
        if (event.kind === "access" || stopped) continue;
        clearTimeout(timer);
        timer = setTimeout(() => {
          // Reloads run one at a time, in order.
          running = running.then(onChange, onChange);
        }, debounceMs);
      }
    } catch {
      // Watcher closed.
    }
  })();
  return () => {
    stopped = true;
    clearTimeout(timer);
    try {
      watcher.close();
    } catch {
      // Already closed.
    }
  };
}
