/**
 * `clawpatrol agent add NAME --profile P | list [--json] | revoke NAME | rotate NAME`: enrolled
 * agents and their tokens. A token is printed once, as the last line of stdout, and only its
 * SHA-256 is kept.
 *
 * @module
 */

import { type AgentRecord, isAgentName } from "../agents/mod.ts";
import type { Config } from "../config/mod.ts";
import { parseCommand, UsageError } from "./_args.ts";
import { openAgents, type OpenedAgents } from "./_agent_env.ts";
import { err, out } from "./_io.ts";
import { type TunnelColumns, tunnelColumns } from "./_agent_tunnels.ts";
import { writePrivateFile } from "./_kubeconfig.ts";
import {
  checkWireguard,
  enrolWireguard,
  revokeWireguard,
  type WireguardRequest,
} from "./_wireguard_enrol.ts";

const SUBCOMMANDS = "add, list, revoke or rotate";

/**
 * Runs `clawpatrol agent SUBCOMMAND`.
 *
 * @example
 * ```ts
 * await agentCommand(["add", "oncall-bot", "--profile", "default"]); // prints the token once
 * ```
 */
export async function agentCommand(args: string[]): Promise<number> {
  const { values, positionals, global } = parseCommand(args, {
    profile: { type: "string", short: "p" },
    json: { type: "boolean" },
    wireguard: { type: "boolean" },
    tunnel: { type: "string" },
    "public-key": { type: "string" },
    "full-tunnel": { type: "boolean" },
    endpoint: { type: "string" },
    output: { type: "string" },
  });

  const [sub, ...rest] = positionals as [string | undefined, ...string[]];
  for (const option of ["wireguard", "tunnel", "public-key", "full-tunnel", "endpoint", "output"]) {
    if (values[option] === undefined) continue;
    if (sub !== "add") throw new UsageError(`--${option} is for 'agent add', not 'agent ${sub}'`);
    if (values.wireguard !== true) throw new UsageError(`--${option} goes with --wireguard`);
  }
  if (sub === undefined) throw new UsageError(`agent needs a subcommand: ${SUBCOMMANDS}`);
  if (!["add", "list", "revoke", "rotate"].includes(sub)) {
    throw new UsageError(`unknown agent subcommand '${sub}': use ${SUBCOMMANDS}`);
  }
  if (values.profile !== undefined && sub !== "add") {
    throw new UsageError(`--profile is for 'agent add', not 'agent ${sub}'`);
  }
  if (values.json !== undefined && sub !== "list") {
    throw new UsageError(`--json is for 'agent list', not 'agent ${sub}'`);
  }
  if (sub === "list") {
    if (rest.length > 0) throw new UsageError("agent list takes no arguments");
  } else {
    if (rest.length !== 1) throw new UsageError(`agent ${sub} takes one agent NAME`);
    if (!isAgentName(rest[0])) {
      throw new UsageError(
        `invalid agent name '${
          rest[0]
        }': use 1 to 63 lowercase letters, digits, '.', '_' or '-', ` +
          `starting with a letter or digit`,
      );
    }
  }
  const name = rest[0];
  if (sub === "add") {
    if (typeof values.profile !== "string") {
      throw new UsageError("agent add needs --profile PROFILE");
    }
  }
  const opened = await openAgents(global);
  try {
    return await agentSubcommand(opened, sub, name, values);
  } finally {
    await opened.close();
  }
}

async function agentSubcommand(
  opened: OpenedAgents,
  sub: string,
  name: string,
  values: Record<string, unknown>,
): Promise<number> {
  const { config, registry, admin } = opened;
  switch (sub) {
    case "add": {
      const profile = values.profile as string;
      if (!config.profiles.has(profile)) throw new UsageError(unknownProfile(profile, config));
      const wireguard: WireguardRequest | undefined = values.wireguard
        ? {
          tunnel: values.tunnel as string | undefined,
          publicKey: values["public-key"] as string | undefined,
          fullTunnel: values["full-tunnel"] === true,
          endpoint: values.endpoint as string | undefined,
        }
        : undefined;
      // Checked first: a mistake here enrols nothing.
      if (wireguard) checkWireguard(opened, wireguard);
      const token = await admin.add(name, profile);
      if (wireguard) {
        const file = await enrolWireguard(opened, name, wireguard);
        const output = values.output as string | undefined;
        const secret = wireguard.publicKey ? "." : ": its private key is shown only this once.";
        if (output === undefined) {
          out(file);
          out(`The WireGuard file above is for agent '${name}''s host (wg-quick up FILE)${secret}`);
        } else {
          // It may hold the host's private key: the owner's alone, from its first byte.
          await writePrivateFile(output, file);
          out(`Wrote ${output} for agent '${name}''s host (wg-quick up ${output})${secret}`);
        }
      }
      out(
        `Added agent '${name}' with profile '${profile}'. Its token is the next line, ` +
          `shown only this once: store it now.`,
      );
      out(token);
      return 0;
    }
    case "rotate": {
      const token = await admin.rotate(name);
      out(
        `New token for agent '${name}'; the old one stops working within a second. ` +
          `It is the next line, shown only this once: store it now.`,
      );
      out(token);
      return 0;
    }
    case "revoke":
      await admin.revoke(name);
      await revokeWireguard(opened, name);
      out(
        `Revoked agent '${name}': its token stops working within a second. ` +
          `The name cannot be reused.`,
      );
      return 0;
    default:
      return list(registry.list(), config, values.json === true, await tunnelColumns(opened));
  }
}

function unknownProfile(profile: string, config: Config): string {
  const names = [...config.profiles.keys()];
  return names.length === 0
    ? `unknown profile '${profile}': the config defines no profiles (add a profile block)`
    : `unknown profile '${profile}': the config defines ${names.map((n) => `'${n}'`).join(", ")}`;
}

function status(record: AgentRecord): string {
  return record.revokedAt === null ? "active" : "revoked";
}

function list(
  records: AgentRecord[],
  config: Config,
  json: boolean,
  tunnels: Map<string, TunnelColumns>,
): number {
  if (json) {
    // Never the token's hash: it is enough to test guesses offline.
    out(JSON.stringify(records.map((r) => ({
      name: r.name,
      profile: r.profile,
      createdAt: r.createdAt,
      rotatedAt: r.rotatedAt,
      revokedAt: r.revokedAt,
      status: status(r),
      ...tunnels.has(r.name) ? { tunnel: tunnels.get(r.name) } : {},
    }))));
    return 0;
  }
  if (records.length === 0) {
    out("No agents yet: add one with 'clawpatrol agent add NAME --profile PROFILE'");
    return 0;
  }
  const time = (iso: string | null) => iso === null ? "-" : iso.replace(/\.\d{3}Z$/, "Z");
  // Tunnel peers add where their host is and when it last spoke.
  const peer = tunnels.size === 0 ? null : (r: AgentRecord) => {
    const t = tunnels.get(r.name);
    return t ? [`${t.tunnel} ${t.address}`, t.handshake, t.bytes] : ["-", "-", "-"];
  };
  const rows = [
    [
      "NAME",
      "PROFILE",
      "CREATED",
      "ROTATED",
      ...peer ? ["TUNNEL", "HANDSHAKE", "BYTES"] : [],
      "STATUS",
    ],
    ...records.map((r) => [
      r.name,
      r.profile,
      time(r.createdAt),
      time(r.rotatedAt),
      ...peer?.(r) ?? [],
      r.revokedAt === null ? "active" : `revoked ${time(r.revokedAt)}`,
    ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  for (const row of rows) {
    out(row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i])).join("  "));
  }
  for (const r of records) {
    if (r.revokedAt === null && !config.profiles.has(r.profile)) {
      err(
        `Warning: agent '${r.name}' has profile '${r.profile}', which the config no longer defines`,
      );
    }
  }
  return 0;
}
