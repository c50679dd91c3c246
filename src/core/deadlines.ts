/**
 * Coarse deadlines for the timeouts every request sets and almost always cancels: a kept-alive
 * connection's idle and header deadlines, the upstream's answer deadline, a pooled connection's
 * idle life. Each is seconds long, so they share one runtime timer, kept for the earliest, and
 * fire up to {@linkcode DEADLINE_RESOLUTION_MS} late. A runtime timer per deadline (a node
 * `Timeout` under Deno: an object, an op to start and one to cancel) cost ~13 µs of a ~225 µs
 * HTTPS request in the gateway (bench/stages.ts, A/B); adding and cancelling here is a Set
 * insert and delete. Deadlines shorter than {@linkcode COARSE_FROM_MS} keep their own timer,
 * where 25 ms would be a large share of the wait.
 *
 * @module
 */

/** How late a coarse deadline may fire. */
export const DEADLINE_RESOLUTION_MS = 25;
/** Deadlines at least this long share the wheel; shorter ones get a timer of their own. */
export const COARSE_FROM_MS = 1000;

/** A pending deadline. */
export interface Deadline {
  /** Stops it from firing; harmless after it fired or was cancelled. */
  cancel(): void;
}

/** The clock and timer a {@linkcode DeadlineWheel} runs on (real ones by default; tests pass fakes). */
export interface WheelClock {
  now(): number;
  setTimer(fire: () => void, ms: number): unknown;
  clearTimer(timer: unknown): void;
}

const REAL_CLOCK: WheelClock = {
  now: () => performance.now(),
  setTimer: (fire, ms) => setTimeout(fire, ms),
  clearTimer: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>),
};

interface Entry extends Deadline {
  readonly fire: () => void;
  readonly tick: number;
}

/**
 * Deadlines grouped by the tick they fall due in; one runtime timer armed for the earliest tick
 * that has any, and none when nothing is pending (so a finished test leaves no timer behind).
 *
 * @example
 * ```ts
 * const wheel = new DeadlineWheel();
 * const idle = wheel.after(30_000, () => socket.destroy());
 * idle.cancel(); // the request arrived
 * ```
 */
export class DeadlineWheel {
  readonly #clock: WheelClock;
  /** Pending entries by tick; a tick whose last entry is cancelled is removed. */
  readonly #buckets = new Map<number, Set<Entry>>();
  /** Ticks that have (or had) a bucket, smallest first; stale ones are skipped when reached. */
  readonly #ticks: number[] = [];
  #timer: unknown;
  #armedTick = Infinity;

  constructor(clock: WheelClock = REAL_CLOCK) {
    this.#clock = clock;
  }

  /** Deadlines pending. */
  get size(): number {
    let n = 0;
    for (const bucket of this.#buckets.values()) n += bucket.size;
    return n;
  }

  /** Calls `fire` once, no earlier than `ms` from now and at most a resolution later. */
  after(ms: number, fire: () => void): Deadline {
    const tick = Math.ceil((this.#clock.now() + Math.max(0, ms)) / DEADLINE_RESOLUTION_MS);
    let bucket = this.#buckets.get(tick);
    if (!bucket) {
      bucket = new Set();
      this.#buckets.set(tick, bucket);
      pushTick(this.#ticks, tick);
    }
    const entry: Entry = { fire, tick, cancel: () => this.#remove(entry) };
    bucket.add(entry);
    if (tick < this.#armedTick) this.#arm(tick);
    return entry;
  }

  #remove(entry: Entry): void {
    const bucket = this.#buckets.get(entry.tick);
    if (!bucket?.delete(entry) || bucket.size > 0) return;
    this.#buckets.delete(entry.tick);
    if (this.#buckets.size === 0) this.#disarm();
  }

  #arm(tick: number): void {
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#armedTick = tick;
    const wait = Math.max(0, tick * DEADLINE_RESOLUTION_MS - this.#clock.now());
    this.#timer = this.#clock.setTimer(() => this.#fireDue(), wait);
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
    this.#armedTick = Infinity;
    this.#ticks.length = 0;
  }

  #fireDue(): void {
    this.#timer = undefined;
    this.#armedTick = Infinity;
    const now = this.#clock.now() / DEADLINE_RESOLUTION_MS;
    const due: Entry[] = [];
    while (this.#ticks.length > 0 && this.#ticks[0] <= now) {
      const tick = popTick(this.#ticks);
      const bucket = this.#buckets.get(tick);
      if (!bucket) continue;
      this.#buckets.delete(tick);
      for (const entry of bucket) due.push(entry);
    }
    // Re-armed before the callbacks run: one that throws must not strand the rest.
    while (this.#ticks.length > 0 && !this.#buckets.has(this.#ticks[0])) popTick(this.#ticks);
    if (this.#ticks.length > 0) this.#arm(this.#ticks[0]);
    // Each due deadline fires even when an earlier one throws; the first error is rethrown.
    let failure: { error: unknown } | undefined;
    for (const entry of due) {
      try {
        entry.fire();
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
  }
}

/** Binary min-heap insert. */
function pushTick(heap: number[], tick: number): void {
  let i = heap.push(tick) - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent] <= tick) break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i] = tick;
}

/** Binary min-heap pop of the smallest tick. */
function popTick(heap: number[]): number {
  const top = heap[0];
  const last = heap.pop()!;
  if (heap.length === 0) return top;
  let i = 0;
  for (;;) {
    const left = 2 * i + 1;
    if (left >= heap.length) break;
    const child = left + 1 < heap.length && heap[left + 1] < heap[left] ? left + 1 : left;
    if (heap[child] >= last) break;
    heap[i] = heap[child];
    i = child;
  }
  heap[i] = last;
  return top;
}

const shared = new DeadlineWheel();

/**
 * Calls `fire` after `ms`: on the shared wheel when `ms` ≥ {@linkcode COARSE_FROM_MS} (up to
 * {@linkcode DEADLINE_RESOLUTION_MS} late), on a timer of its own otherwise.
 *
 * @example
 * ```ts
 * const timeout = deadline(30_000, () => client.wakeWithTimeout());
 * // … the head arrived …
 * timeout.cancel();
 * ```
 */
export function deadline(ms: number, fire: () => void): Deadline {
  if (ms >= COARSE_FROM_MS) return shared.after(ms, fire);
  const timer = setTimeout(fire, ms);
  return { cancel: () => clearTimeout(timer) };
}
