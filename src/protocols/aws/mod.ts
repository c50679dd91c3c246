/**
 * AWS: API calls through the forward proxy, decided on `aws.*` facts (service, action, region,
 * S3 bucket and key) and re-signed by the gateway with the real key (`aws_credential`).
 *
 * @example
 * ```ts
 * import { AWS_FLAVOR, awsFacts } from "./src/protocols/aws/mod.ts";
 *
 * const { facts } = awsFacts(http); // facts.aws.action === "ListBuckets"
 * ```
 *
 * @module
 */

export { AWS_FACET } from "./facet.ts";
export { AWS_PROTOCOL } from "./protocol.ts";
export {
  AWS_CREDENTIAL_SETTINGS,
  type AwsEndpoint,
  awsPlaceholderKeyId,
  isAwsEndpoint,
} from "./endpoint.ts";
export { AWS_FLAVOR, awsFacts, signatureScope } from "./facts.ts";
export { s3Action, type S3Target, s3Target } from "./_s3_actions.ts";
