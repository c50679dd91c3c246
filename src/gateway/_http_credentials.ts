/**
 * The proxy's credentials hook for one loaded config: which credentials an agent holds on an
 * endpoint, where its request carries placeholders, the secrets to swap in, and what responses
 * must be scrubbed of.
 *
 * @module
 */

import { type Config, type Credential, placeholderOf } from "../config/mod.ts";
import type {
  AgentFacts,
  ClientCertificate,
  HttpCredentialUse,
  HttpRequestParts,
} from "../core/mod.ts";
import {
  HttpInjector,
  type InjectableCredential,
  Scrubber,
  scrubForms,
  type SubstituteLocation,
} from "../credentials/mod.ts";
import { misplacedPlaceholderReason } from "../policy/mod.ts";
import type { Logger } from "./log.ts";
import type { SecretCache } from "./_secrets.ts";
import { AwsCredentials } from "./_aws_credentials.ts";
import { OAuthTokens } from "./_oauth_tokens.ts";
import { CompiledScrubbers } from "./_compiled_scrubbers.ts";
import { isKubernetesEndpoint } from "../protocols/kubernetes/mod.ts";

const HTTP_KINDS = new Set([
  "bearer_token",
  "header_token",
  "basic_auth",
  "query_token",
  // Kubernetes requests are HTTP: the cluster's token goes in as a bearer token.
  "k8s_bearer_token",
]);
const NONE: ReadonlySet<string> = new Set();

/** Vault slots of an `mtls_credential`: `vault set NAME --slot cert` and `--slot key`. */
export const MTLS_SLOTS = { cert: "cert", key: "key" } as const;

/** Credential injection for HTTPS endpoints under one config. */
export class HttpCredentials {
  readonly #injector: HttpInjector;
  readonly #byRef = new Map<string, InjectableCredential>();
  readonly #held = new Map<string, ReadonlySet<string>>();
  /** `mtls_credential`s by endpoint: `[ref, name]`, in configuration order. */
  readonly #mtls = new Map<string, [string, string][]>();
  readonly #misplacedDeny: boolean;
  readonly #secrets: SecretCache;
  readonly #log: Logger;
  /**
   * By endpoint and value set. Holds secret values, so it is emptied whenever the secret cache
   * forgets any: a value never outlives the cache's own idle limit here.
   */
  readonly #scrubbers: CompiledScrubbers;
  readonly #unsubscribe: () => void;
  /** Signing for `aws` endpoints, and EKS tokens. */
  readonly #aws: AwsCredentials;
  /** `aws_credential`s bound to kubernetes endpoints: their bearer token is minted, not stored. */
  readonly #eksRefs = new Set<string>();
  /** `eks_cluster` of kubernetes endpoints that set it. */
  readonly #eksClusters = new Map<string, string>();
  /** Access tokens of `gcp_service_account` and `oauth_refresh` credentials. */
  readonly #tokens: OAuthTokens;

  constructor(config: Config, secrets: SecretCache, log: Logger) {
    this.#aws = new AwsCredentials(config, secrets, log);
    this.#tokens = new OAuthTokens(config, secrets, log);
    for (const e of config.endpoints.values()) {
      if (isKubernetesEndpoint(e) && e.eksCluster) this.#eksClusters.set(e.name, e.eksCluster);
    }
    for (const [ref, credential] of config.credentials) {
      if (HTTP_KINDS.has(credential.kind)) this.#byRef.set(ref, injectable(ref, credential));
      if (this.#tokens.has(ref)) {
        // A minted access token, injected as a bearer token; on a cluster on every request.
        const cluster = credential.endpoints.some((e) => {
          const endpoint = config.endpoints.get(e);
          return endpoint !== undefined && isKubernetesEndpoint(endpoint);
        });
        const base = injectable(ref, credential);
        this.#byRef.set(ref, {
          ...base,
          kind: "bearer_token",
          inject: cluster ? "always" : base.inject,
        });
      }
      if (credential.kind === "aws_credential") {
        const clusters = credential.endpoints.filter((e) => {
          const endpoint = config.endpoints.get(e);
          return endpoint !== undefined && isKubernetesEndpoint(endpoint);
        });
        // EKS: the token is set on every request, as a k8s_bearer_token would be. Elsewhere
        // its placeholder secret never travels (it keys the agent's signature): found in a
        // request, it is misplaced.
        if (clusters.length > 0) this.#eksRefs.add(ref);
        this.#byRef.set(ref, {
          ...injectable(ref, credential),
          kind: "bearer_token",
          inject: clusters.length > 0 ? "always" : "placeholder",
          endpoints: clusters,
        });
      }
      if (credential.kind !== "mtls_credential") continue;
      for (const endpoint of credential.endpoints) {
        const list = this.#mtls.get(endpoint) ?? [];
        list.push([ref, credential.name]);
        this.#mtls.set(endpoint, list);
      }
    }
    this.#injector = new HttpInjector([...this.#byRef.values()]);
    for (const profile of config.profiles.values()) {
      this.#held.set(profile.name, new Set(profile.credentials));
    }
    this.#misplacedDeny = config.defaults.misplacedPlaceholder === "deny";
    this.#secrets = secrets;
    this.#log = log;
    this.#scrubbers = new CompiledScrubbers({ idleMs: secrets.idleMs });
    this.#unsubscribe = secrets.onForget(() => this.#scrubbers.clear());
  }

  /** Stops following the secret cache (the config was replaced) and drops compiled scrubbers. */
  close(): void {
    this.#aws.close();
    this.#tokens.close();
    this.#unsubscribe();
    this.#scrubbers.clear();
  }

  /** Compiled scrubbers in memory, and how many were compiled so far (for tests). */
  get compiledScrubbers(): { held: number; compiles: number } {
    return { held: this.#scrubbers.size, compiles: this.#scrubbers.compiles };
  }

  /** Whether any HTTPS credential is configured (no hook work otherwise). */
  get empty(): boolean {
    return this.#byRef.size === 0;
  }

  /** The proxy's `credentials` hook. Never throws: problems become a refusal. */
  async use(
    agent: AgentFacts,
    endpoint: string | null,
    request: HttpRequestParts,
  ): Promise<HttpCredentialUse> {
    const held = this.#held.get(agent.profile) ?? NONE;
    const plan = this.#injector.plan(endpoint ?? "", held, request);
    if (plan.misplaced.length > 0) {
      // The agent sees only which credential; the operator also learns where and why.
      this.#log.log("warn", `misplaced placeholder: ${plan.misplacedDetail.join("; ")}`, {
        agent: agent.name,
        endpoint: endpoint ?? "(passthrough)",
      });
    }
    if (this.#aws.handles(endpoint)) {
      // Signed, not substituted; other credentials' placeholders are still reported.
      const signed = await this.#aws.use(agent, endpoint!, request, held);
      return {
        ...signed,
        placeholders: [...new Set([...plan.placeholders, ...signed.placeholders])].sort(),
        misplaced: [...new Set([...plan.misplaced, ...signed.misplaced])].sort(),
        unknown: plan.unknown,
      };
    }
    let refusal: string | null = null;
    // Passthrough traffic meets no rule, so the misplaced-placeholder default is applied here.
    if (endpoint === null && plan.misplaced.length > 0 && this.#misplacedDeny) {
      refusal = misplacedPlaceholderReason(plan.misplaced);
    }
    const values = new Map<string, string>();
    for (const ref of plan.needs) {
      if (refusal !== null) break;
      const value = this.#heldSecret(ref) ??
        await this.#secret(ref, agent, { endpoint: endpoint ?? "" });
      if (typeof value === "string") values.set(ref, value);
      else refusal = value.refusal;
    }
    let clientCertificate: ClientCertificate | null = null;
    // Most endpoints hold no mtls_credential: no call (and no await) for them.
    if (refusal === null && endpoint !== null && this.#mtls.has(endpoint)) {
      const cert = await this.#clientCertificate(endpoint, held, agent);
      if (cert && "refusal" in cert) refusal = cert.refusal;
      else clientCertificate = cert;
    }
    let template: Scrubber | null = null;
    if (refusal === null && plan.scrub.length > 0) {
      const scrubbed: (string | null)[] = [];
      for (const ref of plan.scrub) {
        // An EKS token not minted for this request was never sent: nothing to scrub for it.
        const value = values.get(ref) ??
          (this.#eksRefs.has(ref)
            ? null
            : this.#heldSecret(ref) ?? await this.#secret(ref, agent, { purpose: "scrub" }));
        // A secret the vault does not hold cannot be echoed: nothing to scrub for it.
        scrubbed.push(typeof value === "string" ? value : null);
      }
      // The endpoint fixes the refs and their order, so the values alone tell sets apart.
      template = this.#scrubbers.get(endpoint ?? "", scrubbed, () => {
        const forms = plan.scrub.flatMap((ref, i) => {
          const value = scrubbed[i];
          return value === null ? [] : scrubForms(this.#byRef.get(ref)!, value);
        });
        return forms.length > 0 ? new Scrubber(forms) : null;
      });
    }
    return {
      placeholders: plan.placeholders,
      misplaced: plan.misplaced,
      unknown: plan.unknown,
      refusal,
      apply: () => plan.apply(values),
      scrubber: () => template ? new Scrubber(template) : null,
      clientCertificate,
    };
  }

  /** The first `mtls_credential` on `endpoint` the profile holds, read from its two slots. */
  async #clientCertificate(
    endpoint: string,
    held: ReadonlySet<string>,
    agent: AgentFacts,
  ): Promise<ClientCertificate | { refusal: string } | null> {
    const found = this.#mtls.get(endpoint)?.find(([ref]) => held.has(ref));
    if (!found) return null;
    const name = found[1];
    const certPem = await this.#secret(found[0], agent, { slot: MTLS_SLOTS.cert, name });
    if (typeof certPem !== "string") return certPem;
    const keyPem = await this.#secret(found[0], agent, { slot: MTLS_SLOTS.key, name });
    if (typeof keyPem !== "string") return keyPem;
    return { certPem, keyPem };
  }

  /**
   * A vault credential's value when the secret cache holds it, read without a promise (most
   * requests); `undefined` for minted tokens and values only {@linkcode #secret} can read.
   */
  #heldSecret(ref: string): string | undefined {
    if (this.#tokens.has(ref) || this.#eksRefs.has(ref)) return undefined;
    try {
      return this.#secrets.held(this.#byRef.get(ref)?.name ?? ref);
    } catch {
      // The vault could not be checked for changes: `#secret` reads it, and refuses if it must.
      return undefined;
    }
  }

  /** A credential's vault value for `agent`'s request, or the refusal when it cannot be read. */
  async #secret(
    ref: string,
    agent: AgentFacts,
    { purpose = "inject", slot, name: knownName, endpoint }: SecretOptions = {},
  ): Promise<string | { refusal: string }> {
    const name = knownName ?? this.#byRef.get(ref)?.name ?? ref;
    if (this.#tokens.has(ref)) {
      // A token not fetched for this request was never sent: nothing to scrub for it.
      if (purpose === "scrub") return { refusal: "" };
      return await this.#tokens.token(ref, agent);
    }
    if (this.#eksRefs.has(ref)) {
      const cluster = this.#eksClusters.get(endpoint ?? "");
      if (cluster === undefined) {
        this.#log.log(
          "warn",
          `credential '${name}' is bound to endpoint '${endpoint}', which sets no eks_cluster`,
          {
            agent: agent.name,
          },
        );
        return {
          refusal: `endpoint '${endpoint}' sets no eks_cluster: no EKS token can be minted`,
        };
      }
      return await this.#aws.eksToken(ref, cluster, agent);
    }
    try {
      const value = await this.#secrets.get(name, slot);
      if (value !== null) return value;
      // Only a request that needs the value is refused and logged; start-up already warned.
      if (purpose === "inject") {
        const where = slot ? ` slot '${slot}'` : "";
        this.#log.log("warn", `credential '${name}'${where} has no value in the vault`, {
          agent: agent.name,
          fix: `clawpatrol vault set ${name}${slot ? ` --slot ${slot}` : ""}`,
        });
      }
      return { refusal: `credential '${name}' is not available on the gateway` };
    } catch (err) {
      // VaultError messages name the credential and never carry a value.
      this.#log.log("error", `credential '${name}' could not be read: ${(err as Error).message}`, {
        agent: agent.name,
      });
      return { refusal: `credential '${name}' is not available on the gateway` };
    }
  }
}

/** Which value {@linkcode HttpCredentials} reads for a credential, and why. */
interface SecretOptions {
  /** `scrub` reads quietly: a missing value only means nothing to scrub. @default "inject" */
  purpose?: "inject" | "scrub";
  /** The vault slot (an mTLS credential's cert or key). */
  slot?: string;
  /** The credential's name when the caller already has it. @default its config name */
  name?: string;
  /** The endpoint the request goes to (an EKS token names its cluster). */
  endpoint?: string;
}

/** The injector's view of a configured credential. */
export function injectable(ref: string, credential: Credential): InjectableCredential {
  const s = credential.settings;
  const text = (key: string) => typeof s[key] === "string" ? s[key] as string : undefined;
  const where = Array.isArray(s.substitute_in) ? s.substitute_in : ["header"];
  // kubectl's bearer token is the agent's clawpatrol token (dropped at the listener), never a
  // placeholder: the cluster's token is set on every request the agent's profile holds it for.
  const kubernetes = credential.kind === "k8s_bearer_token";
  return {
    ref,
    name: credential.name,
    kind: kubernetes ? "bearer_token" : credential.kind as InjectableCredential["kind"],
    endpoints: credential.endpoints,
    placeholder: placeholderOf(credential),
    substituteIn: where as SubstituteLocation[],
    inject: kubernetes || text("inject") === "always" ? "always" : "placeholder",
    header: text("header"),
    prefix: text("prefix"),
    username: text("username"),
    param: text("param"),
  };
}
