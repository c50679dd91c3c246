/**
 * HCL config: text → typed, validated {@linkcode Config}, with every problem located.
 *
 * @module
 */

export {
  hclProblems,
  loadConfig,
  loadConfigText,
  type LoadOptions,
  type LoadTextOptions,
} from "./load.ts";
export { HostMatcher } from "./hosts.ts";
export {
  defaultDefaults,
  defaultGateway,
  placeholderOf,
  validateConfig,
  type ValidateOptions,
} from "./validate.ts";
export { isHostPort, parseDuration, parseSize } from "./_fields.ts";
export * from "./types.ts";
