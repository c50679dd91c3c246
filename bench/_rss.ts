/**
 * Memory of the bench's proxies: RSS split into private and file-backed pages from
 * `/proc/<pid>/status`, the gateway's V8 heap after a full GC, and what idle tunnels hold.
 *
 * @module
 */

import { type Child, sleep } from "./_child.ts";
import { GET, MAX_ERRORS, type Path, type Wire } from "./_http_load.ts";

/**
 * A process's memory: RSS, split into private (anonymous) pages and file-backed pages (mostly the
 * executable's own code), and the V8 heap in use when the process can report it.
 */
export interface Memory {
  rssMb: number;
  anonMb: number;
  fileMb: number;
  heapMb?: number;
}

/** RSS of a process from /proc/<pid>/status. */
export function memoryOf(pid: number): Memory {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const mb = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN) / 1024;
  return { rssMb: mb("VmRSS"), anonMb: mb("RssAnon"), fileMb: mb("RssFile") };
}

/** The gateway's memory after a full GC (it runs with --expose-gc). */
export async function gatewayMemory(gateway: Child): Promise<Memory> {
  const m = await gateway.ask("mem");
  return { ...memoryOf(gateway.ready.pid as number), heapMb: m.heapUsed / (1024 * 1024) };
}

/** Memory before, while holding and after closing idle tunnels. */
export interface Tunnels {
  tunnels: number;
  baseline: Memory;
  open: Memory;
  closed: Memory;
  kibPerTunnel: number;
  errors: number;
  firstError?: string;
}

/** Opens `count` tunnels with one GET each, holds them idle and reads the proxy's memory. */
export async function idleTunnels(
  path: Path,
  memory: () => Promise<Memory>,
  count: number,
): Promise<Tunnels> {
  const baseline = await memory();
  const open: Wire[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < count && errors < MAX_ERRORS) {
      next++;
      try {
        const wire = await path.open();
        open.push(wire);
        await wire.write(GET);
        const status = await wire.response();
        if (status !== 200) throw new Error(`Status ${status}`);
      } catch (err) {
        errors++;
        firstError ??= String(err);
      }
    }
  }));
  await sleep(500); // Let the proxy settle (timers, buffers) before reading its memory.
  const held = await memory();
  for (const wire of open) wire.close();
  await sleep(500);
  const closed = await memory();
  return {
    tunnels: open.length,
    baseline,
    open: held,
    closed,
    kibPerTunnel: ((held.rssMb - baseline.rssMb) * 1024) / Math.max(1, open.length),
    errors,
    ...(firstError ? { firstError } : {}),
  };
}
