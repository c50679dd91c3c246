/**
 * The annotated starter config `clawpatrol init` writes. It validates and serves as is.
 *
 * @module
 */

import { defaultGateway } from "../config/mod.ts";

/** Starter packs (in `rules/`) whose endpoints the starter config defines; appended to it. */
export const STARTER_PACKS = ["github_writes.hcl", "llm_apis.hcl"];

/** The directory holding the starter packs shipped with this build. */
export const PACKS_DIR = new URL("../../rules/", import.meta.url);

/** Where the starter config puts the gateway's own listeners. */
export interface StarterListen {
  /** `gateway.proxy_listen`, already checked to be `host:port`. @default {"127.0.0.1:13128"} */
  proxyListen?: string;
  /** `gateway.admin_listen`, already checked to be `host:port`. @default {"127.0.0.1:13129"} */
  adminListen?: string;
  /**
   * `gateway.state_dir`, absolute or relative to the config. @default {"./state"}, or
   * {@linkcode SERVICE_STATE_DIR} for a config under `/etc/` (the systemd service's layout)
   */
  stateDir?: string;
}

/** Where a service's state lives (systemd's StateDirectory): a config under /etc/ gets it. */
export const SERVICE_STATE_DIR = "/var/lib/clawpatrol";

/** Renders the starter `gateway.hcl`: settings, endpoints, a profile, then the packs' rules. */
export function starterConfig(
  packs: { name: string; text: string }[],
  listen: StarterListen = {},
): string {
  const defaults = defaultGateway();
  const head = `# clawpatrol gateway config. Reference: README.md ("Config reference").
# Check it with 'clawpatrol check'; the running gateway reloads it when you save.
schema_version = 1

gateway {
  # CA, vault and receipts live here; created by 'clawpatrol init' with mode 0700.
  state_dir    = "${listen.stateDir ?? "./state"}"
  # HTTP forward proxy agents use as HTTPS_PROXY.
  proxy_listen = "${listen.proxyListen ?? defaults.proxyListen}"
  # Admin API: /healthz, /status, /metrics. Keep it on loopback.
  admin_listen = "${listen.adminListen ?? defaults.adminListen}"
  # "observe" decides and records but never blocks: a safe way to trial new rules.
  mode         = "enforce"
}

defaults {
  # Hosts no endpoint claims are refused; requests no rule matches are denied.
  unknown_host     = "deny"
  no_match         = "deny"
  human_timeout    = "10m"
  human_on_timeout = "deny"
}

endpoint "https" "github" {
  hosts = ["api.github.com", "uploads.github.com"]
}

endpoint "https" "anthropic" {
  hosts = ["api.anthropic.com"]
}

endpoint "https" "openai" {
  hosts = ["api.openai.com"]
}

# The real token lives in the vault ('clawpatrol vault set github_pat'); agents get the
# placeholder {{github_pat}} in GITHUB_TOKEN and the gateway swaps the token in on allowed
# requests to GitHub only. Anywhere else the placeholder is denied.
credential "bearer_token" "github_pat" {
  endpoint = https.github
  env      = "GITHUB_TOKEN"
}

# Requests held for approval wait in the CLI queue until Slack is configured.
approver "human_approver" "ops" {
  timeout = "10m"
}

# What an agent enrolled with this profile may reach.
profile "default" {
  endpoints   = [https.github, https.anthropic, https.openai]
  credentials = [bearer_token.github_pat]
}
`;
  const body = packs.map((p) => `\n# ---- from rules/${p.name} ----\n${p.text.trim()}\n`).join("");
  return head + body;
}

/** Reads the starter packs shipped with this build. */
export async function readPacks(names: string[]): Promise<{ name: string; text: string }[]> {
  return await Promise.all(
    names.map(async (name) => ({ name, text: await Deno.readTextFile(new URL(name, PACKS_DIR)) })),
  );
}
