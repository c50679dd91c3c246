/**
 * The `aws` facet: the CEL schema of AWS request facts, filled by `facts.ts`.
 *
 * @module
 */

import type { Facet } from "../../core/mod.ts";

/** The `aws` variable. */
export const AWS_FACET: Facet = Object.freeze({
  variable: "aws",
  type: "AwsFacts",
  fields: Object.freeze({
    service: "string",
    action: "string",
    region: "string",
    bucket: "string",
    key: "string",
  }),
});
