/**
 * Reads `credential KIND NAME` blocks. The kinds bound to endpoints, and the settings each takes,
 * are the ones the registered protocols declare; the kinds approvers read are config's own.
 *
 * @module
 */

import type { CredentialSchema, Protocol, ProtocolFamily } from "../core/mod.ts";
import type { BlockReader } from "./_fields.ts";
import { addUnique, type FoundBlock } from "./_blocks.ts";
import type { EndpointOf } from "./_endpoints.ts";
import { APPROVER_CREDENTIAL } from "./_approvers.ts";
import type { Credential } from "./types.ts";

/** A credential kind: the family it injects into, and the settings its block takes. */
export interface CredentialKind {
  /** `null`: read by approvers, not bound to endpoints. */
  family: ProtocolFamily | null;
  /** Families whose endpoints it binds to: `family` first, then the schema's `alsoFamilies`. */
  families: readonly ProtocolFamily[];
  settings: readonly string[];
  required: readonly string[];
  check?: CredentialSchema["check"];
}

/** Settings every endpoint-bound credential accepts. */
const COMMON = ["env", "placeholder", "inject"];
const LIST_SETTINGS = ["substitute_in"];

/**
 * Every credential kind by name: the registered protocols' in registry order, then those
 * approvers read their secrets from. Two protocols declaring one kind is a registry mistake.
 */
export function credentialKinds(protocols: readonly Protocol[]): Map<string, CredentialKind> {
  const kinds = new Map<string, CredentialKind>();
  const declare = (kind: string, declared: CredentialKind) => {
    const other = kinds.get(kind);
    if (other) {
      throw new TypeError(
        `Cannot register credential kind '${kind}': declared by '${other.family}' and '${declared.family}'`,
      );
    }
    kinds.set(kind, declared);
  };
  for (const p of protocols) {
    for (const [kind, schema] of Object.entries(p.credentials ?? {})) {
      declare(kind, {
        family: p.family,
        families: [p.family, ...schema.alsoFamilies ?? []],
        settings: schema.settings,
        required: schema.required ?? [],
        check: schema.check,
      });
    }
  }
  for (const kind of new Set(Object.values(APPROVER_CREDENTIAL))) {
    declare(kind, { family: null, families: [], settings: [], required: [] });
  }
  return kinds;
}

/** What a credential block may refer to. */
export interface CredentialScope {
  kinds: ReadonlyMap<string, CredentialKind>;
  endpointOf: EndpointOf;
}

/**
 * Reads every credential block, keyed `kind.name`. Reports unknown kinds, duplicates, a name
 * reused across kinds and a placeholder two credentials share.
 */
export function readCredentials(
  blocks: readonly FoundBlock[],
  scope: CredentialScope,
): Map<string, Credential> {
  const credentials = new Map<string, Credential>();
  for (const b of blocks) {
    const [kind, name] = b.labels;
    const declared = scope.kinds.get(kind);
    if (!declared) {
      b.reader.problem(
        `unknown credential kind "${kind}": use one of ${[...scope.kinds.keys()].join(", ")}`,
      );
      continue;
    }
    const c = readCredential(b, { declared, endpointOf: scope.endpointOf });
    reportSharedIdentity(c, credentials, b.reader);
    addUnique(credentials, c, { key: `${kind}.${name}`, reader: b.reader, what: "credential" });
  }
  return credentials;
}

/**
 * The vault stores values by name, and facts report placeholders by name: both must identify
 * one credential whatever its kind.
 */
function reportSharedIdentity(
  c: Credential,
  credentials: Map<string, Credential>,
  r: BlockReader,
): void {
  const { kind, name } = c;
  const sameName = [...credentials.values()].find((o) => o.name === name && o.kind !== kind);
  if (sameName) {
    r.problem(
      `credential name '${name}' is already used by credential "${sameName.kind}" "${name}" (${sameName.source.file}:${sameName.source.line}): names must be unique across kinds`,
    );
  }
  const placeholder = placeholderOf(c);
  const samePlaceholder = [...credentials.values()].find((o) =>
    o.name !== name && placeholderOf(o) === placeholder
  );
  if (samePlaceholder) {
    r.problem(
      `placeholder "${placeholder}" is already used by credential "${samePlaceholder.kind}" "${samePlaceholder.name}": each placeholder must name one credential`,
      "placeholder",
    );
  }
}

/** How to read one credential block besides the block itself. */
interface ReadCredentialOptions {
  /** The block's kind, as registered. */
  declared: CredentialKind;
  endpointOf: EndpointOf;
}

/** Reads one credential block; endpoint references must match the kind's protocol family. */
function readCredential(
  { labels: [kind, name], reader: r }: FoundBlock,
  { declared, endpointOf }: ReadCredentialOptions,
): Credential {
  const { family, families } = declared;
  const endpoints: string[] = [];
  if (family) {
    const one = r.ref("endpoint", families);
    const many = r.refList("endpoints", families);
    if (one && many) r.problem("set 'endpoint' or 'endpoints', not both", "endpoints");
    if (!r.has("endpoint") && !r.has("endpoints")) {
      r.problem(`missing required attribute 'endpoint' (a ${families.join(" or ")} endpoint)`);
    }
    for (const ref of one ? [one] : many ?? []) {
      const field = one ? "endpoint" : "endpoints";
      if (endpointOf(r, field, ref.kind, ref.name)) endpoints.push(ref.name);
    }
  }
  const settings: Record<string, string | string[]> = {};
  for (const key of [...declared.settings, ...(family ? COMMON : [])]) {
    const v = r.string(key);
    if (v !== undefined) settings[key] = v;
  }
  for (const key of declared.required) {
    if (!(key in settings)) r.problem(`missing required attribute '${key}'`);
  }
  if (family) readEndpointSettings(r, settings);
  declared.check?.(settings, (message, field) => r.problem(message, field));
  r.reportUnknown();
  return { kind, name, endpoints, settings, source: r.source };
}

/** Settings of endpoint-bound credentials: where to substitute, the placeholder, when to inject. */
function readEndpointSettings(r: BlockReader, settings: Record<string, string | string[]>): void {
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

/** The string an agent sends in place of the credential's secret. */
export function placeholderOf(credential: Credential): string {
  const custom = credential.settings.placeholder;
  return typeof custom === "string" ? custom : `{{${credential.name}}}`;
}
