/**
 * Shared by the `clawpatrol agent`, `env` and `run` tests: enrolling agents through the CLI and
 * reading what `env` exports through a real `sh`.
 *
 * @module
 */

import { equal, match } from "node:assert/strict";
import { cli } from "./_helpers.ts";

/** The non-blank lines of `s`. */
export const lines = (s: string) => s.split("\n").filter((l) => l.trim() !== "");
/** What an agent token looks like. */
export const TOKEN = /^cpat_[A-Za-z0-9_-]{43}$/;

/** `agent add NAME --profile P` in `dir`; returns the token (the last line of stdout). */
export async function addAgent(dir: string, name: string, profile = "default"): Promise<string> {
  const r = await cli(["agent", "add", name, "--profile", profile], { cwd: dir });
  equal(r.code, 0, r.stderr);
  const token = lines(r.stdout).at(-1)!;
  match(token, TOKEN);
  return token;
}

/** Sources `exports` in a real `sh` and returns the values of `names`, one per line. */
export async function sourced(exports: string, names: string[]): Promise<Record<string, string>> {
  const script = `${exports}\nfor v in ${
    names.join(" ")
  }; do eval "printf '%s\\0' \\"\\$$v\\""; done`;
  const out = await new Deno.Command("sh", { args: ["-c", script], stdout: "piped" }).output();
  equal(out.code, 0);
  const values = new TextDecoder().decode(out.stdout).split("\0").slice(0, -1);
  return Object.fromEntries(names.map((n, i) => [n, values[i]]));
}

/** initDir() picks a random proxy port; `env` tests want the starter's fixed one. */
export async function proxyOn8080(config: string): Promise<void> {
  const text = await Deno.readTextFile(config);
  await Deno.writeTextFile(
    config,
    text.replace(/proxy_listen\s*=\s*"[^"]*"/, 'proxy_listen = "127.0.0.1:8080"'),
  );
}
