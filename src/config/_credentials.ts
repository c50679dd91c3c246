/**
 * Reads `credential KIND NAME` and `approver KIND NAME` blocks.
 *
 * @module
 */

import type { BlockReader } from "./_fields.ts";
import { type Approver, type Credential, CREDENTIAL_KINDS, type Endpoint } from "./types.ts";

/** Settings each credential kind accepts besides endpoint(s). */
const CREDENTIAL_SETTINGS: Record<string, string[]> = {
  bearer_token: [],
  header_token: ["header", "prefix"],
  basic_auth: ["username"],
  query_token: ["param"],
  postgres_credential: ["user", "database"],
  k8s_bearer_token: [],
  mtls_credential: [],
  api_key: [],
  slack_tokens: [],
  webhook_secret: [],
};

const REQUIRED_SETTINGS: Record<string, string[]> = {
  header_token: ["header"],
  basic_auth: ["username"],
  query_token: ["param"],
  postgres_credential: ["user"],
};

/** Settings every endpoint-bound credential accepts. */
const COMMON = ["env", "placeholder", "inject"];
const LIST_SETTINGS = ["substitute_in"];

type EndpointOf = (
  r: BlockReader,
  field: string,
  kind: string,
  name: string,
) => Endpoint | undefined;

/** Reads one credential block; endpoint references must match the kind's protocol family. */
export function readCredential(
  kind: string,
  name: string,
  r: BlockReader,
  endpointOf: EndpointOf,
): Credential {
  const family = CREDENTIAL_KINDS[kind];
  const endpoints: string[] = [];
  if (family) {
    const one = r.ref("endpoint", [family]);
    const many = r.refList("endpoints", [family]);
    if (one && many) r.problem("set 'endpoint' or 'endpoints', not both", "endpoints");
    if (!r.has("endpoint") && !r.has("endpoints")) {
      r.problem(`missing required attribute 'endpoint' (a ${family} endpoint)`);
    }
    for (const ref of one ? [one] : many ?? []) {
      const field = one ? "endpoint" : "endpoints";
      if (endpointOf(r, field, ref.kind, ref.name)) endpoints.push(ref.name);
    }
  }
  const settings: Record<string, string | string[]> = {};
  for (const key of [...CREDENTIAL_SETTINGS[kind], ...(family ? COMMON : [])]) {
    const v = r.string(key);
    if (v !== undefined) settings[key] = v;
  }
  for (const key of REQUIRED_SETTINGS[kind] ?? []) {
    if (!(key in settings)) r.problem(`missing required attribute '${key}'`);
  }
  if (family) {
    for (const key of LIST_SETTINGS) {
      const v = r.stringList(key);
      if (v === undefined) continue;
      const bad = v.filter((x) => !["header", "query", "path", "body"].includes(x));
      if (bad.length > 0) {
        r.problem(`'${key}' entries must be header, query, path or body, got "${bad[0]}"`, key);
      }
      settings[key] = v;
    }
    const placeholder = settings.placeholder;
    if (typeof placeholder === "string" && !/^[\x21-\x7e]{6,200}$/.test(placeholder)) {
      // Short or spaced placeholders would match ordinary text in bodies and headers.
      r.problem(
        "'placeholder' must be 6 to 200 printable characters without spaces",
        "placeholder",
      );
    }
    if ("inject" in settings && !["always", "placeholder"].includes(settings.inject as string)) {
      r.problem(`'inject' must be "always" or "placeholder", got "${settings.inject}"`, "inject");
    }
  }
  r.reportUnknown();
  return { kind, name, endpoints, settings, source: r.source };
}

const APPROVER_SETTINGS: Record<Approver["kind"], { strings: string[]; required: string[] }> = {
  llm_approver: {
    strings: ["provider", "model", "policy", "base_url", "role"],
    required: ["provider", "model"],
  },
  human_approver: { strings: ["slack_channel"], required: [] },
  webhook_approver: { strings: ["url"], required: ["url"] },
};

/** Reads one approver block. Credential references must name defined credentials. */
export function readApprover(
  kind: Approver["kind"],
  name: string,
  r: BlockReader,
  credentials: Map<string, Credential>,
): Approver {
  const spec = APPROVER_SETTINGS[kind];
  const settings: Record<string, string | number | string[]> = {};
  for (const key of spec.strings) {
    const v = r.string(key);
    if (v !== undefined) settings[key] = v;
  }
  for (const key of spec.required) {
    if (!(key in settings) && !r.has(key)) r.problem(`missing required attribute '${key}'`);
  }
  if (kind === "llm_approver") {
    if (settings.provider && !["anthropic", "openai"].includes(settings.provider as string)) {
      r.problem(
        `'provider' must be "anthropic" or "openai", got "${settings.provider}"`,
        "provider",
      );
    }
    if (settings.role && !["judge", "deny_only"].includes(settings.role as string)) {
      r.problem(`'role' must be "judge" or "deny_only", got "${settings.role}"`, "role");
    }
  }
  if (kind === "human_approver") {
    const who = r.stringList("approvers");
    if (who) settings.approvers = who;
    const quorum = r.integer("quorum", 1);
    if (quorum < 1) r.problem("'quorum' must be at least 1", "quorum");
    settings.quorum = quorum;
  }
  if (kind === "webhook_approver" && typeof settings.url === "string") {
    if (!/^https?:\/\/\S+$/.test(settings.url)) {
      r.problem(`'url' must be an http(s) URL, got "${settings.url}"`, "url");
    }
  }
  const credRef = r.ref("credential", Object.keys(CREDENTIAL_KINDS));
  if (credRef) {
    const key = `${credRef.kind}.${credRef.name}`;
    if (!credentials.has(key)) {
      r.problem(`'credential' refers to undefined credential '${key}'`, "credential");
    }
    settings.credential = key;
  }
  checkApproverCredential(kind, settings, r);
  const timeoutMs = r.has("timeout") ? r.duration("timeout", 0) : null;
  r.reportUnknown();
  return { kind, name, timeoutMs, settings, source: r.source };
}

/** The credential kind each approver kind reads its secret from. */
const APPROVER_CREDENTIAL: Record<Approver["kind"], string> = {
  llm_approver: "api_key",
  human_approver: "slack_tokens",
  webhook_approver: "webhook_secret",
};

/**
 * An approver that cannot work as configured is a load error, not a deny at the first held
 * request: a webhook needs its signing secret, a hosted LLM API its key.
 */
function checkApproverCredential(
  kind: Approver["kind"],
  settings: Record<string, string | number | string[]>,
  r: BlockReader,
): void {
  const ref = typeof settings.credential === "string" ? settings.credential : undefined;
  const want = APPROVER_CREDENTIAL[kind];
  if (ref && !ref.startsWith(`${want}.`)) {
    const article = /^[aeiou]/.test(want) ? "an" : "a";
    r.problem(
      `'credential' of a ${kind} must be ${article} ${want} credential, got '${ref}'`,
      "credential",
    );
  }
  if (kind === "webhook_approver" && !ref) {
    r.problem(
      `missing required attribute 'credential' (a webhook_secret: requests are signed with it)`,
    );
  }
  if (kind === "llm_approver") {
    const url = settings.base_url;
    if (typeof url === "string" && !/^https?:\/\/\S+$/.test(url)) {
      r.problem(`'base_url' must be an http(s) URL, got "${url}"`, "base_url");
    }
    if (!ref && url === undefined) {
      r.problem(
        `missing required attribute 'credential' (an api_key for the ${
          settings.provider ?? "hosted"
        } API; omit it only with a local 'base_url')`,
      );
    }
  }
}
