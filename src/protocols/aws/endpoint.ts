/**
 * The config schema of the aws family: `endpoint "aws" NAME { … }` takes what an https endpoint
 * takes (`hosts`, `upstream`, `ca_cert`, `ports`…), and the `aws_credential` kind, which signs
 * requests to such endpoints and mints EKS tokens for `kubernetes` endpoints.
 *
 * @example
 * ```hcl
 * endpoint "aws" "account" {
 *   hosts = ["*.amazonaws.com"]
 * }
 * credential "aws_credential" "aws_prod" {
 *   endpoint = aws.account
 * }
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { BodyReader, CredentialSchema, Endpoint, EndpointSchema } from "../../core/mod.ts";
import { HTTPS_ENDPOINT, type HttpsEndpoint } from "../http/mod.ts";

/** `endpoint "aws" NAME`: an https endpoint whose requests are AWS API calls. */
export interface AwsEndpoint extends Omit<HttpsEndpoint, "protocol"> {
  protocol: "aws";
}

/** Whether `endpoint` is an aws endpoint. */
export function isAwsEndpoint(endpoint: Endpoint): endpoint is AwsEndpoint {
  return endpoint.protocol === "aws";
}

/** Reads `endpoint "aws" NAME { hosts = […] … }` with the https endpoint's schema. */
export const AWS_ENDPOINT: EndpointSchema = Object.freeze({
  read(name: string, body: BodyReader): AwsEndpoint {
    const https = HTTPS_ENDPOINT.read(name, body) as HttpsEndpoint;
    return { ...https, protocol: "aws" };
  },
});

/** Settings of `aws_credential`. */
export const AWS_CREDENTIAL_SETTINGS = {
  /** The placeholder access key id the agent signs with (its `AWS_ACCESS_KEY_ID`). */
  accessKeyId: "access_key_id",
  /** The region EKS tokens are minted in (the STS endpoint they name). */
  region: "region",
  /** How long an EKS token is reused before a new one is minted. */
  tokenRefresh: "token_refresh",
  /** A role ARN: requests are signed with its temporary credentials, not the vault's key. */
  assumeRole: "assume_role",
  /** The session name the role's temporary credentials carry (CloudTrail shows it). */
  roleSessionName: "role_session_name",
} as const;

/** The kinds aws endpoints take: `aws_credential`, also bound to EKS `kubernetes` endpoints. */
export const AWS_CREDENTIALS: Readonly<Record<string, CredentialSchema>> = Object.freeze({
  aws_credential: {
    settings: Object.values(AWS_CREDENTIAL_SETTINGS),
    alsoFamilies: ["kubernetes"],
    check: (settings, problem) => {
      const id = settings[AWS_CREDENTIAL_SETTINGS.accessKeyId];
      // The id travels in the Authorization header's credential scope, split at "/".
      if (typeof id === "string" && !/^[A-Z0-9]{16,128}$/.test(id)) {
        problem(
          `'access_key_id' must be 16 to 128 upper-case letters and digits, like an AWS access key id`,
          AWS_CREDENTIAL_SETTINGS.accessKeyId,
        );
      }
      const region = settings[AWS_CREDENTIAL_SETTINGS.region];
      if (typeof region === "string" && !/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) {
        problem(`'region' must be an AWS region such as us-east-1, got "${region}"`, "region");
      }
      const role = settings[AWS_CREDENTIAL_SETTINGS.assumeRole];
      if (
        typeof role === "string" && !/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@\/-]+$/.test(role)
      ) {
        problem(
          `'assume_role' must be an IAM role ARN such as arn:aws:iam::123456789012:role/agents, got "${role}"`,
          AWS_CREDENTIAL_SETTINGS.assumeRole,
        );
      }
      const session = settings[AWS_CREDENTIAL_SETTINGS.roleSessionName];
      if (typeof session === "string" && !/^[\w+=,.@-]{2,64}$/.test(session)) {
        problem(
          `'role_session_name' must be 2 to 64 letters, digits and +=,.@-_, got "${session}"`,
          AWS_CREDENTIAL_SETTINGS.roleSessionName,
        );
      }
      const refresh = settings[AWS_CREDENTIAL_SETTINGS.tokenRefresh];
      // EKS accepts a token for 15 minutes after it was signed; one minute is left for clocks.
      if (typeof refresh === "string" && !/^([1-9]\d*s|([1-9]|1[0-4])m)$/.test(refresh)) {
        problem(
          `'token_refresh' must be seconds or minutes under 15m, such as "10m" or "30s", got "${refresh}"`,
          AWS_CREDENTIAL_SETTINGS.tokenRefresh,
        );
      }
    },
  },
});

/**
 * The access key id an agent signs with for an `aws_credential`: its `access_key_id`, else one
 * derived from the credential's name (`AKIA` and 16 base32 characters, the shape of a real id,
 * so SDKs that check the shape accept it), stable across restarts and distinct per name.
 */
export function awsPlaceholderKeyId(
  name: string,
  settings: Readonly<Record<string, unknown>>,
): string {
  const set = settings[AWS_CREDENTIAL_SETTINGS.accessKeyId];
  if (typeof set === "string") return set;
  const digest = createHash("sha256").update(`clawpatrol aws_credential ${name}`).digest();
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let id = "AKIA";
  for (let i = 0; i < 16; i++) id += alphabet[digest[i] & 31];
  return id;
}

/** What an aws endpoint dials: its `upstream`, else each host on each port. */
export function awsUpstreams(endpoint: Endpoint): string[] {
  if (!isAwsEndpoint(endpoint)) return [];
  if (endpoint.upstream) return [endpoint.upstream];
  return endpoint.hosts.flatMap((host) => endpoint.ports.map((port) => `${host}:${port}`));
}
