/**
 * HCL → JSON with hcl2json: Go compiled to WebAssembly. The gateway no longer runs it (the loader
 * uses `_hcl_parse.ts`); the tests run it as the reference that parser must agree with. Each
 * parser made here starts its own Go runtime and drops it once done.
 *
 * The package's own entry point starts one runtime when imported and keeps it for the life of
 * the process: its compiled code (from 6 MB of WebAssembly), its 18 MB of linear memory and the Go
 * heap. Dropping it took a started gateway's RSS from 155–161 to 133–140 MB, and 1,000 idle
 * tunnels' from 195–201 to 169–173 (bench/README.md). A load is rare (start, a config edit), and
 * starting the runtime again costs it 50–120 ms of CPU.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import type { HclParse } from "./_hcl_parse.ts";
export type { HclParse };

/** What the Go program registers: `parse(file, text, callback)`, as the package calls it. */
interface GoParser {
  parse(file: string, text: string, done: (error: string | null, json: string) => void): void;
}

/** How long the Go program may take to register its parser: a load then fails, never hangs. */
const START_TIMEOUT_MS = 30_000;

/** The global the Go program registers its functions on (the package's name for it). */
export const REGISTRY = "__parse_terraform_config_wasm__";

/** The Go program ready to run: the glue's `Go` and the WebAssembly instance it runs. */
export interface GoProgram {
  go: GoInstance;
  instance: WebAssembly.Instance;
}

/**
 * The parser for one load: its Go runtime starts on first use and goes with it. `program` makes
 * the runtime (the package's, unless a test hands in another).
 */
export function hclInProcess(program: () => Promise<GoProgram> = packageProgram): HclParse {
  let runtime: Promise<GoRuntime> | null = null;
  return async (file, text) => {
    const go = await (runtime ??= startGo(program));
    return JSON.parse(await go.parse(file, text));
  };
}

interface GoRuntime {
  parse(file: string, text: string): Promise<string>;
}

let starting: Promise<unknown> = Promise.resolve();

/**
 * Starts the package's Go program. One at a time: the program finds the object to register on
 * through a global, so two starting together could swap parsers.
 */
function startGo(program: () => Promise<GoProgram>): Promise<GoRuntime> {
  const start = () => startOne(program);
  const runtime = starting.then(start, start);
  // What waits holds nothing of the runtime, which must go once its load is done.
  starting = runtime.then(() => {}, () => {});
  return runtime;
}

/** The runtimes started, weakly: a test checks that finished loads leave none alive. */
const started: WeakRef<WebAssembly.Instance>[] = [];

/** How many runtimes started by this module are still in memory (after a GC, for tests). */
export function runtimesAlive(): number {
  return started.filter((r) => r.deref() !== undefined).length;
}

/** hcl2json's own program: its gzipped WebAssembly, run by its glue. */
async function packageProgram(): Promise<GoProgram> {
  // The glue defines `globalThis.Go`, as the package's entry point would.
  await import("@cdktf/hcl2json/wasm/bridge_wasm_exec.js");
  const gz = await readFile(new URL(import.meta.resolve("@cdktf/hcl2json/main.wasm.gz")));
  const module = await WebAssembly.compile(new Uint8Array(gunzipSync(gz)));
  const go = new (globalThis as unknown as { Go: new () => GoInstance }).Go();
  return { go, instance: await WebAssembly.instantiate(module, go.importObject) };
}

async function startOne(program: () => Promise<GoProgram>): Promise<GoRuntime> {
  const { go, instance } = await program();
  for (let i = started.length - 1; i >= 0; i--) if (!started[i].deref()) started.splice(i, 1);
  started.push(new WeakRef(instance));
  const registry: Partial<GoParser> = {};
  const global = globalThis as Record<string, unknown>;
  global[REGISTRY] = registry;
  // The program registers `parse`, then waits forever; it ends only by failing.
  let exited = false;
  const stopped = () => {
    exited = true;
    throw new Error("the HCL parser stopped");
  };
  const ended = go.run(instance).then(stopped, stopped);
  ended.catch(() => {});
  const deadline = performance.now() + START_TIMEOUT_MS;
  try {
    while (typeof registry.parse !== "function") {
      if (exited || performance.now() > deadline) throw new Error("the HCL parser did not start");
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  } finally {
    if (global[REGISTRY] === registry) delete global[REGISTRY];
  }
  const parser = registry as GoParser;
  return {
    parse: (file, text) =>
      Promise.race([
        ended,
        new Promise<string>((resolve, reject) =>
          parser.parse(
            file,
            text,
            (error, json) => error ? reject(new Error(error)) : resolve(json),
          )
        ),
      ]),
  };
}

/** The glue's `Go` class, as far as it is used here. */
export interface GoInstance {
  importObject: WebAssembly.Imports;
  run(instance: WebAssembly.Instance): Promise<void>;
}
