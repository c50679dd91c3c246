/**
 * The real AWS CLI through the gateway with only placeholder keys: the gateway checks each
 * request's signature with the placeholder pair, decides it on `aws.*` facts with the starter
 * pack rules/aws.hcl, and re-signs it with the real key, which a fake AWS verifies the way AWS
 * does. The real key never reaches the agent; the placeholder never reaches AWS.
 *
 * @module
 */

import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { REAL_KEY } from "./_aws_fake.ts";
import { type AwsFixture, withAwsGateway } from "./_aws_fixture.ts";

/** Nothing the fake received holds the agent's placeholders; everything was signed for real. */
function assertNoPlaceholderReachedAws(fx: AwsFixture): void {
  ok(fx.aws.requests.length > 0);
  for (const r of fx.aws.requests) {
    const text = JSON.stringify(r.headers) + r.target + new TextDecoder().decode(r.body);
    ok(!text.includes(fx.env.AWS_ACCESS_KEY_ID), `placeholder key id reached AWS: ${r.target}`);
    ok(!text.includes(fx.env.AWS_SECRET_ACCESS_KEY), `placeholder secret reached AWS: ${r.target}`);
    ok(r.verified, `AWS refused the gateway's signature on ${r.method} ${r.target}`);
  }
}

Deno.test("aws s3 ls, s3 cp (a streamed upload) and sts get-caller-identity work with placeholder keys", async () => {
  await withAwsGateway({}, async (fx) => {
    ok(
      fx.env.AWS_ACCESS_KEY_ID.startsWith("AKIA") &&
        fx.env.AWS_ACCESS_KEY_ID !== REAL_KEY.accessKeyId,
    );
    equal(fx.env.AWS_SECRET_ACCESS_KEY, "{{aws_prod}}");

    const identity = await fx.run(["sts", "get-caller-identity", "--output", "text"]);
    equal(identity.code, 0, identity.output);
    match(identity.output, /123456789012\s+arn:aws:iam::123456789012:user\/agent-bot/);

    const buckets = await fx.run(["s3", "ls"]);
    equal(buckets.code, 0, buckets.output);
    match(buckets.output, /bucket/);

    // Larger than limits.body_buffer (1 MiB): the body streams through, the head is re-signed.
    const file = join(fx.dir, "upload.bin");
    const data = new Uint8Array(3 << 20).map((_, i) => (i * 7) & 0xff);
    await Deno.writeFile(file, data);
    const upload = await fx.run(["s3", "cp", file, "s3://bucket/upload.bin"]);
    equal(upload.code, 0, upload.output);
    const stored = fx.aws.objects.get("bucket/upload.bin");
    ok(stored, upload.output);
    equal(stored.length, data.length);
    ok(stored.every((b, i) => b === data[i]), "AWS stored the bytes the agent sent");

    const listing = await fx.run(["s3", "ls", "s3://bucket/"]);
    equal(listing.code, 0, listing.output);
    match(listing.output, /upload\.bin/);

    assertNoPlaceholderReachedAws(fx);
    const receipts = await fx.receipts();
    const allowed = receipts.filter((r) => r.verdict === "allow").map((r) => r.summary);
    ok(allowed.includes("sts GetCallerIdentity"), allowed.join("\n"));
    ok(allowed.includes("s3 ListBuckets"), allowed.join("\n"));
    ok(allowed.includes("s3 PutObject s3://bucket/upload.bin"), allowed.join("\n"));
    ok(allowed.includes("s3 ListObjectsV2 s3://bucket/"), allowed.join("\n"));
    const put = receipts.find((r) => r.summary === "s3 PutObject s3://bucket/upload.bin")!;
    equal(put.rule, "uploads-to-bucket");
    equal(put.upstreamStatus, 200);
  });
});

Deno.test("aws iam create-user and aws s3 rb are denied by the starter pack before reaching AWS", async () => {
  await withAwsGateway({}, async (fx) => {
    const user = await fx.run(["iam", "create-user", "--user-name", "backdoor"]);
    ok(user.code !== 0, user.output);
    match(
      user.output,
      /An error occurred \(AccessDenied\) when calling the CreateUser operation: denied by clawpatrol: IAM changes are not made by agents \(receipt rcpt_[\w-]+, rule aws-no-iam-changes\)/,
    );
    const rb = await fx.run(["s3", "rb", "s3://bucket"]);
    ok(rb.code !== 0, rb.output);
    match(rb.output, /denied by clawpatrol: Deleting AWS resources is not allowed/);
    equal(fx.aws.requests.length, 0, "nothing reached AWS");
    const receipts = await fx.receipts();
    const denied = receipts.filter((r) => r.verdict === "deny");
    ok(denied.some((r) => r.summary === "iam CreateUser" && r.rule === "aws-no-iam-changes"));
    ok(
      denied.some((r) =>
        r.summary === "s3 DeleteBucket s3://bucket/" && r.rule === "aws-no-deletes"
      ),
    );
  });
});

Deno.test("a request signed with another secret or another key id is refused with a receipt", async () => {
  await withAwsGateway({}, async (fx) => {
    const wrongSecret = await fx.run(["sts", "get-caller-identity"], {
      AWS_SECRET_ACCESS_KEY: "not-the-placeholder",
    });
    ok(wrongSecret.code !== 0, wrongSecret.output);
    match(wrongSecret.output, /signature does not match the placeholder key/);
    // Someone's real key, say: still never forwarded on the gateway's endpoint.
    const otherKey = await fx.run(["s3", "ls"], {
      AWS_ACCESS_KEY_ID: "AKIAOTHERKEY00000001",
      AWS_SECRET_ACCESS_KEY: "another-secret",
    });
    ok(otherKey.code !== 0, otherKey.output);
    match(otherKey.output, /signed with an access key id the gateway does not hold/);
    equal(fx.aws.requests.length, 0, "nothing reached AWS");
    const receipts = await fx.receipts();
    equal(receipts.filter((r) => r.verdict === "deny" && r.rule === null).length, 2);
  });
});

Deno.test("the real key never reaches the agent: an echoed key id comes back as the placeholder", async () => {
  await withAwsGateway({}, async (fx) => {
    const echoed = await fx.run(["s3", "cp", "s3://bucket/echo", "-"]);
    equal(echoed.code, 0, echoed.output);
    equal(echoed.output, `signed by ${fx.env.AWS_ACCESS_KEY_ID}\n`);
    ok(!Object.values(fx.env).some((v) => v.includes(REAL_KEY.secretAccessKey)));
    ok(!Object.values(fx.env).some((v) => v.includes(REAL_KEY.accessKeyId)));
    const receipts = JSON.stringify(await fx.receipts()) + fx.log.messages().join("\n");
    ok(!receipts.includes(REAL_KEY.secretAccessKey) && !receipts.includes(REAL_KEY.accessKeyId));
  });
});

Deno.test("without the real key in the vault, requests are refused and the operator is told which slot to set", async () => {
  await withAwsGateway({
    secrets: [["aws_prod", "access_key_id", REAL_KEY.accessKeyId]],
  }, async (fx) => {
    const run = await fx.run(["sts", "get-caller-identity"]);
    ok(run.code !== 0, run.output);
    match(run.output, /credential 'aws_prod' is not available on the gateway/);
    equal(fx.aws.requests.length, 0);
    ok(
      fx.log.messages("warn").some((m) => m.includes("slot 'secret_access_key' has no value")),
      fx.log.messages().join("\n"),
    );
  });
});

Deno.test("a placeholder in an AWS request is misplaced: the secret placeholder keys the signature, it never travels", async () => {
  await withAwsGateway({}, async (fx) => {
    const run = await fx.run([
      ...["s3api", "put-object", "--bucket", "bucket", "--key", "note.txt"],
      ...["--metadata", JSON.stringify({ note: "{{aws_prod}}" })],
    ]);
    ok(run.code !== 0, run.output);
    match(run.output, /denied by clawpatrol: placeholder for credential 'aws_prod' used where/);
    equal(fx.aws.requests.length, 0, "nothing reached AWS");
  });
});
