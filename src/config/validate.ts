/**
 * Turns parsed HCL files into a typed {@linkcode Config}, collecting every problem with its line.
 *
 * @module
 */

import type { ConfigProblem, Protocol } from "../core/mod.ts";
import type { BlockReader, ConfigFile } from "./_fields.ts";
import { addUnique, collectBlocks, type FoundBlock, LABEL_COUNTS } from "./_blocks.ts";
import { BlockReader as Reader, listenAddress } from "./_fields.ts";
import { readTransparent } from "./_transparent.ts";
import { defaultReceipts, readReceipts } from "./_receipts.ts";
import { readExport } from "./_export.ts";
import { readStore } from "./_store.ts";
import { endpointResolver, readEndpoints } from "./_endpoints.ts";
import { readRules, type RuleScope } from "./_rules.ts";
import { credentialKinds, readCredentials } from "./_credentials.ts";
import { readApprovers } from "./_approvers.ts";
import { readTunnels } from "./_tunnels.ts";
import type { Config, DefaultsConfig, GatewayConfig, Profile, Rule } from "./types.ts";

export { placeholderOf } from "./_credentials.ts";

const TOP_LEVEL = new Set([
  "schema_version",
  "gateway",
  "defaults",
  "endpoint",
  "credential",
  "profile",
  "approver",
  "rule",
  "tunnel",
]);

/** Result of validation: a config when there were no problems. */
export type ValidationResult =
  | { ok: true; config: Config }
  | { ok: false; problems: ConfigProblem[]; rules: Rule[] };

/** Options for {@linkcode validateConfig}. */
export interface ValidateOptions {
  /**
   * The registered protocols: their families are the endpoint kinds a config may use, their
   * schemas read endpoint and credential blocks.
   */
  protocols: readonly Protocol[];
}

/**
 * Validates and merges parsed files (one config) into a {@linkcode Config}. Blocks are read in
 * dependency order (endpoints, credentials, approvers, profiles, rules) so each reference is
 * checked against what it names.
 */
export function validateConfig(
  path: string,
  files: ConfigFile[],
  options: ValidateOptions,
): ValidationResult {
  const problems: ConfigProblem[] = [];
  const blocks = collectFiles(path, files, problems);
  const byType = (t: string) => blocks.filter((b) => b.type === t);
  const gateway = single(byType("gateway"), problems, readGateway, defaultGateway());
  const defaults = single(byType("defaults"), problems, readDefaults, defaultDefaults());

  const kinds = credentialKinds(options.protocols);
  const endpoints = readEndpoints(byType("endpoint"), options.protocols);
  const endpointOf = endpointResolver(endpoints);
  const credentials = readCredentials(byType("credential"), { kinds, endpointOf });
  const credentialKindNames = [...kinds.keys()];
  const approvers = readApprovers(byType("approver"), {
    credentials,
    credentialKinds: credentialKindNames,
  });
  const scope: RuleScope = {
    // Endpoint protocol families, which are also the kinds of endpoint references.
    endpointKinds: options.protocols.map((p) => p.family),
    endpointOf,
    approvers,
    credentials,
    credentialKinds: credentialKindNames,
  };
  const tunnels = readTunnels(byType("tunnel"), gateway);
  const profiles = readProfiles(byType("profile"), scope);
  const rules = readRules(byType("rule"), scope);

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
      tunnels,
      rules,
    },
  };
}

/**
 * Every top-level block of every file, checking top-level names and `schema_version` (required
 * once, in any file) on the way.
 */
function collectFiles(path: string, files: ConfigFile[], problems: ConfigProblem[]): FoundBlock[] {
  const blocks: FoundBlock[] = [];
  let schemaVersionSeen = false;
  for (const file of files) {
    const top = new Reader(file, file.json, { problems });
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
      blocks.push(
        ...collectBlocks(file, key, {
          labelCount: LABEL_COUNTS[key],
          value: file.json[key],
          problems,
        }),
      );
    }
  }
  if (!schemaVersionSeen) {
    problems.push({
      file: files[0]?.file ?? path,
      line: 1,
      message: "missing 'schema_version = 1'",
    });
  }
  return blocks;
}

/** Reads every profile block; references that do not resolve are reported and left out. */
function readProfiles(blocks: readonly FoundBlock[], scope: RuleScope): Map<string, Profile> {
  const { endpointKinds, endpointOf, credentials, credentialKinds } = scope;
  const profiles = new Map<string, Profile>();
  for (const b of blocks) {
    const [name] = b.labels;
    const r = b.reader;
    const eps = (r.refList("endpoints", endpointKinds) ?? [])
      .filter((ref) => endpointOf(r, "endpoints", ref.kind, ref.name)).map((ref) => ref.name);
    const creds = (r.refList("credentials", credentialKinds) ?? [])
      .map((ref) => `${ref.kind}.${ref.name}`)
      .filter((key) => {
        if (credentials.has(key)) return true;
        r.problem(`'credentials' refers to undefined credential '${key}'`, "credentials");
        return false;
      });
    r.reportUnknown();
    addUnique(profiles, { name, endpoints: eps, credentials: creds, source: r.source }, {
      key: name,
      reader: r,
      what: "profile",
    });
  }
  return profiles;
}

function readGateway(r: BlockReader): GatewayConfig {
  const d = defaultGateway();
  const g: GatewayConfig = {
    stateDir: r.string("state_dir", d.stateDir) ?? d.stateDir,
    proxyListen: listenAddress(r, "proxy_listen", d.proxyListen),
    adminListen: listenAddress(r, "admin_listen", d.adminListen),
    mode: r.oneOf("mode", ["enforce", "observe"], "enforce"),
    dashboardConfigWrites: r.boolean("dashboard_config_writes", d.dashboardConfigWrites),
    limits: d.limits,
    receipts: readReceipts(r),
    export: readExport(r),
  };
  const transparent = readTransparent(r);
  if (transparent) g.transparent = transparent;
  const store = readStore(r);
  if (store) g.store = store;
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

const MAX_COMMIT_INTERVAL_MS = 1_000;

/**
 * The default listen addresses, the one place they are set (README "Default ports"). Not 8080:
 * kubectl without a kubeconfig falls back to localhost:8080, and would meet the proxy's 407s
 * instead of "connection refused"; 8080/8081 are also every dev server's first choice. 13128 is
 * squid's 3128 behind a 1, as the Postgres (15432) and Kubernetes (16443) examples are.
 */
export const DEFAULT_PROXY_LISTEN = "127.0.0.1:13128";
/** The default admin API address: beside the proxy. */
export const DEFAULT_ADMIN_LISTEN = "127.0.0.1:13129";

/** Gateway settings used when the block or a field is absent. */
export function defaultGateway(): GatewayConfig {
  return {
    stateDir: "./state",
    proxyListen: DEFAULT_PROXY_LISTEN,
    adminListen: DEFAULT_ADMIN_LISTEN,
    mode: "enforce",
    dashboardConfigWrites: false,
    receipts: defaultReceipts(),
    export: null,
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

function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  return problems.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
}
