// .ci/run's last line is what CI reads: check it against saved deno test logs.
import assert from "node:assert/strict";
import { join } from "node:path";

const CI_RUN = new URL("../.ci/run", import.meta.url).pathname;
const ESC = "\x1b";

async function summaryOf(log: string, status?: number): Promise<{ code: number; line: string }> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol-ci-" });
  try {
    const file = join(dir, "test.log");
    await Deno.writeTextFile(file, log);
    const args = [
      CI_RUN,
      "--summary-from",
      file,
      ...(status === undefined ? [] : [String(status)]),
    ];
    const out = await new Deno.Command("bash", { args, stdin: "null", stderr: "piped" }).output();
    const lines = new TextDecoder().decode(out.stdout).trimEnd().split("\n");
    return { code: out.code, line: lines[lines.length - 1] };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test(".ci/run reads a passing summary with steps and colours", async () => {
  const log = [
    "running 3 tests from ./src/tls/ca_test.ts",
    `${ESC}[0m${ESC}[32mok${ESC}[0m | 12 passed (3 steps) | 0 failed ${ESC}[0m${ESC}[38;5;245m(2s)${ESC}[0m`,
    "",
  ].join("\n");
  assert.deepEqual(await summaryOf(log), { code: 0, line: "12 passed, 0 failed" });
});

Deno.test(".ci/run reads a failing summary", async () => {
  const log = "x ... FAILED (3ms)\n\nFAILED | 10 passed | 2 failed (1s)\n\nerror: Test failed\n";
  assert.equal((await summaryOf(log, 1)).line, "10 passed, 2 failed");
});

Deno.test(".ci/run reads a summary with ignored and filtered tests", async () => {
  const log = "ok | 7 passed (1 step) | 0 failed | 2 ignored | 3 filtered out (40ms)\n";
  assert.equal((await summaryOf(log)).line, "7 passed, 0 failed");
});

Deno.test(".ci/run reports one failure when the summary is missing", async () => {
  const log =
    "Check main.ts\nerror: TS2322 [ERROR]: Type 'string' is not assignable to type 'number'.\n";
  assert.equal((await summaryOf(log, 1)).line, "0 passed, 1 failed");
  assert.equal((await summaryOf("")).line, "0 passed, 1 failed");
});

Deno.test(".ci/run never reports 0 failed when deno test exited non-zero", async () => {
  const log = "ok | 5 passed | 0 failed (10ms)\n\nerror: Promise resolution is still pending\n";
  assert.equal((await summaryOf(log, 1)).line, "5 passed, 1 failed");
});

Deno.test(".ci/run takes the last summary when a log holds several", async () => {
  const log = "ok | 1 passed | 0 failed (1ms)\nFAILED | 3 passed | 4 failed (1ms)\n";
  assert.equal((await summaryOf(log, 1)).line, "3 passed, 4 failed");
});

Deno.test(".ci/run rejects unknown arguments with exit 2", async () => {
  const out = await new Deno.Command("bash", {
    args: [CI_RUN, "--bogus"],
    stdin: "null",
    stderr: "piped",
  })
    .output();
  assert.equal(out.code, 2);
  assert.match(new TextDecoder().decode(out.stderr), /usage/);
});
