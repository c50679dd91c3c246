/**
 * Reads `approver KIND NAME` blocks.
 *
 * @module
 */

import type { BlockReader } from "./_fields.ts";
import { addUnique, type FoundBlock } from "./_blocks.ts";
import type { Approver, Credential } from "./types.ts";

/** Approver kinds, which are also the kinds of approver references. */
export const APPROVER_KINDS = ["llm_approver", "human_approver", "webhook_approver"];

/** What an approver block may refer to: the credentials read before it, and their kinds. */
export interface ApproverScope {
  credentials: Map<string, Credential>;
  /** Every credential kind, which are also the kinds of credential references. */
  credentialKinds: readonly string[];
}

/** Reads every approver block, keyed `kind.name`; unknown kinds and duplicates are reported. */
export function readApprovers(
  blocks: readonly FoundBlock[],
  scope: ApproverScope,
): Map<string, Approver> {
  const approvers = new Map<string, Approver>();
  for (const b of blocks) {
    const [kind, name] = b.labels;
    if (!APPROVER_KINDS.includes(kind)) {
      b.reader.problem(`unknown approver kind "${kind}": use one of ${APPROVER_KINDS.join(", ")}`);
      continue;
    }
    const a = readApprover(kind as Approver["kind"], name, b.reader, scope);
    addUnique(approvers, a, { key: `${kind}.${name}`, reader: b.reader, what: "approver" });
  }
  return approvers;
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
function readApprover(
  kind: Approver["kind"],
  name: string,
  r: BlockReader,
  { credentials, credentialKinds }: ApproverScope,
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
  const credRef = r.ref("credential", credentialKinds);
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
export const APPROVER_CREDENTIAL: Readonly<Record<Approver["kind"], string>> = {
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
