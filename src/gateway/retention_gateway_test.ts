import { equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { queryReceipts, ReceiptStore, verifyChain } from "../audit/mod.ts";
import { Gateway } from "./gateway.ts";
import { MemoryLogger } from "./log.ts";
import { createState, RECEIPTS_FILE } from "./state.ts";

const DAY = 86_400_000;

const config = (keep: string) =>
  `schema_version = 1
gateway {
  state_dir    = "./state"
  admin_listen = "127.0.0.1:0"
  receipts {
    keep = "${keep}"
  }
}
endpoint "https" "github" {
  hosts = ["api.github.com"]
}
`;

function receipt(time: Date) {
  return {
    time,
    ...{ agent: "bot", profile: "bots", endpoint: "github", protocol: "https" },
    ...{ summary: "GET api.github.com/x", facts: {}, rule: null, mode: "enforce" as const },
    ...{ verdict: "deny" as const, wouldBe: "deny" as const, reason: "no rule matched" },
    ...{ approvals: [], upstreamStatus: null, bytesIn: 0, bytesOut: 0, latencyMs: 1 },
  };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 20));
  ok(condition(), `timed out waiting for ${what}`);
}

Deno.test("a gateway with receipts.keep prunes older receipts at start; the rest still verify", async () => {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_keep_" });
  try {
    const path = join(dir, "gateway.hcl");
    await Deno.writeTextFile(path, config("7d"));
    await createState(join(dir, "state"));
    const receipts = join(dir, "state", RECEIPTS_FILE);
    const store = ReceiptStore.open(receipts);
    for (let i = 0; i < 20; i++) store.record(receipt(new Date(Date.now() - 9 * DAY)));
    for (let i = 0; i < 5; i++) store.record(receipt(new Date(Date.now() - 6 * DAY)));
    await store.close();
    const log = new MemoryLogger();
    const gateway = await Gateway.start(path, { log, version: "test", watch: false });
    try {
      await until(
        () => log.messages("info").some((m) => m.startsWith("pruned 20 receipts")),
        "prune",
      );
      equal(queryReceipts(receipts).length, 5);
    } finally {
      await gateway.stop();
    }
    equal(verifyChain(receipts).ok, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("receipts.keep shorter than an hour is refused with its line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_keep_" });
  try {
    const path = join(dir, "gateway.hcl");
    await Deno.writeTextFile(path, config("30m"));
    await createState(join(dir, "state"));
    const log = new MemoryLogger();
    let message = "";
    try {
      await (await Gateway.start(path, { log, version: "test", watch: false })).stop();
    } catch (err) {
      message = String(err);
    }
    ok(/gateway\.hcl:6.*keep.*at least 1h/s.test(message), message);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
