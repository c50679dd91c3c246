/**
 * What EKS's authenticator (aws-iam-authenticator) checks in a bearer token, for a fake API
 * server: `k8s-aws-v1.` and a base64url STS `GetCallerIdentity` URL on an STS host, presigned
 * with `x-k8s-aws-id` naming the cluster among its signed headers, not older than its lifetime,
 * and signed with the real key (recomputed with the SDKs' signer, where EKS would ask STS).
 *
 * @module
 */

import { SignatureV4 } from "@smithy/signature-v4";
import { Sha256 } from "../src/credentials/_sha256.ts";
import type { AwsKeys } from "../src/credentials/mod.ts";

/** What a token must satisfy. */
export interface EksTokenCheck {
  cluster: string;
  keys: AwsKeys;
  /** How long after its X-Amz-Date a token is accepted (EKS: 15 minutes). */
  lifetimeMs: number;
}

/** `null` when the `Authorization` header carries a valid EKS token, else why not. */
export async function eksTokenProblem(
  authorization: string | null,
  check: EksTokenCheck,
): Promise<string | null> {
  const m = /^Bearer k8s-aws-v1\.([A-Za-z0-9_-]+)$/.exec(authorization ?? "");
  if (!m) return "not an EKS token";
  const b64 = m[1].replace(/-/g, "+").replace(/_/g, "/");
  let url: URL;
  try {
    url = new URL(atob(b64 + "=".repeat((4 - b64.length % 4) % 4)));
  } catch {
    return "not a URL";
  }
  const q = url.searchParams;
  if (url.protocol !== "https:" || !/^sts(\.[a-z0-9-]+)?\.amazonaws\.com$/.test(url.host)) {
    return `not an STS host: ${url.host}`;
  }
  if (url.pathname !== "/" || q.get("Action") !== "GetCallerIdentity") {
    return "not GetCallerIdentity";
  }
  const signedHeaders = (q.get("X-Amz-SignedHeaders") ?? "").split(";");
  if (!signedHeaders.includes("host") || !signedHeaders.includes("x-k8s-aws-id")) {
    return "x-k8s-aws-id is not signed";
  }
  const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(q.get("X-Amz-Date") ?? "");
  if (!date) return "no X-Amz-Date";
  const signedAt = new Date(`${date[1]}-${date[2]}-${date[3]}T${date[4]}:${date[5]}:${date[6]}Z`);
  if (Date.now() - signedAt.getTime() > check.lifetimeMs) return "expired";
  const scope = (q.get("X-Amz-Credential") ?? "").split("/");
  if (scope[0] !== check.keys.accessKeyId || scope[3] !== "sts") return "another key";
  const again = await new SignatureV4({
    credentials: check.keys,
    region: scope[2],
    service: "sts",
    sha256: Sha256,
  }).presign({
    method: "GET",
    protocol: "https:",
    hostname: url.host,
    path: "/",
    query: { Action: "GetCallerIdentity", Version: q.get("Version") ?? "" },
    headers: { host: url.host, "x-k8s-aws-id": check.cluster },
  }, { signingDate: signedAt, expiresIn: Number(q.get("X-Amz-Expires")) });
  // A token for another cluster fails here: x-k8s-aws-id is in what was signed.
  return again.query?.["X-Amz-Signature"] === q.get("X-Amz-Signature") ? null : "bad signature";
}
