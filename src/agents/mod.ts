/**
 * Agents and their identity: enrolment, tokens (only their SHA-256 is stored), revocation and
 * rotation, and authentication of the `NAME:TOKEN` pair an agent presents to the gateway.
 *
 * @example
 * ```ts
 * import { AgentRegistry } from "./src/agents/mod.ts";
 *
 * const registry = AgentRegistry.open("./state");
 * const token = registry.add("oncall-bot", "default"); // shown once
 * registry.authenticate("oncall-bot", token); // { name: "oncall-bot", profile: "default" }
 * ```
 *
 * @module
 */

export {
  type AgentRecord,
  AgentRegistry,
  type AgentRegistryOptions,
  AGENTS_FILE,
  type AgentScramVerifiers,
  type AgentSource,
  type AgentStanding,
  isAgentName,
  TOKEN_PREFIX,
} from "./registry.ts";
export { enrolment, nameTaken, newCredentials, notActive } from "./_enrol.ts";
export {
  type LinkPair,
  normaliseAddress,
  type SourceKind,
  type SourceLease,
  SourceRegistry,
  type SourceRegistryOptions,
  SOURCES_FILE,
} from "./sources.ts";
