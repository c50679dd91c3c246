/**
 * The runtime flags every command runs with, which `clawpatrol permissions` prints after the
 * grant (so the launcher's `deno run` and `deno task compile` both pass them), and which the
 * benches give their gateway children. A module of its own so the benches need not load the CLI.
 *
 * @module
 */

/**
 * V8 flags every command runs with.
 *
 * `--max-semi-space-size=4` caps the young generation's semi-spaces at 4 MB (V8's default grows
 * them to 16): under load they grew and stayed grown. Measured (bench/http_proxy.ts --quick,
 * gateway RSS): 1,000 idle tunnels 237–240 → 198–200 MB, after the load phases 257–267 →
 * 203–212 MB; CPU per request unchanged (bench/stages.ts, HTTPS and Postgres, alternating runs).
 *
 * `--no-concurrent-recompilation` compiles optimised code on the event loop's thread instead of
 * V8's worker threads. The workers' compiler memory, freed, stayed in their own malloc arenas
 * (`malloc_trim(0)` through gdb gave back 23 MB of a gateway's 158); compiled here it is reused.
 * Measured (http_proxy.ts's tunnel phase alone, alternating): started 102–103 → 96–97 MB, 1,000
 * idle tunnels 158–163 → 149–150 MB. The cost is while V8 is still compiling, in the first seconds
 * of load after start: p99 at 8 connections 4.3–4.7 → 6.1–7.9 ms there, the same once warm (2.8–3.2
 * ms). CPU per request once warm: within the noise (stages.ts, three alternating pairs, 90.0 → 91.3
 * µs per HTTPS GET).
 */
export const RUNTIME_FLAGS: readonly string[] = [
  "--v8-flags=--max-semi-space-size=4,--no-concurrent-recompilation",
];
