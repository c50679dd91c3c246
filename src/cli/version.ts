/** The release version, printed by `clawpatrol version` and stamped on receipts exports. */
export const VERSION = "0.1.0";

/** `clawpatrol version`: prints the version and runtime. */
export function versionCommand(): number {
  console.log(`clawpatrol ${VERSION} (deno ${Deno.version.deno})`);
  return 0;
}
