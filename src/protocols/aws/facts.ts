/**
 * AWS facts: which service, operation and region a SigV4-signed request is for (`aws.*`),
 * composed with the request's http facts, and the flavor that makes the HTTP exchange an AWS
 * one. The service and region come from the signature's credential scope, which is what AWS
 * authorises the request against (a request signed for `s3` is refused by every other service),
 * not from the host name, which an endpoint's `upstream` or a custom domain can change.
 *
 * @module
 */

import type { AwsFacts, Facts, HttpFacts } from "../../core/mod.ts";
import type { ExchangeFlavor } from "../http/mod.ts";
import { s3Action, s3Target } from "./_s3_actions.ts";

/** A SigV4 credential scope: `AKID/20261205/us-east-1/s3/aws4_request`. */
const SCOPE = /^([^/\s]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request$/;

/** The access key id, region and service a request is signed with, from either SigV4 form. */
export function signatureScope(
  http: Pick<HttpFacts, "headers" | "query">,
): { accessKeyId: string; region: string; service: string } | null {
  const authorization = http.headers["authorization"]?.[0] ?? "";
  const inHeader = /^AWS4-HMAC-SHA256\s+Credential=([^,\s]+)/.exec(authorization)?.[1];
  const credential = inHeader ?? http.query["X-Amz-Credential"]?.[0];
  const m = credential === undefined ? null : SCOPE.exec(credential);
  return m ? { accessKeyId: m[1], region: m[3], service: m[4] } : null;
}

/**
 * The facts and receipt summary of one AWS API request. What cannot be established is listed
 * in `unknown`, so a rule that reads it denies: an unsigned request has no service, region or
 * action; an operation is unknown when no `Action` parameter, `X-Amz-Target` header or S3 route
 * names it (REST APIs other than S3 are matched with `http.method` and `http.path`).
 *
 * @example
 * ```ts
 * const { facts, summary } = awsFacts(http);
 * facts.aws!.action; // "CreateUser"
 * summary; // "iam CreateUser"
 * ```
 */
export function awsFacts(
  http: HttpFacts,
): { facts: Facts; unknown: string[]; summary: string } {
  const unknown: string[] = [];
  const scope = signatureScope(http);
  if (!scope) unknown.push("aws.service", "aws.region");
  const aws: AwsFacts = {
    service: scope?.service ?? "",
    region: scope?.region ?? "",
    action: "",
    bucket: "",
    key: "",
  };
  if (aws.service === "s3") {
    const target = s3Target(http.host, decodePath(http.path));
    aws.bucket = target.bucket;
    aws.key = target.key;
    aws.action = s3Action(http.method, target, http.query, http.headers) ?? "";
  } else {
    const action = namedAction(http);
    if (action === undefined) unknown.push("aws.action");
    else aws.action = action ?? "";
  }
  if (aws.action === "" && !unknown.includes("aws.action")) unknown.push("aws.action");
  return { facts: { http, aws }, unknown, summary: summarize(aws, http) };
}

/**
 * The operation a query-protocol (`Action=`) or JSON-protocol (`X-Amz-Target`) request names;
 * `null` when it names none, `undefined` when a form body that could name it was cut off.
 */
function namedAction(http: HttpFacts): string | null | undefined {
  const target = http.headers["x-amz-target"]?.[0];
  // `DynamoDB_20120810.ListTables`, `AWSCognitoIdentityProviderService.ListUsers`.
  if (target !== undefined) return target.slice(target.lastIndexOf(".") + 1) || null;
  const inQuery = http.query["Action"]?.[0];
  if (inQuery !== undefined) return inQuery;
  const type = http.headers["content-type"]?.[0]?.split(";")[0].trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") return null;
  if (http.body_truncated) return undefined;
  return new URLSearchParams(http.body).get("Action");
}

function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/** `iam CreateUser`, `s3 PutObject s3://bucket/key`, or the method and path when unsigned. */
function summarize(aws: AwsFacts, http: Pick<HttpFacts, "method" | "path">): string {
  if (aws.service === "") return `${http.method.toUpperCase()} ${http.path}`.slice(0, 300);
  const parts = [aws.service, aws.action || `${http.method.toUpperCase()} ${http.path}`];
  if (aws.bucket) parts.push(`s3://${aws.bucket}/${aws.key}`);
  return parts.join(" ").slice(0, 300);
}

/** The exchange flavor of `aws` endpoints, reached through the forward proxy by host. */
export const AWS_FLAVOR: ExchangeFlavor = Object.freeze({
  protocol: "aws",
  facts: awsFacts,
  // Unset: the proxy picks the shape the AWS CLI and SDKs print (AccessDenied, XML or JSON).
  replyShape: undefined,
  upgrades: Object.freeze([]),
  // The agent's signature is checked and replaced by the credential, never dropped blindly: an
  // agent holding no credential on the endpoint signs with keys of its own.
  dropHeaders: Object.freeze([]),
});
