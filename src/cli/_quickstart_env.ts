/**
 * `clawpatrol quickstart env`: the demo agent's shell exports, once the quickstart (usually
 * started in the background a moment earlier) is ready. Waits on a condition, never a guess:
 * the ready file exists and the gateway it names answers `/healthz`.
 *
 * @module
 */

import { join } from "node:path";
import { err, out } from "./_io.ts";
import { quickstartFiles } from "./_quickstart_config.ts";
import { commandName } from "../gateway/mod.ts";

/** Written last by a running quickstart: where its gateway's admin API listens. */
export function readyFile(dir: string): string {
  return join(dir, "ready.json");
}

/** Options for {@linkcode waitForQuickstart}. */
export interface WaitOptions {
  /** Give up after this long. @default {120_000} */
  timeoutMs?: number;
  /** Give up sooner when no quickstart has shown up at all by then. @default {20_000} */
  absentMs?: number;
}

/**
 * Resolves with the agent's exports once the quickstart in `dir` is ready.
 *
 * @throws {Error} naming how to start one, when none shows up in time.
 */
export async function waitForQuickstart(dir: string, options: WaitOptions = {}): Promise<string> {
  const { timeoutMs = 120_000, absentMs = 20_000 } = options;
  const files = quickstartFiles(dir);
  const started = Date.now();
  let said = false;
  let seen = false;
  for (;;) {
    const ready = await readReady(dir);
    seen ||= ready !== null || await exists(files.marker);
    if (ready !== null && await answers(ready.adminUrl)) {
      const text = await Deno.readTextFile(files.env).catch(() => null);
      if (text !== null) return text;
    }
    const waited = Date.now() - started;
    if (waited > timeoutMs || (!seen && waited > absentMs)) {
      throw new Error(
        `No quickstart is running in '${dir}': start one with '${commandName()} quickstart &' ` +
          `(it prints its progress), then run this again`,
      );
    }
    if (!said) {
      err("Waiting for the quickstart to be ready (it prints its progress)…");
      said = true;
    }
    // A poll, not a guess at how long start-up takes: the loop ends on the condition.
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function readReady(dir: string): Promise<{ adminUrl: string } | null> {
  try {
    const ready = JSON.parse(await Deno.readTextFile(readyFile(dir)));
    return typeof ready?.adminUrl === "string" ? ready : null;
  } catch {
    return null;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether the gateway behind `adminUrl` is up: a ready file left by a killed run is not. */
async function answers(adminUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${adminUrl}/healthz`, { signal: AbortSignal.timeout(2_000) });
    await response.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

/** Runs `quickstart env`: prints the exports for `eval`. */
export async function quickstartEnv(dir: string, options: WaitOptions = {}): Promise<number> {
  out((await waitForQuickstart(dir, options)).trimEnd());
  return 0;
}
