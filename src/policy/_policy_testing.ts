/**
 * Shared by the Policy tests.
 *
 * @module
 */

import { rule } from "./_testing.ts";

/** A lowest-priority rule allowing everything on `https.github`. */
export const ALLOW_ALL = rule("allow-all", {
  endpoint: "https.github",
  priority: -100,
  condition: "true",
  verdict: "allow",
});
