/**
 * The receipt store as `durability_bench.ts` drives it: opened with the gateway's settings, its
 * commits counted (onFlush) and its two threads' CPU read from /proc.
 *
 * @module
 */

import { ReceiptStore } from "../src/audit/mod.ts";

/** The gateway's default `receipt_commit_interval` (src/config/validate.ts). */
export const COMMIT_INTERVAL_MS = 50;
/** The gateway's default `receipt_queue`. */
const MAX_QUEUE = 10_000;

/** CPU ns a thread has used, and ns it waited for a CPU while runnable (other load on the box). */
export interface ThreadTimes {
  cpu: number;
  runQueue: number;
}

/**
 * A thread's times from /proc schedstat (ns), else its stat ticks (10 ms; no run-queue time),
 * else NaN (not Linux).
 */
function threadTimes(tid: number | undefined): ThreadTimes {
  const none = { cpu: NaN, runQueue: NaN };
  if (tid === undefined) return none;
  try {
    const [cpu, runQueue] = Deno.readTextFileSync(`/proc/self/task/${tid}/schedstat`).split(" ");
    return { cpu: Number(cpu), runQueue: Number(runQueue) };
  } catch {
    try {
      const stat = Deno.readTextFileSync(`/proc/self/task/${tid}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return { cpu: (Number(fields[11]) + Number(fields[12])) * 1e7, runQueue: NaN };
    } catch {
      return none;
    }
  }
}

function threadIds(): Map<number, string> {
  const tids = new Map<number, string>();
  try {
    for (const e of Deno.readDirSync("/proc/self/task")) {
      const comm = Deno.readTextFileSync(`/proc/self/task/${e.name}/comm`).trim();
      tids.set(Number(e.name), comm);
    }
  } catch {
    // Not Linux: the CPU columns read "–".
  }
  return tids;
}

/** A store opened with the gateway's settings, whose commits and threads are watched. */
export class Measured {
  readonly store: ReceiptStore;
  /** Rows and writer time of every commit while `counting`. */
  readonly commitRows: number[] = [];
  readonly commitMs: number[] = [];
  counting = false;
  /** Called on every commit, counted or not (the paced load's age tracking). */
  onCommit: (rows: number) => void = () => {};
  readonly #writerTid: number | undefined;

  private constructor(store: ReceiptStore, writerTid: number | undefined) {
    this.store = store;
    this.#writerTid = writerTid;
  }

  static async open(path: string): Promise<Measured> {
    const before = threadIds();
    let measured: Measured | undefined = undefined;
    const store = ReceiptStore.open(path, {
      commitIntervalMs: COMMIT_INTERVAL_MS,
      maxQueue: MAX_QUEUE,
      onFlush: ({ rows, durationMs }) => {
        measured!.onCommit(rows);
        if (!measured!.counting) return;
        measured!.commitRows.push(rows);
        measured!.commitMs.push(durationMs);
      },
      onError: (error) => console.error(`receipt store: ${error.message}`),
    });
    await store.ready();
    // Deno names a Web Worker's thread "worker-N"; the one that appeared is this store's writer.
    const tid = [...threadIds()].find(([t, comm]) => !before.has(t) && comm.startsWith("worker-"));
    measured = new Measured(store, tid?.[0]);
    return measured;
  }

  /** Times so far of the event loop's thread (its id is the process id) and the writer's. */
  times(): { main: ThreadTimes; writer: ThreadTimes } {
    return { main: threadTimes(Deno.pid), writer: threadTimes(this.#writerTid) };
  }
}
