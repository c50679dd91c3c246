/**
 * Reads `endpoint "<protocol>" NAME { … }` blocks.
 *
 * @module
 */

import type { ProtocolFamily } from "../core/mod.ts";
import { type BlockReader, listenAddress } from "./_fields.ts";
import type { FoundBlock } from "./_blocks.ts";
import type { Endpoint } from "./types.ts";

const HOST_PATTERN = /^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i;

/**
 * Reads one endpoint block of a registered protocol family; `undefined` (reported) for a family
 * this config reader has no endpoint schema for.
 */
export function readEndpoint(
  protocol: ProtocolFamily,
  name: string,
  r: BlockReader,
): Endpoint | undefined {
  const source = r.source;
  let endpoint: Endpoint;
  switch (protocol) {
    case "https": {
      const hosts = r.stringList("hosts") ?? [];
      if (!r.has("hosts")) r.problem("missing required attribute 'hosts'");
      else if (hosts.length === 0) r.problem("'hosts' needs at least one host", "hosts");
      for (const h of hosts) {
        if (!HOST_PATTERN.test(h)) {
          r.problem(`'hosts' entry "${h}" is not a host name or *.suffix wildcard`, "hosts");
        }
      }
      endpoint = {
        protocol: "https",
        name,
        source,
        hosts: hosts.map((h) => h.toLowerCase()),
        upstream: r.has("upstream") ? listenAddress(r, "upstream", "") : undefined,
        caCert: pem(r, "ca_cert"),
        allowEncodedSlash: r.boolean("allow_encoded_slash", false),
        allowDoubleEncoding: r.boolean("allow_double_encoding", false),
        allowPathParams: r.boolean("allow_path_params", false),
        allowMethodOverride: r.boolean("allow_method_override", false),
        ports: ports(r),
        unknownPlaceholders: r.oneOf("unknown_placeholders", ["deny", "allow"], "deny"),
      };
      break;
    }
    case "postgres": {
      const host = r.has("host") ? listenAddress(r, "host", "") : "";
      if (!r.has("host")) r.problem("missing required attribute 'host' (host:port)");
      const listen = r.has("listen") ? listenAddress(r, "listen", "") : "";
      if (!r.has("listen")) r.problem("missing required attribute 'listen' (host:port)");
      endpoint = {
        protocol: "postgres",
        name,
        source,
        host,
        listen,
        sslmode: r.oneOf("sslmode", ["disable", "prefer", "require", "verify-full"], "prefer"),
        caCert: pem(r, "ca_cert"),
        listenTls: r.boolean("listen_tls", true),
      };
      break;
    }
    case "kubernetes": {
      const server = r.required("server") ?? "";
      if (server && !/^https:\/\/[^/\s]+\/?$/.test(server)) {
        r.problem(
          `'server' must be an https:// URL such as https://10.0.0.1:6443, got "${server}"`,
          "server",
        );
      }
      endpoint = {
        protocol: "kubernetes",
        name,
        source,
        server,
        listen: r.has("listen") ? listenAddress(r, "listen", "") : undefined,
        caCert: pem(r, "ca_cert"),
        unknownPlaceholders: r.oneOf("unknown_placeholders", ["deny", "allow"], "deny"),
      };
      break;
    }
    default:
      // Registered but unknown here: refusing the block keeps its rules from loading half-read.
      r.problem(`no endpoint schema for protocol "${protocol}" in this build`);
      return undefined;
  }
  r.reportUnknown();
  return endpoint;
}

/** Default `ports` of an https endpoint: the port HTTPS clients use when a URL names none. */
const HTTPS_PORTS = [443];

/** `ports = [443, 8443]`: each 1-65535, at least one; sorted and deduplicated. */
function ports(r: BlockReader): number[] {
  const list = r.integerList("ports");
  if (list === undefined) return [...HTTPS_PORTS];
  if (list.length === 0) r.problem("'ports' needs at least one port", "ports");
  const bad = list.find((p) => p < 1 || p > 65535);
  if (bad !== undefined) r.problem(`'ports' entry ${bad} is not a port (1-65535)`, "ports");
  if (list.length === 0 || bad !== undefined) return [...HTTPS_PORTS];
  return [...new Set(list)].sort((a, b) => a - b);
}

function pem(r: BlockReader, field: string): string | undefined {
  const v = r.string(field);
  if (v !== undefined && !v.includes("-----BEGIN CERTIFICATE-----")) {
    r.problem(`'${field}' must be a PEM certificate, e.g. "<<file:ca.pem>>"`, field);
  }
  return v;
}

/**
 * Reports a host (or wildcard) claimed by two https endpoints: only the first would ever match,
 * so the second endpoint's rules and credentials would silently never apply.
 */
export function reportSharedHosts(
  endpoints: Map<string, Endpoint>,
  blocks: FoundBlock[],
): void {
  const claimed = new Map<string, Endpoint>();
  for (const e of endpoints.values()) {
    if (e.protocol !== "https") continue;
    const reader = blocks.find((b) => b.reader.source === e.source)?.reader;
    for (const host of new Set(e.hosts)) {
      const owner = claimed.get(host);
      if (!owner) {
        claimed.set(host, e);
      } else if (owner !== e) {
        reader?.problem(
          `host "${host}" is already claimed by endpoint '${owner.name}' (${owner.source.file}:${owner.source.line})`,
          "hosts",
        );
      }
    }
  }
}
