/**
 * Helpers for the end-to-end tests: run the CLI as a real subprocess, temp directories, an
 * init'ed gateway directory, and a long-running `serve` whose log can be waited on.
 *
 * @module
 */

import { join } from "node:path";
import { initialise } from "../src/cli/init.ts";

/** The repository root and the CLI entry point, as file paths. */
export const REPO = new URL("..", import.meta.url).pathname;
export const MAIN = join(REPO, "main.ts");

/** What one CLI run produced. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options for {@linkcode cli}. */
export interface CliOptions {
  cwd?: string;
  /**
   * Extra environment; `NO_COLOR=1` is always set, `CLAWPATROL_CONFIG`, `CLAWPATROL_AGENT_TOKEN` and
   * `CLAWPATROL_MASTER_KEY` only when given here.
   */
  env?: Record<string, string>;
  /** Kill the process after this long. @default {30_000} */
  timeoutMs?: number;
  /** Written to the child's stdin, which is then closed (default: no stdin). */
  input?: string;
  /**
   * An installed `clawpatrol` (the launcher) to run instead of `deno run -A main.ts`: the
   * command then runs under the permissions the launcher computes.
   */
  bin?: string;
}

/** The child's environment: ours without clawpatrol's settings, plus NO_COLOR and `extra`. */
function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env = Deno.env.toObject();
  // Settings in the developer's shell must not leak into a test: the config it means is the
  // default, and tokens or keys are passed explicitly where a test wants them.
  delete env.CLAWPATROL_CONFIG;
  delete env.CLAWPATROL_AGENT_TOKEN;
  delete env.CLAWPATROL_MASTER_KEY;
  return { ...env, NO_COLOR: "1", ...extra };
}

function cliCommand(args: string[], options: CliOptions): Deno.Command {
  const [program, prefix] = options.bin === undefined
    ? [Deno.execPath(), ["run", "-A", "--quiet", MAIN]]
    : [options.bin, []];
  return new Deno.Command(program, {
    args: [...prefix, ...args],
    cwd: options.cwd,
    env: childEnv(options.env),
    clearEnv: true,
    stdin: options.input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  });
}

/** Spawns the CLI and feeds `options.input` to its stdin. */
function spawnCli(args: string[], options: CliOptions): Deno.ChildProcess {
  const child = cliCommand(args, options).spawn();
  if (options.input !== undefined) {
    const writer = child.stdin.getWriter();
    writer.write(new TextEncoder().encode(options.input))
      .then(() => writer.close())
      .catch(() => {}); // The child may exit without reading: not the test's concern here.
  }
  return child;
}

/**
 * Runs `clawpatrol ARGS…` to completion as a subprocess.
 *
 * @example
 * ```ts
 * const { code, stdout } = await cli(["version"]);
 * ```
 */
export async function cli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const child = spawnCli(args, options);
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }, options.timeoutMs ?? 30_000);
  try {
    const out = await child.output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `fn` with a fresh temporary directory, removed afterwards whatever happens. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T> | T): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_e2e_" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Writes the starter config into `dir` (as `clawpatrol init` does, in-process for speed) with the
 * admin API on a random port, so tests never collide. Returns the config path.
 */
export async function initDir(dir: string): Promise<string> {
  const configPath = await initialise(dir);
  await useRandomAdminPort(configPath);
  return configPath;
}

/** Rewrites `admin_listen` and `proxy_listen` to `127.0.0.1:0`, so parallel tests never collide. */
export async function useRandomAdminPort(configPath: string): Promise<void> {
  const text = await Deno.readTextFile(configPath);
  let next = text.replace(/admin_listen\s*=\s*"[^"]*"/, 'admin_listen = "127.0.0.1:0"');
  if (next === text) throw new Error(`No admin_listen in '${configPath}'`);
  next = next.replace(/proxy_listen\s*=\s*"[^"]*"/, 'proxy_listen = "127.0.0.1:0"');
  await Deno.writeTextFile(configPath, next);
}

/** Resolves with `value`, or rejects after `ms` naming what was awaited. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `check` every `intervalMs` until it returns a value other than undefined, or times out. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
}

/**
 * A long-running CLI subprocess (`serve`, `start`, `log --follow`) whose output is collected line
 * by line.
 * Always `await stop()` (or `kill()`), even after a failed assertion.
 */
export class Running {
  readonly child: Deno.ChildProcess;
  /** stderr (the operator log), line by line. */
  readonly lines: string[] = [];
  /** stdout, line by line. */
  readonly out: string[] = [];
  readonly #pumped: Promise<void>;
  readonly #status: Promise<Deno.CommandStatus>;
  #listeners: (() => void)[] = [];
  #exited = false;

  private constructor(child: Deno.ChildProcess) {
    this.child = child;
    // Both pipes are drained continuously, so the child never blocks on a full one.
    this.#pumped = Promise.all([
      this.#pump(child.stderr, this.lines),
      this.#pump(child.stdout, this.out),
    ]).then(() => {});
    this.#status = child.status.then((s) => {
      this.#exited = true;
      this.#notify();
      return s;
    });
  }

  /** Spawns `clawpatrol ARGS…`. */
  static spawn(args: string[], options: CliOptions = {}): Running {
    return new Running(spawnCli(args, options));
  }

  /** The whole log so far. */
  get log(): string {
    return this.lines.join("\n");
  }

  /**
   * Waits for a line matching `pattern` (from line `from` on) in the log, or in stdout with
   * `stream: "stdout"`; fails if the process exits first or time runs out.
   */
  async waitFor(
    pattern: RegExp,
    timeoutMs = 15_000,
    from = 0,
    stream: "stderr" | "stdout" = "stderr",
  ): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    const lines = stream === "stderr" ? this.lines : this.out;
    const find = () => lines.slice(from).map((l) => l.match(pattern)).find((m) => m);
    while (true) {
      const m = find();
      if (m) return m;
      if (this.#exited) {
        await this.#pumped;
        const last = find();
        if (last) return last;
        throw new Error(`Process exited before printing ${pattern}; log:\n${this.log}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Timed out waiting for ${pattern}; log:\n${this.log}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(left, 1000));
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.#listeners.push(done);
      });
    }
  }

  /** Waits for the "serving" line and returns the admin API base URL. */
  async adminUrl(timeoutMs = 15_000): Promise<string> {
    const m = await this.waitFor(/serving: .* admin on (http:\/\/[\d.]+:\d+)/, timeoutMs);
    return m[1];
  }

  /** Sends `signal` and waits (bounded) for the exit status. */
  async stop(signal: Deno.Signal = "SIGTERM", timeoutMs = 10_000): Promise<Deno.CommandStatus> {
    if (!this.#exited) {
      try {
        this.child.kill(signal);
      } catch {
        // Exited in between.
      }
    }
    try {
      return await this.status(timeoutMs);
    } catch (err) {
      this.kill();
      await this.#status;
      throw err;
    }
  }

  /** Waits (bounded) for the process to exit on its own; collects the rest of its log. */
  async status(timeoutMs = 10_000): Promise<Deno.CommandStatus> {
    const status = await withTimeout(this.#status, timeoutMs, "the process to exit");
    await withTimeout(this.#pumped, timeoutMs, "the log to close");
    return status;
  }

  /** Kills the process outright (cleanup after a failure); never throws. */
  kill(): void {
    if (this.#exited) return;
    try {
      this.child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }

  /** Kills if still running and waits for everything to close: for `finally` blocks. */
  async dispose(): Promise<void> {
    this.kill();
    await this.#status;
    await this.#pumped;
  }

  async #pump(stream: ReadableStream<Uint8Array>, into: string[]): Promise<void> {
    let pending = "";
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      pending += decoder.decode(chunk, { stream: true });
      const parts = pending.split("\n");
      pending = parts.pop()!;
      into.push(...parts);
      this.#notify();
    }
    if (pending) into.push(pending);
    this.#notify();
  }

  #notify(): void {
    const listeners = this.#listeners;
    this.#listeners = [];
    for (const l of listeners) l();
  }
}

/** A loopback port nothing listens on (bound, then released): an upstream that is down. */
export function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}
