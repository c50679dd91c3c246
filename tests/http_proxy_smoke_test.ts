import { equal, match } from "node:assert/strict";
import { withProxy } from "./_proxy_fixture.ts";

Deno.test("fixture smoke: curl through the proxy gets an allowed GET and a denied DELETE, each with a receipt", async () => {
  await withProxy({}, async (fx) => {
    const out = await new Deno.Command("curl", {
      args: [
        "-sS",
        "--proxy",
        fx.proxyUrl,
        "--cacert",
        fx.caFile,
        "https://api.test/a?x=1",
        "-X",
        "GET",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    equal(out.code, 0, new TextDecoder().decode(out.stderr));
    match(new TextDecoder().decode(out.stdout), /"path":"\/a"/);
    const rows = await fx.receipts();
    equal(rows.length, 1);
    equal(rows[0].upstreamStatus, 200);
  });
});
