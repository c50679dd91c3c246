/**
 * HCL → JSON with hcl2json, imported on first parse: hcl2json is Go compiled to WebAssembly and
 * importing it starts a Go runtime (~60 MB), which commands that never read a config (`version`,
 * `--help`) need not pay.
 *
 * Parsing in a short-lived worker was measured and rejected: the worker's memory is not all
 * returned when it ends (~30 MB stayed, and 2–5 MB more per reload), so a long-running gateway
 * would grow with every reload. In process the runtime is paid once.
 *
 * @module
 */

/** Parses one file's HCL text into hcl2json's JSON; throws hcl2json's error message. */
export type HclParse = (file: string, text: string) => Promise<Record<string, unknown>>;

let loading: Promise<HclParse> | null = null;

/** The parser, loaded on first use. */
export function hclInProcess(): HclParse {
  return async (file, text) => {
    loading ??= import("@cdktf/hcl2json").then((m) => (f: string, t: string) =>
      m.parse(f, t) as Promise<Record<string, unknown>>
    );
    return (await loading)(file, text);
  };
}
