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

import type { Config } from "../config/mod.ts";
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
import type { Logger } from "./log.ts";
import { CompiledScrubbers } from "./_compiled_scrubbers.ts";
import type { SecretCache } from "./_secrets.ts";
import { type AwsCredential, AwsKeySource, readAwsCredentials } from "./_aws_keys.ts";

/** Signing and EKS tokens for every `aws_credential` in one config. */
export class AwsCredentials {
  readonly #credentials: AwsCredential[];
  readonly #awsEndpoints = new Set<string>();
  readonly #log: Logger;
  /** Minted EKS tokens by credential, cluster and key id; dropped with the vault's values. */
  readonly #tokens = new Map<string, { token: string; mintedAt: number }>();
  /** By credential and key set; emptied with the vault's values. */
  readonly #scrubbers: CompiledScrubbers;
  /** The vault's keys, or the temporary credentials of an assumed role. */
  readonly #keySource: AwsKeySource;
  readonly #unsubscribe: () => void;

  constructor(config: Config, secrets: SecretCache, log: Logger) {
    for (const e of config.endpoints.values()) {
      if (e.protocol === "aws") this.#awsEndpoints.add(e.name);
    }
    this.#credentials = readAwsCredentials(config);
    this.#keySource = new AwsKeySource(secrets, log);
    this.#scrubbers = new CompiledScrubbers({ idleMs: secrets.idleMs });
    this.#log = log;
    this.#unsubscribe = secrets.onForget(() => {
      this.#tokens.clear();
      this.#scrubbers.clear();
      this.#keySource.clear();
    });
  }

  /** Stops following the secret cache and drops minted tokens. */
  close(): void {
    this.#unsubscribe();
    this.#tokens.clear();
    this.#scrubbers.clear();
    this.#keySource.clear();
  }

  /** Whether `endpoint` is an `aws` endpoint (its requests are signed, not substituted). */
  handles(endpoint: string | null): boolean {
    return endpoint !== null && this.#awsEndpoints.has(endpoint);
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
    const signed = signedRequest(request);
    try {
      // Checked first, with nothing real, so a request not meant for this credential never
      // reaches the rules, the vault or STS.
      const { placeholder } = credential;
      await resignRequest(signed, { placeholder, real: placeholder });
    } catch (err) {
      if (!(err instanceof AwsSignatureError)) throw err;
      this.#log.log("warn", `aws_credential '${credential.name}': ${err.message}`, {
        agent: agent.name,
        endpoint,
      });
      return { ...base, refusal: err.message, ...AS_IS(request) };
    }
    const real = await this.#keySource.keys(credential, agent);
    if ("refusal" in real) return { ...base, ...real, ...AS_IS(request) };
    let used = real;
    return {
      ...base,
      refusal: null,
      // Signed at forwarding time with the keys in force then, so an approval wait ages
      // neither the signature nor an assumed role's credentials.
      apply: async () => {
        const keys = await this.#keySource.keys(credential, agent);
        if ("refusal" in keys) throw new Error(keys.refusal);
        used = keys;
        const out = await resignRequest(signed, {
          placeholder: credential.placeholder,
          real: keys,
        });
        return { ...request, headers: out.headers, body: out.body };
      },
      scrubber: () => {
        const template = this.#scrubberFor(credential, used);
        return template ? new Scrubber(template) : null;
      },
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
    const keys = await this.#keySource.keys(credential, agent);
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
   * Responses are scrubbed of the real key id, secret and session token (an S3 error names the
   * key id it was signed with), each replaced by its placeholder.
   */
  #scrubberFor(credential: AwsCredential, real: AwsKeys): Scrubber | null {
    const values = [real.accessKeyId, real.secretAccessKey, real.sessionToken ?? null];
    return this.#scrubbers.get(credential.ref, values, () => {
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
      return forms.length > 0 ? new Scrubber(forms) : null;
    });
  }
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
