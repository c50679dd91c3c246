/**
 * The runtime flags every command runs with, which `clawpatrol permissions` prints after the
 * grant (so the launcher's `deno run` and `deno task compile` both pass them), and the allocator
 * settings the launcher puts in the environment; the benches give their gateway children both.
 * A module of its own so the benches need not load the CLI.
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

/**
 * glibc malloc settings the launcher exports as `GLIBC_TUNABLES` unless the environment already
 * has that variable (an empty one included, which turns them off). Blocks of 32 KiB and more are
 * mapped on their own and unmapped when freed: by default glibc raises that threshold after the
 * first large frees (to 32 MiB at most), so big blocks freed later (at start, when connections
 * close) stayed in the heap. Setting it also stops glibc moving the trim threshold (left at 128 KiB);
 * 8 MiB is set with it because the mapping threshold alone read +1–4 µs per Postgres transaction
 * in four alternating runs (strace counted ~15 mmap/munmap a second either way, so the cause is
 * not settled).
 * Measured (bench/http_proxy.ts --quick, gateway RSS; four runs without, three with; medians):
 * started 166 → 147 MB, 1,000 idle tunnels 204 → 188, after the load phases 215 → 201, and the
 * spread between runs 156–172 → 147–147 at start. CPU (bench/stages.ts, alternating runs): HTTPS
 * 124 vs 124 µs per request, Postgres 72.5 vs 70.7 µs per transaction (within run-to-run spread).
 * 16 KiB saved a few MB more and cost V8's threads ~4 µs per HTTPS request.
 */
export const MALLOC_TUNABLES =
  "glibc.malloc.mmap_threshold=32768:glibc.malloc.trim_threshold=8388608";
