/**
 * The CA bundle agents' tools trust: the system roots plus the gateway CA, in
 * `state_dir/ca-bundle.pem`, for clients that take one bundle instead of adding to their roots.
 *
 * @module
 */

import { join } from "node:path";
import { writeFileAtomic } from "../core/mod.ts";
import { err } from "./_io.ts";

/** The combined CA bundle (system roots + gateway CA) `env` and `run` write into the state dir. */
export const CA_BUNDLE_FILE = "ca-bundle.pem";

/** System root bundles, first readable wins (Debian/Ubuntu, Fedora/RHEL, Alpine/macOS, SUSE). */
export const SYSTEM_ROOTS = [
  "/etc/ssl/certs/ca-certificates.crt",
  "/etc/pki/tls/certs/ca-bundle.crt",
  "/etc/ssl/cert.pem",
  "/etc/ssl/ca-bundle.pem",
];

/**
 * The gateway CA (PEM), or an error saying to run `init` when it is missing.
 *
 * @example
 * ```ts
 * const caPem = await readGatewayCa("/srv/gw/state/ca.pem");
 * ```
 */
export async function readGatewayCa(caPath: string): Promise<string> {
  try {
    return await Deno.readTextFile(caPath);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`Gateway CA '${caPath}' is missing: run 'clawpatrol init'`);
    }
    throw e;
  }
}

/**
 * Writes system roots + the gateway CA to `state_dir/ca-bundle.pem` (0644, atomically: a tool
 * starting meanwhile never reads half a bundle) and returns its path.
 *
 * @example
 * ```ts
 * await writeCaBundle("/srv/gw/state", "/srv/gw/state/ca.pem"); // "/srv/gw/state/ca-bundle.pem"
 * ```
 */
export async function writeCaBundle(stateDir: string, caPath: string): Promise<string> {
  const gatewayCa = await readGatewayCa(caPath);
  let roots = "";
  for (const path of SYSTEM_ROOTS) {
    try {
      const text = await Deno.readTextFile(path);
      if (text.includes("-----BEGIN CERTIFICATE-----")) {
        roots = text;
        break;
      }
    } catch {
      // Absent, unreadable, or outside what this process may read: try the next one.
    }
  }
  if (roots === "") {
    err(
      `Warning: no system CA bundle found (looked for ${
        SYSTEM_ROOTS.join(", ")
      }): the bundle holds the gateway CA alone`,
    );
  }
  const text = (roots && !roots.endsWith("\n") ? roots + "\n" : roots) + gatewayCa;
  const bundlePath = join(stateDir, CA_BUNDLE_FILE);
  await writeFileAtomic(bundlePath, new TextEncoder().encode(text), { mode: 0o644 });
  return bundlePath;
}
