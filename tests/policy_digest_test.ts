// Every receipt names the policy that decided it: the digest `clawpatrol check` prints for the
// config in force, a new one after a reload changes the rules.
import { equal, match, notEqual } from "node:assert/strict";
import { join } from "node:path";
import { cli } from "./_helpers.ts";
import { withProxy } from "./_proxy_fixture.ts";

async function get(proxyUrl: string, caFile: string, path: string): Promise<void> {
  const out = await new Deno.Command("curl", {
    args: [
      "-sS",
      "-o",
      "/dev/null",
      "--proxy",
      proxyUrl,
      "--cacert",
      caFile,
      `https://api.test${path}`,
    ],
  }).output();
  equal(out.code, 0, new TextDecoder().decode(out.stderr));
}

async function checkedDigest(config: string): Promise<string> {
  const checked = await cli(["check", "-c", config]);
  equal(checked.code, 0, checked.stderr);
  return checked.stdout.match(/; policy ([0-9a-f]{16})$/m)![1];
}

Deno.test("receipts carry the digest check prints, and a reload's new one after it", async () => {
  await withProxy({}, async (fx) => {
    const config = join(fx.dir, "gateway.hcl");
    const before = await checkedDigest(config);
    await get(fx.proxyUrl, fx.caFile, "/before");
    const text = await Deno.readTextFile(config);
    await Deno.writeTextFile(config, `${text}\n# a comment is a change of text too\n`);
    equal(await fx.gateway.reload(), true);
    const after = await checkedDigest(config);
    notEqual(after, before);
    await get(fx.proxyUrl, fx.caFile, "/after");
    const receipts = await fx.receipts();
    const of = (path: string) => receipts.find((r) => r.summary.includes(path))!;
    equal(of("/before").policy, before);
    equal(of("/after").policy, after);
    match(after, /^[0-9a-f]{16}$/);
  });
});
