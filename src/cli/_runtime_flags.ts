/**
 * The runtime flags every command runs with, which `clawpatrol permissions` prints after the
 * grant (so the launcher's `deno run` and `deno task compile` both pass them), and which the
 * benches give their gateway children. A module of its own so the benches need not load the CLI.
 *
 * @module
 */

/**
 * V8 flags every command runs with. `--max-semi-space-size=4` caps the young generation's
 * semi-spaces at 4 MB (V8's default grows them to 16): under load they grew and stayed grown.
 * Measured (bench/http_proxy.ts --quick, gateway RSS): 1,000 idle tunnels 237–240 → 198–200 MB,
 * after the load phases 257–267 → 203–212 MB; CPU per request unchanged (bench/stages.ts,
 * HTTPS and Postgres, alternating runs).
 */
export const RUNTIME_FLAGS: readonly string[] = ["--v8-flags=--max-semi-space-size=4"];
