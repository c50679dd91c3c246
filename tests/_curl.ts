/**
 * curl through the gateway's forward proxy, as a child process a test can wait on (or kill):
 * what the approval tests use to hold a request and read how it ended.
 *
 * @module
 */

/** Where curl goes: the proxy URL with agent credentials, and the gateway CA to trust. */
export interface CurlProxy {
  proxyUrl: string;
  caFile: string;
}

/** Options for {@linkcode curlPost}. */
export interface CurlPostOptions {
  /** Request body. @default {"payload"} */
  body?: string;
  /** @default {"https://api.test/write"} */
  url?: string;
  /** curl's own time limit (`-m`), seconds. @default {20} */
  maxSeconds?: number;
}

/** Starts `curl -X POST` through the proxy; stdout is the body, then a line with the status. */
export function curlPost(proxy: CurlProxy, options: CurlPostOptions = {}): Deno.ChildProcess {
  return new Deno.Command("curl", {
    args: [
      ...["-sS", "-o", "-", "-w", "\n%{http_code}", "-m", String(options.maxSeconds ?? 20)],
      ...["--proxy", proxy.proxyUrl, "--cacert", proxy.caFile],
      ...["-X", "POST", "-d", options.body ?? "payload", options.url ?? "https://api.test/write"],
    ],
    // No proxy or CA settings from the developer's shell.
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** How a curl from {@linkcode curlPost} ended: the HTTP status and the body. */
export async function curlOutcome(
  child: Deno.ChildProcess,
): Promise<{ status: number; body: string }> {
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout);
  const at = text.lastIndexOf("\n");
  return { status: Number(text.slice(at + 1)), body: text.slice(0, at) };
}
