import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { ReceiptStore } from "../audit/mod.ts";
import type { Config } from "../config/mod.ts";
import { Vault } from "../credentials/mod.ts";
import { keySource, withDir } from "../credentials/_vault_testing.ts";
import { receiptInput } from "../audit/_testing.ts";
import { MemoryLogger } from "./log.ts";
import { Anchoring } from "./_anchoring.ts";

function config(anchorUrl: string | null): () => Config {
  const receipts = { anchorEveryMs: 60_000, anchorFile: null, anchorUrl };
  return () => ({ gateway: { receipts } }) as unknown as Config;
}

Deno.test("anchors are POSTed when the chain moved, not otherwise; a failing collector is logged", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "receipts.db");
    const store = ReceiptStore.open(path);
    store.record(receiptInput({}));
    await store.flushed();
    const posted: unknown[] = [];
    let status = 200;
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
      posted.push(await req.json());
      return new Response(null, { status });
    });
    const vault = await Vault.create(join(dir, "vault.db"), keySource());
    const log = new MemoryLogger();
    const url = `http://127.0.0.1:${server.addr.port}/anchors?token=s3cret`;
    const anchoring = new Anchoring(path, dir, vault, config(url), log);
    try {
      await anchoring.round();
      equal(posted.length, 1);
      equal((posted[0] as { receipts: { seq: number } }).receipts.seq, 1);
      await anchoring.round();
      equal(posted.length, 1, "nothing moved: no new anchor");
      store.record(receiptInput({}));
      await store.flushed();
      status = 500;
      await anchoring.round();
      equal(posted.length, 2);
      const error = log.messages("error").find((m) => m.startsWith("anchor not posted"));
      ok(error, log.messages("error").join("\n"));
      match(error, /answered 500/);
      ok(!error.includes("s3cret"), "the URL's query stays out of the log");
    } finally {
      await anchoring.stop();
      vault.close();
      await store.close();
      await server.shutdown();
    }
  });
});
