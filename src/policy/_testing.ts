/**
 * Test helpers for the policy tests: a fixed set of endpoints, credentials and approvers that
 * rules can refer to, and builders for actions with complete facts.
 *
 * @module
 */

import { loadConfigText } from "../config/mod.ts";
import type { Config } from "../config/mod.ts";
import type { Action, ProtocolFamily } from "../core/mod.ts";
import { compilePolicy } from "./compile.ts";
import { completeFacts } from "./complete.ts";
import type { Policy } from "./policy.ts";
import { protocolOf, PROTOCOLS } from "../protocols/registry.ts";

/** File name every test config is loaded as (problems name it). */
export const FILE = "policy_test.hcl";

/** Endpoints, credentials and approvers shared by every test config. */
export const PREAMBLE = `schema_version = 1
endpoint "https" "github" {
  hosts = ["api.github.com"]
}
endpoint "https" "openai" {
  hosts = ["api.openai.com"]
}
endpoint "postgres" "pg" {
  host   = "db.internal:5432"
  listen = "127.0.0.1:15432"
}
endpoint "kubernetes" "k8s" {
  server = "https://10.0.0.1:6443"
}
credential "bearer_token" "gh_pat" {
  endpoint = https.github
}
credential "bearer_token" "gh_bot" {
  endpoint = https.github
}
approver "human_approver" "ops" {
  slack_channel = "#agent-ops"
}
`;

/** Number of lines in {@linkcode PREAMBLE}, so tests can compute where their rules sit. */
export const PREAMBLE_LINES = PREAMBLE.split("\n").length - 1;

/** Loads the preamble plus `text` as one config file. */
export function configOf(text: string): Promise<Config> {
  return loadConfigText(FILE, PREAMBLE + text, { protocols: PROTOCOLS });
}

/** Loads and compiles the preamble plus `text`. */
export async function policyOf(text: string): Promise<Policy> {
  return compilePolicy(await configOf(text), { protocols: PROTOCOLS });
}

/** Attributes whose values are references, written bare. */
const REFERENCES = new Set(["endpoint", "endpoints", "approve", "credential"]);

/** HCL for one rule; `attrs` are written one per line, strings quoted unless references. */
export function rule(name: string, attrs: Record<string, string | number>): string {
  const lines = Object.entries(attrs).map(([k, v]) =>
    `  ${k} = ${typeof v === "number" || REFERENCES.has(k) ? v : quote(v)}`
  );
  return `rule "${name}" {\n${lines.join("\n")}\n}\n`;
}

/** An HCL string literal (HCL escapes match JSON's for what these tests use). */
function quote(value: string): string {
  return JSON.stringify(value);
}

const PROTOCOL_OF: Record<string, ProtocolFamily> = {
  github: "https",
  openai: "https",
  pg: "postgres",
  k8s: "kubernetes",
};

/** Options for {@linkcode actionOf}. */
export interface ActionOptions {
  credential?: string;
  unknown?: string[];
  agent?: { name: string; profile: string };
}

/** An action on `endpoint` with complete facts built from `partial`. */
export function actionOf(
  endpoint: string,
  partial: Record<string, Record<string, unknown>>,
  options: ActionOptions = {},
): Action {
  const protocol = PROTOCOL_OF[endpoint];
  return {
    protocol,
    endpoint,
    agent: options.agent ?? { name: "bot", profile: "oncall" },
    ...(options.credential ? { credential: options.credential } : {}),
    facts: completeFacts(protocolOf(protocol)!, partial),
    ...(options.unknown ? { unknown: options.unknown } : {}),
    summary: "test action",
  };
}

/** An HTTP action on the `github` endpoint. */
export function http(partial: Record<string, unknown>, options: ActionOptions = {}): Action {
  return actionOf("github", { http: { host: "api.github.com", ...partial } }, options);
}

/** A SQL action on the `pg` endpoint. */
export function sql(partial: Record<string, unknown>, options: ActionOptions = {}): Action {
  return actionOf("pg", { sql: partial }, options);
}
