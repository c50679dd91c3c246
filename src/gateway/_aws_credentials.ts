/**
 * `aws_credential`s under one config: requests to `aws` endpoints the agent signed with its
 * placeholder key pair are verified and re-signed with the real key from the vault, and EKS
 * bearer tokens are minted for `kubernetes` endpoints that set `eks_cluster`.
 *
 * Vault slots: `access_key_id`, `secret_access_key` and, for temporary credentials,
 * `session_token`. Fail closed: a missing slot, a request not signed with the placeholder pair,
 * or one that cannot be checked is refused before any rule, with a receipt.
 *
 * @module
 */

import { type Config, parseDuration, placeholderOf } from "../config/mod.ts";
import type { AgentFacts, HttpCredentialUse, HttpRequestParts } from "../core/mod.ts";
import {
  type AwsKeys,
  AwsSignatureError,
  eksToken,
  parseAuthorization,
  resignRequest,
  Scrubber,
  scrubForms,
} from "../credentials/mod.ts";
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
interface AwsCredential {
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

/** Signing and EKS tokens for every `aws_credential` in one config. */
export class AwsCredentials {
  readonly #credentials: AwsCredential[] = [];
  readonly #awsEndpoints = new Set<string>();
  readonly #secrets: SecretCache;
  readonly #log: Logger;
  /** Minted EKS tokens by credential, cluster and key id; dropped with the vault's values. */
  readonly #tokens = new Map<string, { token: string; mintedAt: number }>();
  readonly #scrubbers = new Map<string, Scrubber | null>();
  /** Assumed roles' temporary credentials by credential ref; dropped with the vault's values. */
  readonly #roles = new Map<string, { keys: AwsKeys; refreshAt: number; base: string }>();
  readonly #assuming = new Map<string, Promise<AwsKeys | { refusal: string }>>();
  readonly #unsubscribe: () => void;

  constructor(config: Config, secrets: SecretCache, log: Logger) {
    for (const e of config.endpoints.values()) {
      if (e.protocol === "aws") this.#awsEndpoints.add(e.name);
    }
    for (const [ref, c] of config.credentials) {
      if (c.kind !== "aws_credential") continue;
      const refresh = c.settings[AWS_CREDENTIAL_SETTINGS.tokenRefresh];
      const region = c.settings[AWS_CREDENTIAL_SETTINGS.region];
      const roleArn = c.settings[AWS_CREDENTIAL_SETTINGS.assumeRole];
      const sessionName = c.settings[AWS_CREDENTIAL_SETTINGS.roleSessionName];
      const stsRegion = typeof region === "string" ? region : DEFAULT_EKS_REGION;
      this.#credentials.push({
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
    this.#secrets = secrets;
    this.#log = log;
    this.#unsubscribe = secrets.onForget(() => {
      this.#tokens.clear();
      this.#scrubbers.clear();
      this.#roles.clear();
    });
  }

  /** Stops following the secret cache and drops minted tokens. */
  close(): void {
    this.#unsubscribe();
    this.#tokens.clear();
    this.#scrubbers.clear();
    this.#roles.clear();
  }

  /** Whether `endpoint` is an `aws` endpoint (its requests are signed, not substituted). */
  handles(endpoint: string | null): boolean {
    return endpoint !== null && this.#awsEndpoints.has(endpoint);
  }

  /** Refs of `aws_credential`s bound to `endpoint`. */
  refsOn(endpoint: string): string[] {
    return this.#credentials.filter((c) => c.endpoints.includes(endpoint)).map((c) => c.ref);
  }

  /**
   * The credentials hook for a request to an `aws` endpoint: the request must be signed with
   * the placeholder pair of a credential the agent's profile holds there; it is then re-signed
   * with the real key when forwarded. An agent holding none signs with keys of its own, and
   * its request goes as it is.
   */
  async use(
    agent: AgentFacts,
    endpoint: string,
    request: HttpRequestParts,
    held: ReadonlySet<string>,
  ): Promise<HttpCredentialUse> {
    const usable = this.#credentials.filter((c) =>
      c.endpoints.includes(endpoint) && held.has(c.ref)
    );
    const keyId = signingKeyId(request);
    const named = this.#credentials.find((c) => c.placeholder.accessKeyId === keyId);
    const base = { placeholders: named ? [named.name] : [], misplaced: [], unknown: [] };
    if (usable.length === 0) {
      if (named) {
        const refusal = `credential '${named.name}' is not usable by this agent on this endpoint`;
        return { ...base, misplaced: [named.name], refusal, ...AS_IS(request) };
      }
      return { ...base, refusal: null, ...AS_IS(request) };
    }
    const credential = usable.find((c) => c === named) ?? usable[0];
    const real = await this.#keys(credential, agent);
    if ("refusal" in real) return { ...base, ...real, ...AS_IS(request) };
    const signed = signedRequest(request);
    try {
      // Checked now, so a request not meant for this credential never reaches the rules.
      await resignRequest(signed, { placeholder: credential.placeholder, real });
    } catch (err) {
      if (!(err instanceof AwsSignatureError)) throw err;
      this.#log.log("warn", `aws_credential '${credential.name}': ${err.message}`, {
        agent: agent.name,
        endpoint,
      });
      return { ...base, refusal: err.message, ...AS_IS(request) };
    }
    const scrubber = this.#scrubberFor(credential, real);
    return {
      ...base,
      refusal: null,
      // Signed again at forwarding time, so an approval wait does not age the signature.
      apply: async () => {
        const out = await resignRequest(signed, { placeholder: credential.placeholder, real });
        return { ...request, headers: out.headers, body: out.body };
      },
      scrubber: () => scrubber ? new Scrubber(scrubber) : null,
    };
  }

  /**
   * The EKS bearer token of `ref` for `endpoint`'s cluster: reused until its refresh age, then
   * minted again (signing is local: only the vault can fail).
   */
  async eksToken(
    ref: string,
    cluster: string,
    agent: AgentFacts,
  ): Promise<string | { refusal: string }> {
    const credential = this.#credentials.find((c) => c.ref === ref);
    if (!credential) return { refusal: `credential '${ref}' is not configured` };
    const keys = await this.#keys(credential, agent);
    if ("refusal" in keys) return keys;
    const key = `${ref}\0${cluster}\0${keys.accessKeyId}`;
    const now = Date.now();
    const cached = this.#tokens.get(key);
    if (cached && now - cached.mintedAt < credential.tokenRefreshMs) return cached.token;
    try {
      const token = await eksToken(keys, { cluster, region: credential.region });
      this.#tokens.set(key, { token, mintedAt: now });
      return token;
    } catch (err) {
      this.#log.log("error", `aws_credential '${credential.name}': cannot mint an EKS token`, {
        agent: agent.name,
        error: (err as Error).name,
      });
      return { refusal: `credential '${credential.name}' could not mint an EKS token` };
    }
  }

  /**
   * The key pair that signs for `credential`: the vault's, or with `assume_role` the role's
   * temporary credentials, assumed with the vault's and replaced before they expire.
   */
  async #keys(
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

  /**
   * Responses are scrubbed of the real key id, secret and session token (an S3 error names the
   * key id it was signed with), each replaced by its placeholder.
   */
  #scrubberFor(credential: AwsCredential, real: AwsKeys): Scrubber | null {
    const key = `${credential.ref}\0${real.accessKeyId}\0${real.secretAccessKey}\0${
      real.sessionToken ?? ""
    }`;
    if (this.#scrubbers.has(key)) return this.#scrubbers.get(key)!;
    const as = (placeholder: string) => ({
      ref: credential.ref,
      name: credential.name,
      kind: "bearer_token" as const,
      endpoints: credential.endpoints,
      placeholder,
      substituteIn: [],
      inject: "placeholder" as const,
    });
    const forms = [
      ...scrubForms(as(credential.placeholder.accessKeyId), real.accessKeyId),
      ...scrubForms(as(credential.placeholder.secretAccessKey), real.secretAccessKey),
      ...real.sessionToken
        ? scrubForms(as(`{{${credential.name}.session_token}}`), real.sessionToken)
        : [],
    ];
    const scrubber = forms.length > 0 ? new Scrubber(forms) : null;
    this.#scrubbers.clear();
    this.#scrubbers.set(key, scrubber);
    return scrubber;
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

/** The request forwarded unchanged. */
function AS_IS(request: HttpRequestParts): Pick<HttpCredentialUse, "apply" | "scrubber"> {
  return { apply: () => request, scrubber: () => null };
}

/** The access key id in the request's SigV4 Authorization header, if any. */
function signingKeyId(request: HttpRequestParts): string | undefined {
  const value = request.headers.find(([n]) => n.toLowerCase() === "authorization")?.[1];
  return value === undefined ? undefined : parseAuthorization(value)?.accessKeyId;
}

function signedRequest(request: HttpRequestParts) {
  return {
    method: request.method ?? "GET",
    authority: request.authority ?? "",
    target: request.target,
    headers: request.headers,
    body: request.body,
    bodyTruncated: request.bodyTruncated,
  };
}
