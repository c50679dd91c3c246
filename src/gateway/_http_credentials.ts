/**
 * The proxy's credentials hook for one loaded config: which credentials an agent holds on an
 * endpoint, where its request carries placeholders, the secrets to swap in, and what responses
 * must be scrubbed of.
 *
 * @module
 */

import { type Config, type Credential, placeholderOf } from "../config/mod.ts";
import type { AgentFacts } from "../core/mod.ts";
import {
  HttpInjector,
  type InjectableCredential,
  Scrubber,
  scrubForms,
  type SubstituteLocation,
} from "../credentials/mod.ts";
import type { HttpCredentialUse, HttpRequestParts } from "../protocols/http/mod.ts";
import { misplacedPlaceholderReason } from "../policy/mod.ts";
import type { Logger } from "./log.ts";
import type { SecretCache } from "./_secrets.ts";

const HTTP_KINDS = new Set(["bearer_token", "header_token", "basic_auth", "query_token"]);
const NONE: ReadonlySet<string> = new Set();

/** Scrub forms computed once per secret value. */
interface Forms {
  value: string;
  forms: Array<[string, string]>;
}

/** Credential injection for HTTPS endpoints under one config. */
export class HttpCredentials {
  readonly #injector: HttpInjector;
  readonly #byRef = new Map<string, InjectableCredential>();
  readonly #held = new Map<string, ReadonlySet<string>>();
  readonly #misplacedDeny: boolean;
  readonly #secrets: SecretCache;
  readonly #log: Logger;
  readonly #forms = new Map<string, Forms>();

  constructor(config: Config, secrets: SecretCache, log: Logger) {
    for (const [ref, credential] of config.credentials) {
      if (HTTP_KINDS.has(credential.kind)) this.#byRef.set(ref, injectable(ref, credential));
    }
    this.#injector = new HttpInjector([...this.#byRef.values()]);
    for (const profile of config.profiles.values()) {
      this.#held.set(profile.name, new Set(profile.credentials));
    }
    this.#misplacedDeny = config.defaults.misplacedPlaceholder === "deny";
    this.#secrets = secrets;
    this.#log = log;
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
    let refusal: string | null = null;
    // Passthrough traffic meets no rule, so the misplaced-placeholder default is applied here.
    if (endpoint === null && plan.misplaced.length > 0 && this.#misplacedDeny) {
      refusal = misplacedPlaceholderReason(plan.misplaced);
    }
    const values = new Map<string, string>();
    for (const ref of plan.needs) {
      if (refusal !== null) break;
      const value = await this.#secret(ref, agent);
      if (typeof value === "string") values.set(ref, value);
      else refusal = value.refusal;
    }
    const forms: Array<[string, string]> = [];
    if (refusal === null) {
      for (const ref of plan.scrub) {
        const value = values.get(ref) ?? await this.#secret(ref, agent);
        // A secret the vault does not hold cannot be echoed: nothing to scrub for it.
        if (typeof value === "string") forms.push(...this.#formsOf(ref, value));
      }
    }
    return {
      placeholders: plan.placeholders,
      misplaced: plan.misplaced,
      refusal,
      apply: () => plan.apply(values),
      scrubber: () => forms.length > 0 ? new Scrubber(forms) : null,
    };
  }

  async #secret(ref: string, agent: AgentFacts): Promise<string | { refusal: string }> {
    const name = this.#byRef.get(ref)?.name ?? ref;
    try {
      const value = await this.#secrets.get(name);
      if (value !== null) return value;
      this.#log.log("warn", `credential '${name}' has no value in the vault`, {
        agent: agent.name,
        fix: `clawpatrol vault set ${name}`,
      });
      return { refusal: `credential '${name}' is not available on the gateway` };
    } catch (err) {
      // VaultError messages name the credential and never carry a value.
      this.#log.log("error", `credential '${name}' could not be read: ${(err as Error).message}`, {
        agent: agent.name,
      });
      return { refusal: `credential '${name}' is not available on the gateway` };
    }
  }

  #formsOf(ref: string, value: string): Array<[string, string]> {
    const known = this.#forms.get(ref);
    if (known && known.value === value) return known.forms;
    const forms = scrubForms(this.#byRef.get(ref)!, value);
    this.#forms.set(ref, { value, forms });
    return forms;
  }
}

/** The injector's view of a configured credential. */
export function injectable(ref: string, credential: Credential): InjectableCredential {
  const s = credential.settings;
  const text = (key: string) => typeof s[key] === "string" ? s[key] as string : undefined;
  const where = Array.isArray(s.substitute_in) ? s.substitute_in : ["header"];
  return {
    ref,
    name: credential.name,
    kind: credential.kind as InjectableCredential["kind"],
    endpoints: credential.endpoints,
    placeholder: placeholderOf(credential),
    substituteIn: where as SubstituteLocation[],
    inject: text("inject") === "always" ? "always" : "placeholder",
    header: text("header"),
    prefix: text("prefix"),
    username: text("username"),
    param: text("param"),
  };
}
