import { equal } from "node:assert/strict";
import { sendInterval } from "./_options.ts";

Deno.test("sendInterval() hands rows over every fifth of the commit interval unless told otherwise", () => {
  // The gateway's default receipt_commit_interval (50 ms): a message every 10 ms, not every 2.
  equal(sendInterval({ commitIntervalMs: 50 }), 10);
  equal(sendInterval({}), 2); // the store's own default commit interval, 10 ms
  equal(sendInterval({ commitIntervalMs: 4 }), 0); // below 5 ms: at the next turn of the loop
  equal(sendInterval({ commitIntervalMs: 50, sendIntervalMs: 3 }), 3);
});
