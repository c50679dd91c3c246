/**
 * What `/status` on the admin API says about the running gateway.
 *
 * @module
 */

import type { Loaded } from "./_loaded.ts";
import type { RunningGrant } from "./_permissions.ts";
import type { TransparentDns } from "./_transparent.ts";

/** The config in force, the permissions granted, and transparent interception when on. */
export function gatewayStatus(
  loaded: Loaded,
  permissions: RunningGrant,
  dns: TransparentDns | null,
): Record<string, unknown> {
  const { config, loadedAt } = loaded;
  return {
    mode: config.gateway.mode,
    endpoints: [...config.endpoints.keys()],
    rules: config.rules.length,
    profiles: [...config.profiles.keys()],
    loaded_at: loadedAt.toISOString(),
    permissions: permissions.status(),
    ...(dns ? { transparent: dns.status() } : {}),
  };
}
