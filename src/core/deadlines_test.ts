import { deepStrictEqual as equal, ok } from "node:assert/strict";
import {
  COARSE_FROM_MS,
  deadline,
  DEADLINE_RESOLUTION_MS,
  DeadlineWheel,
  type WheelClock,
} from "./deadlines.ts";

/** A clock whose time moves only when told, with the one timer a wheel may have armed. */
function fakeClock() {
  let now = 1_000;
  let timer: { fire: () => void; at: number; id: number } | undefined;
  let ids = 0;
  let armings = 0;
  const clock: WheelClock = {
    now: () => now,
    setTimer(fire, ms) {
      ok(timer === undefined, "a second runtime timer was armed before the first was cleared");
      armings++;
      timer = { fire, at: now + ms, id: ++ids };
      return timer.id;
    },
    clearTimer(id) {
      if (timer?.id === id) timer = undefined;
    },
  };
  return {
    clock,
    get armed() {
      return timer !== undefined;
    },
    get armings() {
      return armings;
    },
    /** Moves time forward, firing the armed timer whenever it falls due. */
    advance(ms: number) {
      const end = now + ms;
      while (timer && timer.at <= end) {
        now = Math.max(now, timer.at);
        const { fire } = timer;
        timer = undefined;
        fire();
      }
      now = end;
    },
  };
}

Deno.test("a deadline fires once, no earlier than asked and at most one resolution late", () => {
  const t = fakeClock();
  const wheel = new DeadlineWheel(t.clock);
  const fired: number[] = [];
  wheel.after(5_000, () => fired.push(t.clock.now()));
  t.advance(4_999);
  equal(fired, [], "fired early");
  t.advance(DEADLINE_RESOLUTION_MS + 1);
  equal(fired.length, 1);
  ok(fired[0] >= 1_000 + 5_000 && fired[0] <= 1_000 + 5_000 + DEADLINE_RESOLUTION_MS);
  t.advance(60_000);
  equal(fired.length, 1, "fired twice");
  equal(wheel.size, 0);
  ok(!t.armed, "a timer stays armed with nothing pending");
});

Deno.test("a cancelled deadline never fires, and the last cancel disarms the timer", () => {
  const t = fakeClock();
  const wheel = new DeadlineWheel(t.clock);
  let fired = 0;
  const a = wheel.after(2_000, () => fired++);
  const b = wheel.after(3_000, () => fired++);
  a.cancel();
  ok(t.armed);
  b.cancel();
  ok(!t.armed, "the runtime timer outlives every deadline (a test would see it leak)");
  b.cancel(); // harmless twice
  t.advance(10_000);
  equal(fired, 0);
});

Deno.test("deadlines of different lengths fire in order, each in its own turn of the timer", () => {
  const t = fakeClock();
  const wheel = new DeadlineWheel(t.clock);
  const order: string[] = [];
  wheel.after(30_000, () => order.push("idle"));
  wheel.after(10_000, () => order.push("header"));
  wheel.after(10_000, () => order.push("header 2"));
  const cancelled = wheel.after(20_000, () => order.push("cancelled"));
  wheel.after(60_000, () => order.push("pool"));
  cancelled.cancel();
  t.advance(15_000);
  equal(order, ["header", "header 2"]);
  t.advance(100_000);
  equal(order, ["header", "header 2", "idle", "pool"]);
  ok(!t.armed);
});

Deno.test("a shorter deadline added later re-arms the timer earlier", () => {
  const t = fakeClock();
  const wheel = new DeadlineWheel(t.clock);
  const order: string[] = [];
  wheel.after(60_000, () => order.push("long"));
  wheel.after(1_000, () => order.push("short"));
  t.advance(1_100);
  equal(order, ["short"]);
  t.advance(60_000);
  equal(order, ["short", "long"]);
});

Deno.test("a deadline that throws does not strand the others", () => {
  const t = fakeClock();
  const wheel = new DeadlineWheel(t.clock);
  const fired: string[] = [];
  wheel.after(1_000, () => {
    throw new Error("boom");
  });
  wheel.after(1_000, () => fired.push("same tick"));
  wheel.after(5_000, () => fired.push("later"));
  let threw = false;
  try {
    t.advance(1_100);
  } catch {
    threw = true;
  }
  ok(threw);
  equal(fired, ["same tick"]);
  t.advance(5_000);
  equal(fired, ["same tick", "later"]);
});

Deno.test("deadlines added while firing are kept", () => {
  const t = fakeClock();
  const wheel = new DeadlineWheel(t.clock);
  const fired: string[] = [];
  wheel.after(1_000, () => {
    fired.push("first");
    wheel.after(2_000, () => fired.push("second"));
  });
  t.advance(1_100);
  t.advance(2_100);
  equal(fired, ["first", "second"]);
  ok(!t.armed);
});

Deno.test("thousands of deadlines cancelled in any order leave nothing behind", () => {
  const t = fakeClock();
  const wheel = new DeadlineWheel(t.clock);
  const pending = Array.from(
    { length: 5_000 },
    (_, i) =>
      wheel.after(1_000 + (i * 7) % 29_000, () => {
        throw new Error("a cancelled deadline fired");
      }),
  );
  for (let i = pending.length - 1; i >= 0; i -= 2) pending[i].cancel();
  for (let i = 0; i < pending.length; i += 2) pending[i].cancel();
  equal(wheel.size, 0);
  ok(!t.armed);
  t.advance(60_000);
  ok(t.armings < 5_000, `one runtime timer per deadline (${t.armings}): the wheel is not sharing`);
});

Deno.test("deadline(): short waits get a timer of their own, long ones the shared wheel", async () => {
  const short = Promise.withResolvers<number>();
  const began = performance.now();
  deadline(20, () => short.resolve(performance.now() - began));
  ok((await short.promise) >= 19);
  const long = deadline(COARSE_FROM_MS, () => {
    throw new Error("a cancelled deadline fired");
  });
  long.cancel();
  // Deno's op sanitizer fails this test if the shared wheel left a timer armed.
});
