/**
 * Watches config files and calls back after edits settle, and names the changed settings a
 * reload cannot apply.
 *
 * @module
 */

import { basename, dirname, join, resolve } from "node:path";
import type { Config } from "../config/mod.ts";

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
  // Editors (and `sed -i`) save by writing a new file and renaming it over the old one: a watch
  // on the file itself stays on the replaced inode and misses every later edit. So watch the
  // directories, and pick out events for the config's files (or any .hcl in a config directory).
  const paths = [configPath, ...files].map((f) => resolve(f));
  let configDir: string | undefined;
  try {
    if (Deno.statSync(configPath).isDirectory) configDir = resolve(configPath);
  } catch {
    // Gone already: watch its directory anyway.
  }
  const dirs = new Set(paths.map((f) => f === configDir ? f : dirname(f)));
  // Events name files by their real path; the config may be reached through a symlinked dir.
  const real = (path: string) => {
    try {
      return join(Deno.realPathSync(dirname(path)), basename(path));
    } catch {
      return path;
    }
  };
  const wanted = new Set(paths.flatMap((f) => [f, real(f)]));
  const configDirs = new Set(configDir ? [configDir, real(configDir)] : []);
  const relevant = (path: string) => {
    const p = resolve(path);
    return wanted.has(p) ||
      (configDirs.has(dirname(p)) && p.endsWith(".hcl") && !basename(p).startsWith("."));
  };
  let watcher: Deno.FsWatcher;
  try {
    watcher = Deno.watchFs([...dirs], { recursive: false });
  } catch {
    return () => {};
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  (async () => {
    try {
      for await (const event of watcher) {
        if (event.kind === "access" || stopped || !event.paths.some(relevant)) continue;
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

/**
 * Settings changed from `old` to `next` that take effect only after a restart: the state
 * directory and the gateway's own listeners (proxy and admin API). Endpoint listeners (`listen`)
 * are not among them: a reload opens, moves and closes those (`_listener_set.ts`).
 */
export function restartOnlySettings(old: Config, next: Config): string[] {
  const changed: string[] = [];
  if (old.gateway.stateDir !== next.gateway.stateDir) changed.push("gateway.state_dir");
  if (old.gateway.adminListen !== next.gateway.adminListen) changed.push("gateway.admin_listen");
  if (old.gateway.proxyListen !== next.gateway.proxyListen) changed.push("gateway.proxy_listen");
  if (old.gateway.store?.display !== next.gateway.store?.display) changed.push("gateway.store");
  return changed;
}
