/**
 * The key pairs that sign for `aws_credential`s: read from the vault (slots `access_key_id`,
 * `secret_access_key`, `session_token`), or with `assume_role` the role's temporary credentials,
 * assumed with the vault's key and assumed again before they expire.
 *
 * @module
 */

import { type Config, parseDuration, placeholderOf } from "../config/mod.ts";
import type { AgentFacts } from "../core/mod.ts";
import type { AwsKeys } from "../credentials/mod.ts";
import {
  AWS_CREDENTIAL_SETTINGS,
  awsPlaceholderKeyId,
  isAwsEndpoint,
} from "../protocols/aws/mod.ts";
import type { Logger } from "./log.ts";
import type { SecretCache } from "./_secrets.ts";
import { assumeRole, type StsRoute } from "./_aws_assume_role.ts";

/** Vault slots of an `aws_credential`: `vault set NAME --slot access_key_id` and so on. */
export const AWS_SLOTS = {
  accessKeyId: "access_key_id",
  secretAccessKey: "secret_access_key",
  sessionToken: "session_token",
} as const;

/** EKS accepts a token for 15 minutes after it was signed; a new one is minted before that. */
const DEFAULT_TOKEN_REFRESH_MS = 10 * 60_000;
const DEFAULT_EKS_REGION = "us-east-1";

/** One configured `aws_credential`. */
export interface AwsCredential {
  ref: string;
  name: string;
  endpoints: string[];
  /** The pair the agent signs with: nothing secret, both are in its environment. */
  placeholder: AwsKeys;
  region: string;
  tokenRefreshMs: number;
  /** `assume_role`: the role whose temporary credentials sign, and how STS is reached. */
  role?: { arn: string; sessionName: string; sts: StsRoute };
}

/** Temporary credentials are replaced this long before they expire (or halfway). */
const ROLE_REFRESH_MARGIN_MS = 5 * 60_000;

/** Every `aws_credential` of `config`, with its settings read. */
export function readAwsCredentials(config: Config): AwsCredential[] {
  const credentials: AwsCredential[] = [];
  for (const [ref, c] of config.credentials) {
    if (c.kind !== "aws_credential") continue;
    const refresh = c.settings[AWS_CREDENTIAL_SETTINGS.tokenRefresh];
    const region = c.settings[AWS_CREDENTIAL_SETTINGS.region];
    const roleArn = c.settings[AWS_CREDENTIAL_SETTINGS.assumeRole];
    const sessionName = c.settings[AWS_CREDENTIAL_SETTINGS.roleSessionName];
    const stsRegion = typeof region === "string" ? region : DEFAULT_EKS_REGION;
    credentials.push({
      ref,
      name: c.name,
      endpoints: c.endpoints,
      placeholder: {
        accessKeyId: awsPlaceholderKeyId(c.name, c.settings),
        secretAccessKey: placeholderOf(c),
      },
      region: typeof region === "string" ? region : DEFAULT_EKS_REGION,
      tokenRefreshMs: (typeof refresh === "string" ? parseDuration(refresh) : null) ??
        DEFAULT_TOKEN_REFRESH_MS,
      ...typeof roleArn === "string"
        ? {
          role: {
            arn: roleArn,
            sessionName: typeof sessionName === "string" ? sessionName : "clawpatrol",
            sts: stsRoute(config, c.endpoints, stsRegion),
          },
        }
        : {},
    });
  }
  return credentials;
}

/** The signing keys of `aws_credential`s, over the gateway's secret cache. */
export class AwsKeySource {
  readonly #secrets: SecretCache;
  readonly #log: Logger;
  /** Assumed roles' temporary credentials by credential ref. */
  readonly #roles = new Map<string, { keys: AwsKeys; refreshAt: number; base: string }>();
  readonly #assuming = new Map<string, Promise<AwsKeys | { refusal: string }>>();

  constructor(secrets: SecretCache, log: Logger) {
    this.#secrets = secrets;
    this.#log = log;
  }

  /** Forgets assumed roles' credentials (the vault changed, or the config was replaced). */
  clear(): void {
    this.#roles.clear();
  }

  /**
   * The key pair that signs for `credential`: the vault's, or with `assume_role` the role's
   * temporary credentials, assumed with the vault's and replaced before they expire.
   */
  async keys(
    credential: AwsCredential,
    agent: AgentFacts,
  ): Promise<AwsKeys | { refusal: string }> {
    const base = await this.#vaultKeys(credential, agent);
    if ("refusal" in base || !credential.role) return base;
    const held = this.#roles.get(credential.ref);
    if (held && held.base === base.accessKeyId && Date.now() < held.refreshAt) return held.keys;
    // Concurrent requests share one STS call.
    let pending = this.#assuming.get(credential.ref);
    if (!pending) {
      pending = this.#assume(credential, base, agent).finally(() =>
        this.#assuming.delete(credential.ref)
      );
      this.#assuming.set(credential.ref, pending);
    }
    return await pending;
  }

  async #assume(
    credential: AwsCredential,
    base: AwsKeys,
    agent: AgentFacts,
  ): Promise<AwsKeys | { refusal: string }> {
    const role = credential.role!;
    const got = await assumeRole(base, {
      roleArn: role.arn,
      sessionName: role.sessionName,
      region: credential.region,
      route: role.sts,
    });
    if ("error" in got) {
      this.#log.log(
        "warn",
        `aws_credential '${credential.name}' cannot assume ${role.arn}: ${got.error}`,
        {
          agent: agent.name,
        },
      );
      return { refusal: `credential '${credential.name}' could not assume its role: ${got.error}` };
    }
    const lifetime = got.expiresAt - Date.now();
    this.#roles.set(credential.ref, {
      keys: got.keys,
      refreshAt: got.expiresAt - Math.min(ROLE_REFRESH_MARGIN_MS, lifetime / 2),
      base: base.accessKeyId,
    });
    return got.keys;
  }

  /** The real key pair from the vault, or the refusal (and an operator line) without it. */
  async #vaultKeys(
    credential: AwsCredential,
    agent: AgentFacts,
  ): Promise<AwsKeys | { refusal: string }> {
    const refusal = { refusal: `credential '${credential.name}' is not available on the gateway` };
    try {
      const accessKeyId = await this.#secrets.get(credential.name, AWS_SLOTS.accessKeyId);
      const secretAccessKey = await this.#secrets.get(credential.name, AWS_SLOTS.secretAccessKey);
      const sessionToken = await this.#secrets.get(credential.name, AWS_SLOTS.sessionToken);
      const missing = accessKeyId === null
        ? AWS_SLOTS.accessKeyId
        : secretAccessKey === null
        ? AWS_SLOTS.secretAccessKey
        : null;
      if (missing !== null) {
        this.#log.log(
          "warn",
          `credential '${credential.name}' slot '${missing}' has no value in the vault`,
          {
            agent: agent.name,
            fix: `clawpatrol vault set ${credential.name} --slot ${missing}`,
          },
        );
        return refusal;
      }
      return {
        accessKeyId: accessKeyId!,
        secretAccessKey: secretAccessKey!,
        ...(sessionToken === null ? {} : { sessionToken }),
      };
    } catch (err) {
      // VaultError messages name the credential and never carry a value.
      this.#log.log(
        "error",
        `credential '${credential.name}' could not be read: ${(err as Error).message}`,
        {
          agent: agent.name,
        },
      );
      return refusal;
    }
  }
}

/**
 * How the gateway reaches STS for a credential: the region's STS name, dialled through the first
 * aws endpoint of the credential that sets `upstream` (its `ca_cert` verifying), else directly.
 */
function stsRoute(config: Config, endpoints: string[], region: string): StsRoute {
  const host = `sts.${region}.amazonaws.com`;
  for (const name of endpoints) {
    const e = config.endpoints.get(name);
    if (!e || !isAwsEndpoint(e)) continue;
    if (e.upstream) {
      const at = e.upstream.lastIndexOf(":");
      return {
        host,
        dialHost: e.upstream.slice(0, at).replace(/^\[(.*)\]$/, "$1"),
        dialPort: Number(e.upstream.slice(at + 1)),
        caCert: e.caCert,
      };
    }
    return { host, dialHost: host, dialPort: 443, caCert: e.caCert };
  }
  return { host, dialHost: host, dialPort: 443 };
}
