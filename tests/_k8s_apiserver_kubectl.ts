/**
 * The real kubectl against the fake API server (tests/_k8s_apiserver.ts), with no gateway in
 * between, for the fixture's own tests.
 *
 * @module
 */

import { ok as assert } from "node:assert/strict";
import { stringify } from "yaml";
import { type FakeApiServer, startFakeApiServer } from "./_k8s_apiserver.ts";

/** Whether kubectl is on PATH (the kubectl tests are skipped otherwise). */
export const kubectlInstalled = (() => {
  try {
    const version = ["version", "--client"];
    return new Deno.Command("kubectl", { args: version, stdout: "null" }).outputSync().success;
  } catch {
    return false; // not on PATH
  }
})();

/** kubectl's exit code and output. */
export interface Kubectl {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options for one kubectl run. */
export interface KubectlOptions {
  /** Bearer token in the kubeconfig. @default {the server's token} */
  token?: string;
  /** Extra kubeconfig user fields (e.g. a client certificate). */
  user?: Record<string, string>;
  stdin?: string;
  /** SIGKILL after this long. @default {20_000} */
  timeoutMs?: number;
}

/**
 * Runs kubectl against `api` with a kubeconfig of its own, in a clean environment: no
 * KUBECONFIG or proxy variables from the developer's shell, and HOME in `home` (one per server)
 * so kubectl's discovery cache never answers for another server.
 */
export async function kubectl(
  api: FakeApiServer,
  home: string,
  args: string[],
  options: KubectlOptions = {},
): Promise<Kubectl> {
  const kubeconfig = await Deno.makeTempFile({ dir: home, prefix: "kubeconfig-" });
  await Deno.writeTextFile(
    kubeconfig,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{
        name: "fake",
        cluster: { server: api.url, "certificate-authority-data": btoa(api.caPem) },
      }],
      users: [{ name: "me", user: options.user ?? { token: options.token ?? api.token } }],
      contexts: [{ name: "fake", context: { cluster: "fake", user: "me", namespace: "default" } }],
      "current-context": "fake",
    }),
  );
  const child = new Deno.Command("kubectl", {
    args: ["--kubeconfig", kubeconfig, ...args],
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: home },
    clearEnv: true,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited meanwhile */ }
  }, options.timeoutMs ?? 20_000);
  try {
    if (options.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(options.stdin)).catch(() => {});
      await writer.close().catch(() => {});
    }
    const out = await child.output();
    const text = new TextDecoder();
    return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

/** Asserts `part` is in `text`. */
export function includes(text: string, part: string): void {
  assert(text.includes(part), `expected ${JSON.stringify(part)} in:\n${text}`);
}

/** Runs `fn` with a fresh server and temp directory; tears both down. */
export async function withApi(
  fn: (
    api: FakeApiServer,
    run: (args: string[], o?: KubectlOptions) => Promise<Kubectl>,
  ) => Promise<void>,
  options: { clientCaPem?: string } = {},
): Promise<void> {
  const api = await startFakeApiServer(options);
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_fake_k8s_" });
  try {
    await fn(api, (args, o) => kubectl(api, dir, args, o));
  } finally {
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
}
