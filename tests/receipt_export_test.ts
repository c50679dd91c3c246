// A gateway with `export { jsonl = … }`: every receipt it decided is in the file once it stops.
import { deepStrictEqual, ok } from "node:assert/strict";
import { join } from "node:path";
import { Gateway, MemoryLogger } from "../src/gateway/mod.ts";
import { completeFacts } from "../src/policy/mod.ts";
import { protocolOf } from "../src/protocols/registry.ts";
import { initDir, withTempDir } from "./_helpers.ts";

Deno.test("a gateway exports each receipt it decided to the JSON-lines file, in order", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "export", "receipts.jsonl");
    await Deno.mkdir(join(dir, "export"));
    const config = await initDir(join(dir, "gw"));
    const text = await Deno.readTextFile(config);
    await Deno.writeTextFile(
      config,
      text.replace(/gateway\s*\{/, `gateway {\n  export {\n    jsonl = "${out}"\n  }`),
    );
    const gateway = await Gateway.start(config, {
      log: new MemoryLogger(),
      version: "t",
      watch: false,
    });
    const ids: string[] = [];
    try {
      for (const method of ["GET", "DELETE", "GET"]) {
        const { receipt, finish } = gateway.guard.decide({
          protocol: "https",
          endpoint: "github",
          agent: { name: "bot", profile: "default" },
          facts: completeFacts(protocolOf("https")!, {
            http: { method, host: "api.github.com", path: "/repos/acme/api" },
          }),
          summary: `${method} /repos/acme/api`,
        });
        ok(receipt);
        ids.push(receipt);
        finish({ upstreamStatus: 200, bytesIn: 0, bytesOut: 0 });
      }
    } finally {
      await gateway.stop();
    }
    const lines = (await Deno.readTextFile(out)).trim().split("\n").map((l) => JSON.parse(l));
    deepStrictEqual(lines.map((l) => l.id), ids);
    deepStrictEqual(lines.map((l) => l.verdict), ["allow", "deny", "allow"]);
  });
});
