import { deepStrictEqual as equal, ok, rejects } from "node:assert/strict";
import { SignatureV4 } from "@smithy/signature-v4";
import { Sha256, sha256Hex } from "./_sha256.ts";
import {
  type AwsKeys,
  AwsSignatureError,
  eksToken,
  parseAuthorization,
  resignRequest,
  type SignedRequest,
} from "./aws_sigv4.ts";

const PLACEHOLDER: AwsKeys = { accessKeyId: "AKIAPLACEHOLDER00001", secretAccessKey: "{{aws}}" };
const REAL: AwsKeys = {
  accessKeyId: "AKIAREALKEY000000001",
  secretAccessKey: "realSecretKey/abcdefghijklmnopqrstuvw",
};
const OTHER: AwsKeys = { accessKeyId: "AKIAOTHER00000000001", secretAccessKey: "unrelated" };

/** A request signed the way an SDK signs it, as the gateway would forward it. */
async function signedBy(
  keys: AwsKeys,
  init: {
    method?: string;
    host?: string;
    path?: string;
    query?: Record<string, string>;
    headers?: Record<string, string>;
    body?: string | Uint8Array;
    service?: string;
  } = {},
): Promise<SignedRequest> {
  const host = init.host ?? "sts.amazonaws.com";
  const service = init.service ?? "sts";
  const body = typeof init.body === "string" ? new TextEncoder().encode(init.body) : init.body;
  const signer = new SignatureV4({
    credentials: keys,
    region: "us-east-1",
    service,
    sha256: Sha256,
    uriEscapePath: service !== "s3",
    // As botocore: only S3 requests name their payload's hash in a header.
    applyChecksum: service === "s3",
  });
  const signed = await signer.sign({
    method: init.method ?? "GET",
    protocol: "https:",
    hostname: host,
    path: init.path ?? "/",
    query: init.query ?? {},
    headers: { host, ...init.headers },
    body,
  });
  const query = new URLSearchParams(init.query ?? {}).toString().replace(/\+/g, "%20");
  return {
    method: init.method ?? "GET",
    authority: host,
    target: (init.path ?? "/") + (query ? `?${query}` : ""),
    headers: Object.entries(signed.headers).filter(([n]) => n !== "host") as [string, string][],
    body: body ?? new Uint8Array(),
    bodyTruncated: false,
  };
}

/** Whether `request` carries a valid signature by `keys` (the verifier half of resign). */
async function validFor(keys: AwsKeys, request: SignedRequest): Promise<boolean> {
  try {
    await resignRequest(request, { placeholder: keys, real: OTHER });
    return true;
  } catch (err) {
    if (err instanceof AwsSignatureError) return false;
    throw err;
  }
}

function header(request: { headers: [string, string][] }, name: string): string | undefined {
  return request.headers.find(([n]) => n.toLowerCase() === name)?.[1];
}

Deno.test("resignRequest() accepts AWS's get-vanilla test vector signed with the example key", async () => {
  // From the SigV4 test suite: GET / on example.amazonaws.com, 2015-08-30T12:36:00Z.
  const vector: SignedRequest = {
    method: "GET",
    authority: "example.amazonaws.com",
    target: "/",
    headers: [
      ["X-Amz-Date", "20150830T123600Z"],
      [
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
      ],
    ],
    body: new Uint8Array(),
    bodyTruncated: false,
  };
  const example = {
    accessKeyId: "AKIDEXAMPLE",
    secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
  };
  ok(await validFor(example, vector));
  ok(!await validFor({ ...example, secretAccessKey: "wrong" }, vector));
});

Deno.test("resignRequest() re-signs a placeholder-signed form POST with the real key", async () => {
  const agent = await signedBy(PLACEHOLDER, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
    body: "Action=GetCallerIdentity&Version=2011-06-15",
  });
  const out = await resignRequest(agent, { placeholder: PLACEHOLDER, real: REAL });
  const auth = parseAuthorization(header(out, "authorization")!)!;
  equal(auth.accessKeyId, REAL.accessKeyId);
  equal(auth.service, "sts");
  const forwarded = { ...agent, headers: out.headers, body: out.body };
  ok(await validFor(REAL, forwarded), "the forwarded request verifies with the real key");
  ok(!await validFor(PLACEHOLDER, forwarded));
  ok(!JSON.stringify(out.headers).includes(REAL.secretAccessKey));
  equal(header(out, "content-type"), "application/x-www-form-urlencoded; charset=utf-8");
});

Deno.test("resignRequest() refuses a request changed after signing", async () => {
  const agent = await signedBy(PLACEHOLDER, {
    method: "POST",
    body: "Action=GetCallerIdentity&Version=2011-06-15",
  });
  const body = new TextEncoder().encode("Action=DeleteUser&Version=2011-06-15");
  await rejects(
    resignRequest({ ...agent, body }, { placeholder: PLACEHOLDER, real: REAL }),
    /does not match the placeholder key/,
  );
  // A payload hash header must name the body the rules saw.
  const hashed = await signedBy(PLACEHOLDER, {
    method: "PUT",
    service: "s3",
    host: "bucket.s3.amazonaws.com",
    path: "/a.txt",
    body: "original",
  });
  await rejects(
    resignRequest({ ...hashed, body }, { placeholder: PLACEHOLDER, real: REAL }),
    /X-Amz-Content-SHA256 does not match the body/,
  );
  await rejects(
    resignRequest({ ...agent, authority: "iam.amazonaws.com" }, {
      placeholder: PLACEHOLDER,
      real: REAL,
    }),
    /does not match the placeholder key/,
  );
});

Deno.test("resignRequest() refuses another secret, another key id, no signature and presigned URLs", async () => {
  const options = { placeholder: PLACEHOLDER, real: REAL };
  const otherSecret = await signedBy({ ...PLACEHOLDER, secretAccessKey: "guess" });
  await rejects(resignRequest(otherSecret, options), /does not match the placeholder key/);
  const otherId = await signedBy(OTHER);
  await rejects(resignRequest(otherId, options), /access key id the gateway does not hold/);
  const unsigned: SignedRequest = { ...otherId, headers: [["accept", "*/*"]] };
  await rejects(resignRequest(unsigned, options), /no AWS Signature Version 4 Authorization/);
  const presigned = { ...unsigned, target: "/key?X-Amz-Signature=abc&X-Amz-Credential=x" };
  await rejects(resignRequest(presigned, options), /presigned URLs are refused/);
});

Deno.test("resignRequest() refuses a cut-off body it would have to hash, but not a hashed one", async () => {
  const options = { placeholder: PLACEHOLDER, real: REAL };
  const form = await signedBy(PLACEHOLDER, { method: "POST", body: "Action=ListUsers" });
  await rejects(resignRequest({ ...form, bodyTruncated: true }, options), /limits.body_buffer/);
  // S3 names the payload's hash (or UNSIGNED-PAYLOAD) in a header: the body need not be read.
  const put = await signedBy(PLACEHOLDER, {
    method: "PUT",
    service: "s3",
    host: "bucket.s3.us-east-1.amazonaws.com",
    path: "/dir/file%20name.txt",
    headers: { "x-amz-content-sha256": "UNSIGNED-PAYLOAD" },
  });
  const out = await resignRequest({ ...put, bodyTruncated: true }, options);
  ok(await validFor(REAL, { ...put, headers: out.headers }));
});

Deno.test("resignRequest() replaces the session token with the real one and signs it", async () => {
  const agent = await signedBy(PLACEHOLDER, { query: { Action: "GetCallerIdentity" } });
  const real = { ...REAL, sessionToken: "FwoGZXIvYXdzEXAMPLETOKEN" };
  const out = await resignRequest(agent, { placeholder: PLACEHOLDER, real });
  equal(header(out, "x-amz-security-token"), real.sessionToken);
  ok(
    parseAuthorization(header(out, "authorization")!)!.signedHeaders.includes(
      "x-amz-security-token",
    ),
  );
  ok(await validFor(real, { ...agent, headers: out.headers }));
});

/** A signed-chunk body as the Java SDK frames it, signed by `keys` from `seed`. */
async function chunkedBody(keys: AwsKeys, seed: string, date: Date, chunks: string[]) {
  const signer = new SignatureV4({
    credentials: keys,
    region: "us-east-1",
    service: "s3",
    sha256: Sha256,
  });
  const longDate = date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  let previous = seed;
  let text = "";
  for (const data of [...chunks, ""]) {
    const toSign = [
      "AWS4-HMAC-SHA256-PAYLOAD",
      longDate,
      `${longDate.slice(0, 8)}/us-east-1/s3/aws4_request`,
      previous,
      sha256Hex(""),
      sha256Hex(data),
    ].join("\n");
    previous = await signer.sign(toSign, { signingDate: date });
    text += `${data.length.toString(16)};chunk-signature=${previous}\r\n${data}\r\n`;
  }
  return new TextEncoder().encode(text);
}

Deno.test("resignRequest() re-signs every chunk of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload", async () => {
  const chunks = ["a".repeat(300), "second chunk", "last"];
  const length = chunks.reduce((n, c) => n + c.length, 0);
  const headers = {
    "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "content-encoding": "aws-chunked",
    "x-amz-decoded-content-length": String(length),
  };
  const init = {
    method: "PUT",
    service: "s3",
    host: "bucket.s3.amazonaws.com",
    path: "/upload.bin",
    headers,
  };
  const head = await signedBy(PLACEHOLDER, init);
  const seed = parseAuthorization(header(head, "authorization")!)!.signature;
  const date = new Date(
    header(head, "x-amz-date")!.replace(
      /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/,
      "$1-$2-$3T$4:$5:$6Z",
    ),
  );
  const agent = { ...head, body: await chunkedBody(PLACEHOLDER, seed, date, chunks) };
  const now = new Date(date.getTime() + 5000);
  const out = await resignRequest(agent, { placeholder: PLACEHOLDER, real: REAL, now });
  equal(out.body.length, agent.body.length, "framing and length are kept");
  const ours = parseAuthorization(header(out, "authorization")!)!.signature;
  equal(
    new TextDecoder().decode(out.body),
    new TextDecoder().decode(await chunkedBody(REAL, ours, now, chunks)),
  );

  const tampered = new Uint8Array(agent.body);
  tampered[new TextDecoder().decode(tampered).indexOf("aaaa")] = 0x62;
  await rejects(
    resignRequest({ ...agent, body: tampered }, { placeholder: PLACEHOLDER, real: REAL }),
    /chunk signature does not match/,
  );
  await rejects(
    resignRequest({ ...agent, bodyTruncated: true }, { placeholder: PLACEHOLDER, real: REAL }),
    /larger than limits.body_buffer cannot be re-signed/,
  );
});

Deno.test("eksToken() presigns GetCallerIdentity for the cluster, as EKS expects", async () => {
  const now = new Date("2026-12-05T10:00:00Z");
  const token = await eksToken(REAL, { cluster: "prod", region: "eu-west-1", now });
  ok(token.startsWith("k8s-aws-v1."), token);
  ok(!/[+/=]/.test(token.slice(11)), "base64url without padding");
  const b64 = token.slice(11).replace(/-/g, "+").replace(/_/g, "/");
  const url = new URL(atob(b64 + "=".repeat((4 - b64.length % 4) % 4)));
  equal(url.host, "sts.eu-west-1.amazonaws.com");
  equal(url.searchParams.get("Action"), "GetCallerIdentity");
  equal(url.searchParams.get("X-Amz-SignedHeaders"), "host;x-k8s-aws-id");
  equal(url.searchParams.get("X-Amz-Expires"), "60");
  equal(url.searchParams.get("X-Amz-Date"), "20261205T100000Z");
  equal(
    url.searchParams.get("X-Amz-Credential"),
    `${REAL.accessKeyId}/20261205/eu-west-1/sts/aws4_request`,
  );
  ok(!token.includes(REAL.secretAccessKey));
});
