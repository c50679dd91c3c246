/**
 * Reads `endpoint "<protocol>" NAME { … }` blocks with the schema each registered protocol
 * declares, and resolves references to them.
 *
 * @module
 */

import type { Protocol } from "../core/mod.ts";
import type { BlockReader } from "./_fields.ts";
import type { FoundBlock } from "./_blocks.ts";
import type { Endpoint } from "./types.ts";

/** Resolves an endpoint reference, reporting it when it does not resolve. */
export type EndpointOf = (
  r: BlockReader,
  field: string,
  kind: string,
  name: string,
) => Endpoint | undefined;

/**
 * Reads every endpoint block, by name. A block of an unregistered family, of a family without
 * an endpoint schema, or reusing a name is reported and left out.
 */
export function readEndpoints(
  blocks: readonly FoundBlock[],
  protocols: readonly Protocol[],
): Map<string, Endpoint> {
  const endpoints = new Map<string, Endpoint>();
  const readers = new Map<Endpoint, BlockReader>();
  for (const b of blocks) {
    const [protocol, name] = b.labels;
    const endpoint = readEndpoint(protocol, name, b.reader, protocols);
    if (!endpoint) continue;
    const existing = endpoints.get(name);
    if (existing) {
      b.reader.problem(
        `duplicate endpoint name '${name}' (first defined at ${existing.source.file}:${existing.source.line})`,
      );
      continue;
    }
    endpoints.set(name, endpoint);
    readers.set(endpoint, b.reader);
  }
  reportSharedHosts(endpoints, readers);
  return endpoints;
}

/** Reads one endpoint block with its family's schema; `undefined` (reported) when it has none. */
function readEndpoint(
  protocol: string,
  name: string,
  r: BlockReader,
  protocols: readonly Protocol[],
): Endpoint | undefined {
  const registered = protocols.find((p) => p.family === protocol);
  if (!registered) {
    r.problem(
      `unknown endpoint protocol "${protocol}": use ${
        protocols.map((p) => `"${p.family}"`).join(", ")
      }`,
    );
    return undefined;
  }
  if (!registered.endpoint) {
    // Registered but unknown here: refusing the block keeps its rules from loading half-read.
    r.problem(`no endpoint schema for protocol "${protocol}" in this build`);
    return undefined;
  }
  const endpoint = registered.endpoint.read(name, r);
  r.reportUnknown();
  return endpoint;
}

/**
 * Reports a host (or wildcard) claimed by two endpoints: only the first would ever match, so the
 * second endpoint's rules and credentials would silently never apply.
 */
function reportSharedHosts(
  endpoints: Map<string, Endpoint>,
  readers: Map<Endpoint, BlockReader>,
): void {
  const claimed = new Map<string, Endpoint>();
  for (const e of endpoints.values()) {
    for (const host of new Set(e.hosts ?? [])) {
      const owner = claimed.get(host);
      if (!owner) {
        claimed.set(host, e);
      } else if (owner !== e) {
        readers.get(e)?.problem(
          `host "${host}" is already claimed by endpoint '${owner.name}' (${owner.source.file}:${owner.source.line})`,
          "hosts",
        );
      }
    }
  }
}

/**
 * Resolves `kind.name` references against the config's endpoints: the endpoint must exist and
 * be of the family the reference names.
 */
export function endpointResolver(endpoints: ReadonlyMap<string, Endpoint>): EndpointOf {
  return (b, field, kind, name) => {
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
}
