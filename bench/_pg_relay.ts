/**
 * The floor for bench/postgres.ts: a bare TCP relay between pgbench and PostgreSQL, in its own
 * process, written with `Deno.Conn` (no parsing, no decisions, no receipts; the relay of
 * `relay_floor.ts`). Whatever it costs, any proxy on this runtime and machine pays too, so the
 * gateway is also reported against it.
 *
 * @module
 */

import type { Target } from "./_pg_setup.ts";

/** A bare relay child process. */
export interface BareRelay {
  target: Target;
  pid: number;
  stop(): Promise<void>;
}

/** Starts the relay to `upstreamPort`; pgbench logs in through it with `direct`'s role. */
export async function startBareRelay(upstreamPort: number, direct: Target): Promise<BareRelay> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./relay_floor.ts", import.meta.url).pathname],
    env: { RELAY_FLOOR_ROLE: "deno", RELAY_FLOOR_UPSTREAM: String(upstreamPort) },
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await child.status;
  };
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const first = await Promise.race([
      reader.read(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("bare relay did not start in 30 s")), 30_000);
      }),
    ]).finally(() => clearTimeout(timer));
    reader.releaseLock();
    const port = Number(first.value?.trim());
    if (!Number.isInteger(port) || port <= 0) {
      throw new Error(`bare relay printed '${first.value}'`);
    }
    return { target: { ...direct, name: "relay", port }, pid: child.pid, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
