// The receipt store's writer: group commits, a worker that commits while this thread is blocked,
// and a worker that cannot load or that ends with the store, in child processes.

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { receiptInput, storeTest, withTempDir } from "./_testing.ts";
import { countRows } from "./_store_testing.ts";
import { ReceiptStore } from "./store.ts";
import { verifyChain } from "./verify.ts";

storeTest(
  "group commit: a steady stream of receipts shares one commit per interval; an idle store commits at once",
  async (open) => {
    await withTempDir(async (dir) => {
      const commits: number[] = [];
      const store = open(`${dir}/receipts.db`, {
        commitIntervalMs: 250,
        sendIntervalMs: 20,
        onFlush: ({ rows }) => commits.push(rows),
      });
      await store.ready();
      // Idle: the first receipt is committed without waiting out any interval.
      const began = performance.now();
      store.record(receiptInput());
      while (commits.length === 0) await new Promise((r) => setTimeout(r, 5));
      ok(performance.now() - began < 200, `idle commit took ${performance.now() - began} ms`);
      // A receipt every ~5 ms for ~400 ms: a commit per tick would be ~80 commits.
      const streamStart = performance.now();
      let sent = 0;
      while (performance.now() - streamStart < 400) {
        store.record(receiptInput());
        sent++;
        await new Promise((r) => setTimeout(r, 5));
      }
      await store.flushed();
      const streamCommits = commits.slice(1);
      ok(streamCommits.length <= 4, `${streamCommits.length} commits for ${sent} receipts`);
      equal(streamCommits.reduce((a, b) => a + b, 0), sent);
      equal(countRows(store.path), sent + 1);
      await store.close();
    });
  },
);

Deno.test("the worker commits receipts while this thread is blocked, and the chain verifies", async () => {
  await withTempDir(async (dir) => {
    const store = ReceiptStore.open(`${dir}/receipts.db`);
    await store.ready();
    for (let i = 0; i < 1000; i++) store.record(receiptInput({ bytesOut: i }));
    await new Promise((resolve) => setTimeout(resolve, 0)); // the batch is posted on this tick
    // Never yield: an in-process writer could not commit now, its timer never fires.
    const until = Date.now() + 10_000;
    while (countRows(store.path) < 1000 && Date.now() < until) {
      // spin
    }
    equal(countRows(store.path), 1000);
    deepStrictEqual(verifyChain(store.path), { ok: true, rows: 1000 });
    await store.flushed();
    equal(store.queued, 0);
    await store.close();
  });
});

const REPO = new URL("../..", import.meta.url);

/** Runs `script` in a child Deno with the given flags; fails the test if it runs past 30 s. */
async function runChild(
  dir: string,
  script: string,
  flags: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = `${dir}/child.ts`;
  await Deno.writeTextFile(file, script);
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-lock", ...flags, file, dir],
    cwd: REPO,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

const CHILD_IMPORTS = `
import { ReceiptStore } from "${new URL("./mod.ts", import.meta.url).href}";
import { receiptInput } from "${new URL("./_testing.ts", import.meta.url).href}";
`;

Deno.test("a writer worker that cannot load its module makes ready() reject and record() throw", async () => {
  await withTempDir(async (dir) => {
    // Read and write on the state directory only: the worker's module file is not readable.
    const { code, stdout } = await runChild(
      dir,
      `${CHILD_IMPORTS}
      const errors: string[] = [];
      const store = ReceiptStore.open(Deno.args[0] + "/receipts.db", {
        onError: (e) => errors.push(e.message),
      });
      const ready = await store.ready().then(() => "ready", (e) => e.message);
      let record = "recorded";
      try {
        store.record(receiptInput());
      } catch (e) {
        record = e.name;
      }
      await store.close();
      console.log(JSON.stringify({ ready, record, errors }));
      `,
      [`--allow-read=${dir}`, `--allow-write=${dir}`],
    );
    equal(code, 0);
    const result = JSON.parse(stdout);
    match(result.ready, /Receipt writer .* stopped .*Requires read access to .*_writer_worker\.ts/);
    equal(result.record, "AuditUnavailableError");
    equal(result.errors.length, 1);
  });
});

Deno.test("close() ends the writer worker, so a process that closes its store exits", async () => {
  await withTempDir(async (dir) => {
    const { code, stdout, stderr } = await runChild(
      dir,
      `${CHILD_IMPORTS}
      const store = ReceiptStore.open(Deno.args[0] + "/receipts.db");
      for (let i = 0; i < 10; i++) store.record(receiptInput());
      await store.close();
      console.log("closed");
      `,
      ["-A"],
    );
    equal(code, 0, stderr);
    equal(stdout.trim(), "closed");
    equal(countRows(`${dir}/receipts.db`), 10);
  });
});
