/**
 * Shared by the injector's tests: a credential of any kind bound to endpoint "github" unless
 * overridden, with the default `{{name}}` placeholder.
 *
 * @module
 */

import type { InjectableCredential } from "./http_inject.ts";

/** A `bearer_token` (or `over.kind`) credential named `name`. */
export function credential(
  name: string,
  over: Partial<InjectableCredential> = {},
): InjectableCredential {
  const kind = over.kind ?? "bearer_token";
  return {
    ref: `${kind}.${name}`,
    name,
    kind,
    endpoints: ["github"],
    placeholder: `{{${name}}}`,
    substituteIn: ["header"],
    inject: "placeholder",
    ...over,
  };
}
