// One gateway per state directory: a second `serve` on the same state refuses, naming the first
// one's pid, and a gateway that stopped (or was killed) leaves nothing behind that blocks the next.
import { equal, match } from "node:assert/strict";
import { join } from "node:path";
import { cli, initDir, Running, withTempDir } from "./_helpers.ts";

Deno.test("a second serve on the same state directory says which pid already runs it", async () => {
  await withTempDir(async (dir) => {
    const config = await initDir(dir);
    const first = Running.spawn(["serve", "-c", config]);
    try {
      await first.adminUrl();
      const second = await cli(["serve", "-c", config]);
      equal(second.code, 1, second.stderr);
      match(
        second.stderr,
        new RegExp(`already running on '${join(dir, "state")}' \\(pid ${first.child.pid}\\)`),
      );
      // Killed without a chance to clean up: the lock dies with the process.
      first.kill();
      await first.status();
      const third = Running.spawn(["serve", "-c", config]);
      try {
        await third.adminUrl();
        equal((await third.stop()).code, 0, third.log);
      } finally {
        await third.dispose();
      }
    } finally {
      await first.dispose();
    }
  });
});
