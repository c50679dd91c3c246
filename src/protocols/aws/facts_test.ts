import { deepStrictEqual as equal } from "node:assert/strict";
import type { HttpFacts } from "../../core/mod.ts";
import { awsFacts } from "./facts.ts";
import { AWS_CREDENTIALS, awsPlaceholderKeyId } from "./endpoint.ts";

const SIGNED = (service: string, region = "us-east-1") =>
  `AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE000000001/20261205/${region}/${service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=${
    "0".repeat(64)
  }`;

function http(init: Partial<HttpFacts> & { service?: string }): HttpFacts {
  const { service, ...rest } = init;
  return {
    method: "get",
    host: "example.amazonaws.com",
    path: "/",
    query: {},
    headers: service ? { authorization: [SIGNED(service)] } : {},
    body: "",
    body_truncated: false,
    ...rest,
  } as HttpFacts;
}

Deno.test("awsFacts() names S3 operations from the method, bucket, key and markers", () => {
  const s3 = (method: string, host: string, path: string, query = {}, headers = {}) => {
    const facts = awsFacts(http({
      method,
      host,
      path,
      query,
      headers: { authorization: [SIGNED("s3")], ...headers },
    }));
    return [facts.facts.aws!.action, facts.facts.aws!.bucket, facts.facts.aws!.key];
  };
  equal(s3("get", "s3.amazonaws.com", "/"), ["ListBuckets", "", ""]);
  equal(s3("get", "s3.us-east-1.amazonaws.com", "/logs", { "list-type": ["2"] }), [
    "ListObjectsV2",
    "logs",
    "",
  ]);
  equal(s3("put", "logs.s3.us-east-1.amazonaws.com", "/a/b%20c.txt"), [
    "PutObject",
    "logs",
    "a/b c.txt",
  ]);
  equal(s3("delete", "s3.amazonaws.com", "/logs"), ["DeleteBucket", "logs", ""]);
  equal(s3("delete", "logs.s3.amazonaws.com", "/k", { uploadId: ["1"] }), [
    "AbortMultipartUpload",
    "logs",
    "k",
  ]);
  equal(s3("post", "logs.s3.amazonaws.com", "/", { delete: [""] }), ["DeleteObjects", "logs", ""]);
  equal(s3("put", "logs.s3.amazonaws.com", "/k", {}, { "x-amz-copy-source": ["o/k"] }), [
    "CopyObject",
    "logs",
    "k",
  ]);
  equal(s3("put", "logs.s3.amazonaws.com", "/", { policy: [""] }), ["PutBucketPolicy", "logs", ""]);
});

Deno.test("awsFacts() reads the service and region from the signature, the action from the API", () => {
  const form = awsFacts(http({
    method: "post",
    service: "iam",
    headers: {
      authorization: [SIGNED("iam")],
      "content-type": ["application/x-www-form-urlencoded; charset=utf-8"],
    },
    body: "Action=CreateUser&UserName=x&Version=2010-05-08",
  }));
  equal(form.facts.aws, {
    service: "iam",
    region: "us-east-1",
    action: "CreateUser",
    bucket: "",
    key: "",
  });
  equal(form.summary, "iam CreateUser");
  equal(form.unknown, []);
  const target = awsFacts(http({
    method: "post",
    headers: {
      authorization: [SIGNED("dynamodb", "eu-west-1")],
      "x-amz-target": ["DynamoDB_20120810.DeleteTable"],
    },
  }));
  equal(target.facts.aws!.action, "DeleteTable");
  equal(target.facts.aws!.region, "eu-west-1");
  const query = awsFacts(http({ service: "ec2", query: { Action: ["DescribeInstances"] } }));
  equal(query.facts.aws!.action, "DescribeInstances");
});

Deno.test("awsFacts() leaves what it cannot establish unknown, so rules reading it deny", () => {
  equal(awsFacts(http({})).unknown, ["aws.service", "aws.region", "aws.action"]);
  equal(awsFacts(http({ service: "lambda", path: "/2015-03-31/functions" })).unknown, [
    "aws.action",
  ]);
  const cut = awsFacts(http({
    method: "post",
    service: "sts",
    headers: {
      authorization: [SIGNED("sts")],
      "content-type": ["application/x-www-form-urlencoded"],
    },
    body: "Version=2011-06-15&Act",
    body_truncated: true,
  }));
  equal(cut.unknown, ["aws.action"]);
  equal(
    awsFacts(http({ method: "patch", service: "s3", host: "b.s3.amazonaws.com", path: "/k" }))
      .unknown,
    [
      "aws.action",
    ],
  );
});

Deno.test("aws_credential placeholders look like key ids, differ per name, and bad settings are refused", () => {
  const id = awsPlaceholderKeyId("aws_prod", {});
  equal(/^AKIA[A-Z2-7]{16}$/.test(id), true);
  equal(awsPlaceholderKeyId("aws_prod", {}), id);
  equal(awsPlaceholderKeyId("aws_dev", {}) === id, false);
  equal(
    awsPlaceholderKeyId("x", { access_key_id: "AKIAMINE000000000001" }),
    "AKIAMINE000000000001",
  );
  const problems: string[] = [];
  AWS_CREDENTIALS.aws_credential.check!(
    { access_key_id: "akia/lower", region: "mars", token_refresh: "20m" },
    (m) => problems.push(m),
  );
  equal(problems.length, 3, problems.join("\n"));
  AWS_CREDENTIALS.aws_credential.check!(
    { access_key_id: "AKIAMINE000000000001", region: "eu-west-1", token_refresh: "30s" },
    (m) => problems.push(m),
  );
  equal(problems.length, 3);
});
