/**
 * Rules engine: CEL conditions compiled once at load, decided per action. Pure: no I/O.
 *
 * @module
 */

export {
  checkRuleConditions,
  type CompiledRule,
  type CompileOptions,
  compilePolicy,
  compileRule,
} from "./compile.ts";
export {
  APPROVAL_REQUIRED,
  type Evaluation,
  EVALUATION_FAILED,
  misplacedPlaceholderReason,
  NO_MATCH,
  Policy,
  type PolicyOptions,
  unknownPlaceholderReason,
  verdictOf,
} from "./policy.ts";
export { completeFacts } from "./complete.ts";
export {
  type ExpectedVerdict,
  type FactsDeriver,
  type FixtureResult,
  replayCase,
  type ReplayCaseOptions,
} from "./fixtures.ts";
