/**
 * Turns parsed HCL files into a typed {@linkcode Config}, collecting every problem with its line.
 *
 * @module
 */

import type { ConfigProblem, Protocol } from "../core/mod.ts";
import type { BlockReader, ConfigFile } from "./_fields.ts";
import { collectBlocks, type FoundBlock, LABEL_COUNTS } from "./_blocks.ts";
import { BlockReader as Reader, listenAddress } from "./_fields.ts";
import { readEndpoint, reportSharedHosts } from "./_endpoints.ts";
import { APPROVER_KINDS, readRule } from "./_rules.ts";
import { readApprover, readCredential } from "./_credentials.ts";
import {
  type Approver,
  type Config,
  type Credential,
  CREDENTIAL_KINDS,
  type DefaultsConfig,
  type Endpoint,
  type GatewayConfig,
  type Profile,
  type Rule,
  type Source,
} from "./types.ts";

const TOP_LEVEL = new Set([
  "schema_version",
  "gateway",
  "defaults",
  "endpoint",
  "credential",
  "profile",
  "approver",
  "rule",
]);

/** Result of validation: a config when there were no problems. */
export type ValidationResult =
  | { ok: true; config: Config }
  | { ok: false; problems: ConfigProblem[]; rules: Rule[] };

/** Options for {@linkcode validateConfig}. */
export interface ValidateOptions {
  /** The registered protocols: their families are the endpoint kinds a config may use. */
  protocols: readonly Protocol[];
}

/** Validates and merges parsed files (one config) into a {@linkcode Config}. */
export function validateConfig(
  path: string,
  files: ConfigFile[],
  options: ValidateOptions,
): ValidationResult {
  // Endpoint protocol families, which are also the kinds of endpoint references.
  const endpointKinds = options.protocols.map((p) => p.family);
  const problems: ConfigProblem[] = [];
  const blocks: FoundBlock[] = [];
  let schemaVersionSeen = false;

  for (const file of files) {
    const top = new Reader(file, [], 0, file.json, problems);
    for (const key of Object.keys(file.json)) {
      if (!TOP_LEVEL.has(key)) {
        top.problem(`unknown block or attribute '${key}'`, key);
        continue;
      }
      if (key === "schema_version") {
        schemaVersionSeen = true;
        const v = top.integer("schema_version", 1);
        if (v !== 1) top.problem(`unsupported schema_version ${v}: this build reads 1`, key);
        continue;
      }
      blocks.push(...collectBlocks(file, key, LABEL_COUNTS[key], file.json[key], problems));
    }
  }
  if (!schemaVersionSeen) {
    problems.push({
      file: files[0]?.file ?? path,
      line: 1,
      message: "missing 'schema_version = 1'",
    });
  }

  const byType = (t: string) => blocks.filter((b) => b.type === t);
  const gateway = single(byType("gateway"), problems, readGateway, defaultGateway());
  const defaults = single(byType("defaults"), problems, readDefaults, defaultDefaults());

  const endpoints = new Map<string, Endpoint>();
  for (const b of byType("endpoint")) {
    const [protocol, name] = b.labels;
    if (!endpointKinds.includes(protocol)) {
      b.reader.problem(
        `unknown endpoint protocol "${protocol}": use ${
          endpointKinds.map((k) => `"${k}"`).join(", ")
        }`,
      );
      continue;
    }
    const endpoint = readEndpoint(protocol, name, b.reader);
    if (!endpoint) continue;
    const existing = endpoints.get(name);
    if (existing) {
      b.reader.problem(
        `duplicate endpoint name '${name}' (first defined at ${existing.source.file}:${existing.source.line})`,
      );
      continue;
    }
    endpoints.set(name, endpoint);
  }
  reportSharedHosts(endpoints, byType("endpoint"));

  const endpointOf = (b: BlockReader, field: string, kind: string, name: string) => {
    const e = endpoints.get(name);
    if (!e) {
      b.problem(`'${field}' refers to undefined endpoint '${kind}.${name}'`, field);
      return undefined;
    }
    if (e.protocol !== kind) {
      b.problem(
        `'${field}' refers to '${kind}.${name}', but '${name}' is a ${e.protocol} endpoint`,
        field,
      );
      return undefined;
    }
    return e;
  };

  const credentials = new Map<string, Credential>();
  for (const b of byType("credential")) {
    const [kind, name] = b.labels;
    if (!(kind in CREDENTIAL_KINDS)) {
      b.reader.problem(
        `unknown credential kind "${kind}": use one of ${Object.keys(CREDENTIAL_KINDS).join(", ")}`,
      );
      continue;
    }
    const c = readCredential(kind, name, b.reader, endpointOf);
    // The vault stores values by name, and facts report placeholders by name: both must
    // identify one credential whatever its kind.
    const sameName = [...credentials.values()].find((o) => o.name === name && o.kind !== kind);
    if (sameName) {
      b.reader.problem(
        `credential name '${name}' is already used by credential "${sameName.kind}" "${name}" (${sameName.source.file}:${sameName.source.line}): names must be unique across kinds`,
      );
    }
    const placeholder = placeholderOf(c);
    const samePlaceholder = [...credentials.values()].find((o) =>
      o.name !== name && placeholderOf(o) === placeholder
    );
    if (samePlaceholder) {
      b.reader.problem(
        `placeholder "${placeholder}" is already used by credential "${samePlaceholder.kind}" "${samePlaceholder.name}": each placeholder must name one credential`,
        "placeholder",
      );
    }
    addUnique(credentials, `${kind}.${name}`, c, b.reader, "credential");
  }

  const approvers = new Map<string, Approver>();
  for (const b of byType("approver")) {
    const [kind, name] = b.labels;
    if (!APPROVER_KINDS.includes(kind)) {
      b.reader.problem(`unknown approver kind "${kind}": use one of ${APPROVER_KINDS.join(", ")}`);
      continue;
    }
    const a = readApprover(kind as Approver["kind"], name, b.reader, credentials);
    addUnique(approvers, `${kind}.${name}`, a, b.reader, "approver");
  }

  const profiles = new Map<string, Profile>();
  for (const b of byType("profile")) {
    const [name] = b.labels;
    const r = b.reader;
    const eps = (r.refList("endpoints", endpointKinds) ?? [])
      .filter((ref) => endpointOf(r, "endpoints", ref.kind, ref.name)).map((ref) => ref.name);
    const creds = (r.refList("credentials", Object.keys(CREDENTIAL_KINDS)) ?? [])
      .map((ref) => `${ref.kind}.${ref.name}`)
      .filter((key) => {
        if (credentials.has(key)) return true;
        r.problem(`'credentials' refers to undefined credential '${key}'`, "credentials");
        return false;
      });
    r.reportUnknown();
    addUnique(
      profiles,
      name,
      { name, endpoints: eps, credentials: creds, source: r.source },
      r,
      "profile",
    );
  }

  const rules: Rule[] = [];
  // Names are checked before validity so a duplicate of a broken rule is still reported.
  const ruleNames = new Map<string, Source>();
  for (const b of byType("rule")) {
    const name = b.labels[0];
    const existing = ruleNames.get(name);
    const rule = readRule(name, b.reader, rules.length, {
      endpointKinds,
      endpointOf,
      approvers,
      credentials,
    });
    if (existing) {
      b.reader.problem(
        `duplicate rule name '${name}' (first defined at ${existing.file}:${existing.line})`,
      );
      continue;
    }
    ruleNames.set(name, b.reader.source);
    if (rule) rules.push(rule);
  }

  if (problems.length > 0) return { ok: false, problems: sortProblems(problems), rules };
  return {
    ok: true,
    config: {
      path,
      files: [...new Set(files.flatMap((f) => [f.file, ...(f.includes ?? [])]))],
      gateway,
      defaults,
      endpoints,
      credentials,
      profiles,
      approvers,
      rules,
    },
  };
}

function readGateway(r: BlockReader): GatewayConfig {
  const d = defaultGateway();
  const g: GatewayConfig = {
    stateDir: r.string("state_dir", d.stateDir) ?? d.stateDir,
    proxyListen: listenAddress(r, "proxy_listen", d.proxyListen),
    adminListen: listenAddress(r, "admin_listen", d.adminListen),
    mode: r.oneOf("mode", ["enforce", "observe"], "enforce"),
    limits: d.limits,
  };
  const limits = r.raw("limits");
  if (limits !== undefined) {
    const bodies = Array.isArray(limits) ? limits : [limits];
    bodies.forEach((body, occurrence) => {
      // Nested block: reuse the reader machinery with the limits path.
      const lr = r.nested("limits", body, occurrence);
      if (occurrence > 0) lr.problem("defined more than once in one gateway block");
      const read = {
        bodyBufferBytes: lr.size("body_buffer", d.limits.bodyBufferBytes),
        receiptQueue: lr.integer("receipt_queue", d.limits.receiptQueue),
        receiptCommitIntervalMs: lr.duration(
          "receipt_commit_interval",
          d.limits.receiptCommitIntervalMs,
        ),
        receiptDurability: lr.oneOf(
          "receipt_durability",
          ["writes", "all"],
          d.limits.receiptDurability,
        ),
        maxConnectionsPerAgent: lr.integer(
          "max_connections_per_agent",
          d.limits.maxConnectionsPerAgent,
        ),
        maxUnauthenticatedConnections: lr.integer(
          "max_unauthenticated_connections",
          d.limits.maxUnauthenticatedConnections,
        ),
        handshakeTimeoutMs: lr.duration("handshake_timeout", d.limits.handshakeTimeoutMs),
        headerTimeoutMs: lr.duration("header_timeout", d.limits.headerTimeoutMs),
        idleTimeoutMs: lr.duration("idle_timeout", d.limits.idleTimeoutMs),
        upstreamTimeoutMs: lr.duration("upstream_timeout", d.limits.upstreamTimeoutMs),
      };
      for (
        const [field, value] of [
          ["receipt_queue", read.receiptQueue],
          ["max_connections_per_agent", read.maxConnectionsPerAgent],
          ["max_unauthenticated_connections", read.maxUnauthenticatedConnections],
          ["handshake_timeout", read.handshakeTimeoutMs],
        ] as const
      ) {
        if (value < 1) lr.problem(`'${field}' must be at least 1`, field);
      }
      // It bounds how long a forwarded action's receipt may wait in memory for its fsync.
      if (read.receiptCommitIntervalMs > MAX_COMMIT_INTERVAL_MS) {
        lr.problem("'receipt_commit_interval' must be at most 1s", "receipt_commit_interval");
      }
      if (occurrence === 0) g.limits = read;
      lr.reportUnknown();
    });
  }
  r.reportUnknown();
  return g;
}

function readDefaults(r: BlockReader): DefaultsConfig {
  const d = defaultDefaults();
  const out: DefaultsConfig = {
    unknownHost: r.oneOf("unknown_host", ["deny", "passthrough"], d.unknownHost),
    noMatch: r.oneOf("no_match", ["deny", "allow"], d.noMatch),
    humanTimeoutMs: r.duration("human_timeout", d.humanTimeoutMs),
    humanOnTimeout: r.oneOf("human_on_timeout", ["deny", "allow"], d.humanOnTimeout),
    llmFailMode: r.oneOf("llm_fail_mode", ["closed", "open"], d.llmFailMode),
    llmCacheTtlMs: r.duration("llm_cache_ttl", d.llmCacheTtlMs),
    misplacedPlaceholder: r.oneOf(
      "misplaced_placeholder",
      ["deny", "allow"],
      d.misplacedPlaceholder,
    ),
  };
  r.reportUnknown();
  return out;
}

/** The string an agent sends in place of the credential's secret. */
export function placeholderOf(credential: Credential): string {
  const custom = credential.settings.placeholder;
  return typeof custom === "string" ? custom : `{{${credential.name}}}`;
}

const MAX_COMMIT_INTERVAL_MS = 1_000;

/** Gateway settings used when the block or a field is absent. */
export function defaultGateway(): GatewayConfig {
  return {
    stateDir: "./state",
    proxyListen: "127.0.0.1:8080",
    adminListen: "127.0.0.1:8081",
    mode: "enforce",
    limits: {
      bodyBufferBytes: 1024 * 1024,
      receiptQueue: 10_000,
      receiptCommitIntervalMs: 50,
      receiptDurability: "writes",
      maxConnectionsPerAgent: 256,
      maxUnauthenticatedConnections: 256,
      handshakeTimeoutMs: 10_000,
      headerTimeoutMs: 10_000,
      idleTimeoutMs: 120_000,
      upstreamTimeoutMs: 600_000,
    },
  };
}

/** Defaults used when the block or a field is absent: every choice fails closed. */
export function defaultDefaults(): DefaultsConfig {
  return {
    unknownHost: "deny",
    noMatch: "deny",
    humanTimeoutMs: 600_000,
    humanOnTimeout: "deny",
    llmFailMode: "closed",
    llmCacheTtlMs: 300_000,
    misplacedPlaceholder: "deny",
  };
}

function single<T>(
  found: FoundBlock[],
  problems: ConfigProblem[],
  read: (r: BlockReader) => T,
  fallback: T,
): T {
  if (found.length === 0) return fallback;
  for (const extra of found.slice(1)) {
    problems.push({
      file: extra.file.file,
      line: extra.reader.source.line,
      message: `${extra.type}: defined more than once (first at ${found[0].file.file}:${
        found[0].reader.source.line
      })`,
    });
  }
  return read(found[0].reader);
}

function addUnique<T extends { source: { file: string; line: number } }>(
  map: Map<string, T>,
  key: string,
  value: T,
  r: BlockReader,
  what: string,
): void {
  const existing = map.get(key);
  if (existing) {
    r.problem(
      `duplicate ${what} '${key}' (first defined at ${existing.source.file}:${existing.source.line})`,
    );
    return;
  }
  map.set(key, value);
}

function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  return problems.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
}
