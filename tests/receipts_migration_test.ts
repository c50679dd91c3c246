/**
 * A gateway started on a state directory whose receipts an older gateway wrote (schema 3): it
 * says that it is bringing them to the current schema, and how far it got, before it serves;
 * the old receipts read back as they were and their chain still verifies.
 *
 * @module
 */

import { deepStrictEqual, equal } from "node:assert/strict";
import { join } from "node:path";
import { queryReceipts, SCHEMA_VERSION, verifyChain } from "../src/audit/mod.ts";
import { legacyFile } from "../src/audit/_legacy_testing.ts";
import { createState, Gateway, MemoryLogger, RECEIPTS_FILE } from "../src/gateway/mod.ts";
import { gatewayHeader } from "./_gateway.ts";

Deno.test("a gateway on an older receipts file says it migrates them, and keeps them as they were", async () => {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_migration_" });
  try {
    const config = join(dir, "gateway.hcl");
    await Deno.writeTextFile(config, gatewayHeader());
    const stateDir = join(dir, "state");
    await createState(stateDir, false);
    const receipts = join(stateDir, RECEIPTS_FILE);
    legacyFile(receipts, 3, 3);
    const before = queryReceipts(receipts);
    const log = new MemoryLogger();
    const gateway = await Gateway.start(config, { log, version: "test", watch: false });
    await gateway.stop();
    const said = log.messages("info").filter((m) => m.startsWith("receipts:"));
    deepStrictEqual(said, [
      `receipts: bringing 3 receipts from schema 3 to ${SCHEMA_VERSION}, once (~20 s per million); the gateway serves when done`,
      `receipts: 3 of 3 receipts brought to schema ${SCHEMA_VERSION}`,
    ]);
    const after = queryReceipts(receipts);
    deepStrictEqual(after.slice(0, 3), before);
    equal(verifyChain(receipts).ok, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
