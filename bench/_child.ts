/**
 * Bench child processes: a script spawned in a serve mode prints one JSON line when ready, then
 * answers commands on stdin until the parent closes it.
 *
 * @module
 */

import { RUNTIME_FLAGS } from "../src/cli/_runtime_flags.ts";
import { join } from "node:path";

/** The repository root: children run from here so relative imports and paths match. */
export const ROOT = join(import.meta.dirname!, "..");

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A running child, with the JSON line it printed when ready. */
export interface Child {
  process: Deno.ChildProcess;
  ready: Record<string, unknown>;
  /** stderr lines seen so far (capped). */
  lines: string[];
  /** Sends a command (see {@linkcode serveCommands}); resolves with the JSON line it prints. */
  ask(command: string): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/** Options for {@linkcode spawnChild}. */
export interface SpawnChildOptions {
  /** Raise the child's open-file limit to at least this (`ulimit -n`). */
  fdLimit: number;
  /**
   * V8 flags for the child, comma-separated (e.g. `--expose-gc`).
   * @default {""}
   */
  v8Flags?: string;
}

/**
 * `CLAWPATROL_BENCH_INSPECT=PORT`: the gateway child listens for a debugger on that loopback port,
 * for a CPU profile of it under the bench's load (bench/README.md, "Profiling the gateway").
 */
function inspect(args: string[]): string[] {
  const port = Deno.env.get("CLAWPATROL_BENCH_INSPECT");
  return args[0] === "gateway" && port ? [`--inspect=127.0.0.1:${port}`] : [];
}

/**
 * The V8 flags the launcher runs every command with (`clawpatrol permissions` prints them),
 * comma-separated: gateways in benches run with them too, so the benches measure the gateway as
 * it ships.
 */
export const SHIPPED_V8_FLAGS: string = RUNTIME_FLAGS.filter((f) => f.startsWith("--v8-flags="))
  .map((f) => f.slice(11)).join(",");

/**
 * The shipped V8 flags for a gateway child. Flags given in `v8Flags` come after, and V8 takes the
 * last of a repeated flag.
 */
function shippedV8Flags(args: string[]): string[] {
  return args[0] === "gateway" && SHIPPED_V8_FLAGS ? [SHIPPED_V8_FLAGS] : [];
}

/** Set in a bench re-run by {@linkcode underShippedFlags}: this process has the flags. */
const SHIPPED_ENV = "CLAWPATROL_BENCH_SHIPPED_FLAGS";

/**
 * For a bench that runs the gateway in its own process (postgres.ts, stages.ts' Postgres part):
 * runs `script` again with this process's arguments under the launcher's V8 flags, which cannot
 * be set once V8 runs, and resolves with that run's exit code; `null` when this process is that
 * run and should go on. Ctrl-C reaches both (one process group): this one waits for the other's
 * cleanup, and passes a SIGTERM on.
 */
export async function underShippedFlags(script: string): Promise<number | null> {
  if (Deno.env.get(SHIPPED_ENV) === "1") return null;
  const flags = SHIPPED_V8_FLAGS ? [`--v8-flags=${SHIPPED_V8_FLAGS}`] : [];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...flags, script, ...Deno.args],
    env: { [SHIPPED_ENV]: "1" },
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const ignore = () => {};
  const terminate = () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
  };
  Deno.addSignalListener("SIGINT", ignore);
  Deno.addSignalListener("SIGTERM", terminate);
  try {
    return (await child.status).code;
  } finally {
    Deno.removeSignalListener("SIGINT", ignore);
    Deno.removeSignalListener("SIGTERM", terminate);
  }
}

/**
 * Runs `deno run -A script ...args`; resolves with the JSON line it prints when ready.
 *
 * @example
 * ```ts
 * const upstream = await spawnChild(SETUP, ["upstream", dir], { fdLimit: 4096 });
 * console.log(upstream.ready.port);
 * await upstream.stop();
 * ```
 */
export async function spawnChild(
  script: string,
  args: string[],
  options: SpawnChildOptions,
): Promise<Child> {
  const deno = Deno.execPath();
  const { fdLimit } = options;
  const v8Flags = [...shippedV8Flags(args), options.v8Flags ?? ""].filter(Boolean).join(",");
  // `ulimit -n` in a shell, then exec: the pid stays the deno process's, for /proc/<pid>/status.
  const shell = `[ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt ${fdLimit} ] && ` +
    `ulimit -n ${fdLimit} 2>/dev/null; exec "$0" run -A "$@"`;
  const process = new Deno.Command("sh", {
    args: [
      "-c",
      shell,
      deno,
      ...(v8Flags ? [`--v8-flags=${v8Flags}`] : []),
      ...inspect(args),
      script,
      ...args,
    ],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const drainErr = drainLines(process.stderr, (line) => {
    if (lines.length < 10_000) lines.push(line);
  });
  let drainOut: Promise<void> = Promise.resolve();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const answers: ((v: Record<string, number>) => void)[] = [];
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let started = false;
    drainOut = drainLines(process.stdout, (line) => {
      if (!line.startsWith("{")) return;
      if (started) return answers.shift()?.(JSON.parse(line));
      started = true;
      resolve(JSON.parse(line));
    });
    process.status.then((s) => {
      if (!started) {
        reject(
          new Error(`Child '${args[0]}' exited with ${s.code}: ${lines.slice(-5).join(" | ")}`),
        );
      }
    });
    timer = setTimeout(() => reject(new Error(`Child '${args[0]}' did not start in 30 s`)), 30_000);
  }).finally(() => clearTimeout(timer));
  const writer = process.stdin.getWriter();
  return {
    process,
    ready,
    lines,
    async ask(command) {
      const answer = new Promise<Record<string, number>>((r) => answers.push(r));
      await writer.write(enc.encode(command + "\n"));
      return answer;
    },
    async stop() {
      await writer.close().catch(() => {});
      const exited = await settlesWithin(process.status, 10_000);
      if (!exited) process.kill("SIGKILL");
      await process.status;
      await Promise.allSettled([drainErr, drainOut]);
    },
  };
}

/**
 * The child's side of {@linkcode Child.ask}: answers commands on stdin until the parent closes
 * it, each with one JSON line. `mem` collects garbage (when the child runs with --expose-gc) and
 * prints the process's memory use; `commands` adds others.
 */
export async function serveCommands(
  commands: Record<string, () => Record<string, number>> = {},
): Promise<void> {
  await drainLines(Deno.stdin.readable, (line) => {
    if (line === "mem") {
      (globalThis as { gc?: () => void }).gc?.();
      console.log(JSON.stringify(Deno.memoryUsage()));
    } else if (Object.hasOwn(commands, line)) {
      console.log(JSON.stringify(commands[line]()));
    }
  });
}

/** Calls `onLine` for every line of `stream` (the last one even without a newline). */
export async function drainLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (l: string) => void,
): Promise<void> {
  let rest = "";
  for await (const chunk of stream) {
    rest += dec.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = rest.indexOf("\n")) >= 0) {
      onLine(rest.slice(0, nl));
      rest = rest.slice(nl + 1);
    }
  }
  if (rest) onLine(rest);
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Whether `promise` settles within `ms`, without a timer left running after. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((r) => timer = setTimeout(() => r(false), ms));
  try {
    return await Promise.race([promise.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}
