/**
 * A fake AWS that verifies every request's SigV4 signature with the real key, the way AWS does,
 * using the signer the AWS SDKs use (`@smithy/signature-v4`): STS GetCallerIdentity, IAM
 * CreateUser, and an S3 with buckets and objects (ListBuckets, ListObjectsV2, PutObject with
 * the AWS CLI's aws-chunked uploads, GetObject, DeleteBucket). HTTPS on a random loopback port
 * with a certificate for the AWS host names the tests use, from a fresh test CA. A request
 * signed with any other key, or more than 15 minutes old, gets AWS's 403
 * `SignatureDoesNotMatch`. Every request is recorded, so a test can assert what reached AWS.
 *
 * @module
 */

import { SignatureV4 } from "@smithy/signature-v4";
import { Sha256, sha256Hex } from "../src/credentials/_sha256.ts";
import { parseAuthorization } from "../src/credentials/mod.ts";
import { mintTestCa, mintTestCertificate } from "./_test_ca.ts";

/** The real key: only the fake and the gateway's vault hold it. */
export const REAL_KEY = {
  accessKeyId: "AKIAREALKEY7EXAMPLE1",
  secretAccessKey: "rEaLsEcReT/kEy+only/in/the/vault/EXAMPLE",
};

/** Host names in the fake's certificate. */
export const AWS_HOSTS = [
  "sts.amazonaws.com",
  "sts.us-east-1.amazonaws.com",
  "iam.amazonaws.com",
  "s3.amazonaws.com",
  "s3.us-east-1.amazonaws.com",
  "bucket.s3.amazonaws.com",
  "bucket.s3.us-east-1.amazonaws.com",
];

/** The role `AssumeRole` grants; any other is refused with AccessDenied. */
export const AGENT_ROLE = "arn:aws:iam::123456789012:role/agents";

/** A key the fake accepts: the real one, or temporary credentials it issued. */
interface KnownKey {
  secretAccessKey: string;
  sessionToken?: string;
  expiresAt?: number;
}

/** One request as it reached the fake. */
export interface FakeAwsRequest {
  method: string;
  host: string;
  /** Path and query as sent. */
  target: string;
  headers: Record<string, string>;
  body: Uint8Array;
  /** Whether its signature verified with {@linkcode REAL_KEY} or a live temporary key. */
  verified: boolean;
  /** The access key id it was signed with. */
  keyId: string;
}

/** A running fake AWS. */
export interface FakeAws {
  port: number;
  caPem: string;
  requests: FakeAwsRequest[];
  /** Objects by `bucket/key`. */
  objects: Map<string, Uint8Array>;
  /** Temporary credentials from AssumeRole live this long. @default {3600} */
  roleLifetimeS: number;
  close(): Promise<void>;
}

const XML = { "content-type": "text/xml" };

/** Starts the fake with bucket `bucket` holding `echo` (whose body names the real key id). */
export async function startFakeAws(): Promise<FakeAws> {
  const keys = new Map<string, KnownKey>([[REAL_KEY.accessKeyId, {
    secretAccessKey: REAL_KEY.secretAccessKey,
  }]]);
  const ca = await mintTestCa("clawpatrol fake AWS CA");
  const leaf = await mintTestCertificate(ca, { hosts: AWS_HOSTS });
  const requests: FakeAwsRequest[] = [];
  const objects = new Map<string, Uint8Array>();
  // An upstream that echoes what it was signed with: the agent must get the placeholder back.
  objects.set("bucket/echo", new TextEncoder().encode(`signed by ${REAL_KEY.accessKeyId}\n`));
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: leaf.certPem,
    key: leaf.keyPem,
    onListen() {},
  }, async (req) => {
    const url = new URL(req.url);
    const headers: Record<string, string> = {};
    req.headers.forEach((v, k) => headers[k] = v);
    const body = new Uint8Array(await req.arrayBuffer());
    const host = (headers.host ?? "").replace(/:\d+$/, "");
    const seen: FakeAwsRequest = {
      method: req.method,
      host,
      target: url.pathname + url.search,
      headers,
      body,
      verified: false,
      keyId: /Credential=([^/]+)/.exec(headers.authorization ?? "")?.[1] ?? "",
    };
    requests.push(seen);
    seen.verified = await verify(req.method, url, headers, body, keys);
    if (!seen.verified) {
      return new Response(
        "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message></Error>",
        { status: 403, headers: XML },
      );
    }
    const form = new URLSearchParams(new TextDecoder().decode(body));
    if (host.startsWith("sts.") && form.get("Action") === "AssumeRole") {
      return assumeRole(form, keys, fake.roleLifetimeS);
    }
    return respond(seen, url, objects);
  });
  const fake: FakeAws = {
    port: server.addr.port,
    caPem: ca.certPem,
    requests,
    objects,
    roleLifetimeS: 3600,
    close: () => server.shutdown(),
  };
  return fake;
}

/** AWS's own check: the signature recomputed with the real key, and a fresh date. */
async function verify(
  method: string,
  url: URL,
  headers: Record<string, string>,
  body: Uint8Array,
  keys: Map<string, KnownKey>,
): Promise<boolean> {
  const auth = parseAuthorization(headers.authorization ?? "");
  const key = auth ? keys.get(auth.accessKeyId) : undefined;
  if (!auth || !key) return false;
  if (key.expiresAt !== undefined && Date.now() >= key.expiresAt) return false;
  // Temporary credentials are valid only with their session token, signed.
  if (key.sessionToken !== undefined) {
    if (headers["x-amz-security-token"] !== key.sessionToken) return false;
    if (!auth.signedHeaders.includes("x-amz-security-token")) return false;
  }
  const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(headers["x-amz-date"] ?? "");
  if (!date) return false;
  const signedAt = new Date(`${date[1]}-${date[2]}-${date[3]}T${date[4]}:${date[5]}:${date[6]}Z`);
  if (Math.abs(Date.now() - signedAt.getTime()) > 15 * 60_000) return false;
  const payload = headers["x-amz-content-sha256"];
  if (payload !== undefined && /^[0-9a-f]{64}$/.test(payload) && sha256Hex(body) !== payload) {
    return false;
  }
  const signed: Record<string, string> = {};
  for (const name of auth.signedHeaders) {
    if (headers[name] === undefined) return false;
    signed[name] = headers[name];
  }
  const query: Record<string, string> = {};
  url.searchParams.forEach((v, k) => query[k] = v);
  const signer = new SignatureV4({
    credentials: { accessKeyId: auth.accessKeyId, secretAccessKey: key.secretAccessKey },
    region: auth.region,
    service: auth.service,
    sha256: Sha256,
    uriEscapePath: auth.service !== "s3",
    applyChecksum: false,
  });
  const again = await signer.sign(
    {
      method,
      protocol: "https:",
      hostname: signed.host ?? "",
      path: url.pathname,
      query,
      headers: signed,
      body: payload === undefined ? body : undefined,
    },
    { signingDate: signedAt, signableHeaders: new Set(auth.signedHeaders) },
  );
  return parseAuthorization(String(again.headers.authorization))?.signature === auth.signature;
}

/** STS AssumeRole: temporary credentials for {@linkcode AGENT_ROLE}, AccessDenied otherwise. */
function assumeRole(form: URLSearchParams, keys: Map<string, KnownKey>, lifetimeS: number) {
  if (form.get("RoleArn") !== AGENT_ROLE) {
    return new Response(
      "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized to perform sts:AssumeRole</Message></Error></ErrorResponse>",
      { status: 403, headers: XML },
    );
  }
  const random = () => crypto.randomUUID().replace(/-/g, "").toUpperCase();
  const accessKeyId = `ASIA${random().slice(0, 16)}`;
  const key = {
    secretAccessKey: random(),
    sessionToken: `FwoG${random()}${random()}`,
    expiresAt: Date.now() + lifetimeS * 1000,
  };
  keys.set(accessKeyId, key);
  return new Response(
    `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>${accessKeyId}</AccessKeyId><SecretAccessKey>${key.secretAccessKey}</SecretAccessKey><SessionToken>${key.sessionToken}</SessionToken><Expiration>${
      new Date(key.expiresAt).toISOString()
    }</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/agents/${
      form.get("RoleSessionName")
    }</Arn><AssumedRoleId>AROA:x</AssumedRoleId></AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>`,
    { headers: XML },
  );
}

/** The aws-chunked body's data (`hex\r\ndata\r\n`…, then `0` and trailers). */
function unchunk(body: Uint8Array): Uint8Array {
  const text = new TextDecoder("latin1").decode(body);
  const parts: Uint8Array[] = [];
  let at = 0;
  for (;;) {
    const end = text.indexOf("\r\n", at);
    const size = parseInt(text.slice(at, end).split(";")[0], 16);
    if (!(size > 0)) break;
    parts.push(body.subarray(end + 2, end + 2 + size));
    at = end + 2 + size + 2;
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function respond(seen: FakeAwsRequest, url: URL, objects: Map<string, Uint8Array>): Response {
  const { host, method } = seen;
  const form = new URLSearchParams(new TextDecoder().decode(seen.body));
  if (host.startsWith("sts.")) {
    return new Response(
      `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/agent-bot</Arn><UserId>AIDAEXAMPLEUSERID</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
      { headers: XML },
    );
  }
  if (host.startsWith("iam.")) {
    const user = form.get("UserName") ?? "";
    return new Response(
      `<CreateUserResponse><CreateUserResult><User><Path>/</Path><UserName>${user}</UserName><UserId>AIDANEW</UserId><Arn>arn:aws:iam::123456789012:user/${user}</Arn><CreateDate>2026-01-01T00:00:00Z</CreateDate></User></CreateUserResult></CreateUserResponse>`,
      { headers: XML },
    );
  }
  const virtualBucket = host.endsWith(".s3.amazonaws.com") || host.includes(".s3.us-east-1.")
    ? host.split(".s3.")[0]
    : "";
  const path = decodeURIComponent(url.pathname).replace(/^\//, "");
  const bucket = virtualBucket || path.split("/")[0];
  const key = virtualBucket ? path : path.split("/").slice(1).join("/");
  if (bucket === "" && method === "GET") {
    return new Response(
      `<ListAllMyBucketsResult><Owner><ID>o</ID><DisplayName>o</DisplayName></Owner><Buckets><Bucket><Name>bucket</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>`,
      { headers: XML },
    );
  }
  if (key === "" && method === "GET") {
    const contents = [...objects.entries()]
      .filter(([k]) => k.startsWith(`${bucket}/`))
      .map(([k, v]) =>
        `<Contents><Key>${
          k.slice(bucket.length + 1)
        }</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"e"</ETag><Size>${v.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`
      ).join("");
    return new Response(
      `<ListBucketResult><Name>${bucket}</Name><Prefix></Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>${contents}</ListBucketResult>`,
      { headers: XML },
    );
  }
  if (key === "" && method === "DELETE") return new Response(null, { status: 204 });
  if (method === "PUT") {
    const chunked = (seen.headers["content-encoding"] ?? "").includes("aws-chunked");
    objects.set(`${bucket}/${key}`, chunked ? unchunk(seen.body) : seen.body);
    return new Response(null, { headers: { etag: '"etag"' } });
  }
  const object = objects.get(`${bucket}/${key}`);
  if (method === "HEAD" && object) {
    return new Response(null, {
      headers: {
        "content-length": String(object.length),
        "last-modified": new Date(0).toUTCString(),
        etag: '"e"',
      },
    });
  }
  if (method === "GET" && object) {
    return new Response(new Uint8Array(object), {
      headers: {
        "content-type": "application/octet-stream",
        "last-modified": new Date(0).toUTCString(),
      },
    });
  }
  return new Response("<Error><Code>NoSuchKey</Code></Error>", { status: 404, headers: XML });
}
