/**
 * `assume_role` on an `aws_credential`: the gateway assumes the role with the vault's key (its
 * own STS call, through the endpoint's upstream), signs the agent's requests with the role's
 * temporary credentials and session token, assumes it again before they expire, and refuses
 * with STS's reason when the role cannot be assumed.
 *
 * @module
 */

import { equal, match, ok } from "node:assert/strict";
import { AGENT_ROLE, REAL_KEY } from "./_aws_fake.ts";
import { withAwsGateway } from "./_aws_fixture.ts";
import { eventually } from "./_helpers.ts";

Deno.test("with assume_role the agent's requests are signed with the role's temporary credentials, renewed before expiry", async () => {
  await withAwsGateway({
    credentialSettings: `  assume_role = "${AGENT_ROLE}"\n  role_session_name = "clawpatrol-test"`,
    // STS grants 4 s: the gateway assumes the role again after 2 s.
    roleLifetimeS: 4,
  }, async (fx) => {
    // A request not signed with the placeholder pair is refused before the role is assumed.
    const forged = await fx.run(["sts", "get-caller-identity"], { AWS_SECRET_ACCESS_KEY: "guess" });
    ok(forged.code !== 0, forged.output);
    equal(fx.aws.requests.length, 0, "no STS call for a refused request");

    const identity = await fx.run(["sts", "get-caller-identity", "--output", "text"]);
    equal(identity.code, 0, identity.output);
    const [assume, call] = fx.aws.requests;
    equal(new URLSearchParams(new TextDecoder().decode(assume.body)).get("Action"), "AssumeRole");
    equal(assume.keyId, REAL_KEY.accessKeyId, "the role is assumed with the vault's key");
    ok(call.keyId.startsWith("ASIA"), call.keyId);
    ok(call.headers["x-amz-security-token"]?.startsWith("FwoG"));

    await eventually(
      "the role assumed again",
      async () => {
        const again = await fx.run(["s3", "ls"]);
        equal(again.code, 0, again.output);
        const keys = new Set(
          fx.aws.requests.filter((r) => r.keyId.startsWith("ASIA")).map((r) => r.keyId),
        );
        return keys.size >= 2 ? true : undefined;
      },
      20_000,
      200,
    );
    ok(fx.aws.requests.every((r) => r.verified), "AWS refused a signature (an expired key?)");
    const agentFacing = fx.aws.requests.filter((r) => r.keyId !== REAL_KEY.accessKeyId);
    ok(agentFacing.length >= 2);
    const receipts = JSON.stringify(await fx.receipts()) + fx.log.messages().join("\n");
    ok(!receipts.includes("FwoG"), "a session token reached a receipt or log");
  });
});

Deno.test("a role STS refuses to grant refuses the agent's request with STS's reason", async () => {
  await withAwsGateway({
    credentialSettings: `  assume_role = "arn:aws:iam::123456789012:role/admin"`,
  }, async (fx) => {
    const run = await fx.run(["sts", "get-caller-identity"]);
    ok(run.code !== 0, run.output);
    match(
      run.output,
      /credential 'aws_prod' could not assume its role: STS answered 403 AccessDenied/,
    );
    equal(fx.aws.requests.length, 1, "only the gateway's AssumeRole reached AWS");
    ok(
      fx.log.messages("warn").some((m) =>
        m.includes("cannot assume arn:aws:iam::123456789012:role/admin")
      ),
    );
  });
});
