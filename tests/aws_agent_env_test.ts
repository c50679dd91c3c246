/**
 * `clawpatrol run` gives an agent holding an `aws_credential` the placeholder key pair the AWS
 * CLI signs with, and the gateway CA for it, and nothing of the real key in the vault.
 *
 * @module
 */

import { equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { openVault } from "../src/credentials/mod.ts";
import { awsPlaceholderKeyId } from "../src/protocols/aws/mod.ts";
import { cli, initDir, withTempDir } from "./_helpers.ts";
import { addAgent } from "./_agent_cli_fixture.ts";

const AWS_CONFIG = `
endpoint "aws" "account" {
  hosts = ["*.amazonaws.com"]
}
credential "aws_credential" "aws_prod" {
  endpoint = aws.account
}
profile "cloud" {
  credentials = [aws_credential.aws_prod]
}
`;

Deno.test("run sets AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to the placeholder pair, never the vault's key", async () => {
  await withTempDir(async (dir) => {
    const config = await initDir(dir);
    await Deno.writeTextFile(config, (await Deno.readTextFile(config)) + AWS_CONFIG);
    const vault = await openVault(join(dir, "state"));
    try {
      await vault.set("aws_prod", "access_key_id", "AKIAREALKEY000000042");
      await vault.set("aws_prod", "secret_access_key", "real/secret/value/42");
    } finally {
      vault.close();
    }
    const token = await addAgent(dir, "bot", "cloud");
    const r = await cli(["run", "--agent", "bot", "--token", token, "--", "sh", "-c", "env"], {
      cwd: dir,
    });
    equal(r.code, 0, r.stderr);
    const vars = Object.fromEntries(
      r.stdout.split("\n").filter((l) => l.includes("=")).map((l) => [
        l.slice(0, l.indexOf("=")),
        l.slice(l.indexOf("=") + 1),
      ]),
    );
    equal(vars.AWS_ACCESS_KEY_ID, awsPlaceholderKeyId("aws_prod", {}));
    equal(vars.AWS_SECRET_ACCESS_KEY, "{{aws_prod}}");
    equal(vars.AWS_CA_BUNDLE, join(await Deno.realPath(dir), "state", "ca-bundle.pem"));
    ok(!r.stdout.includes("AKIAREALKEY000000042") && !r.stdout.includes("real/secret/value/42"));
  });
});
