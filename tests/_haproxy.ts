/**
 * HAProxy (Debian's `haproxy`) in front of several gateways' forward proxies, for the scale-out
 * tests: TCP mode, each server health-checked on its gateway's admin `/healthz`, a refused
 * connection redispatched to the other server. Runs in the foreground as the test's child and
 * is killed with it.
 *
 * @module
 */

import { join } from "node:path";
import { eventually } from "./_helpers.ts";

/** Where Debian installs it. */
export const HAPROXY = "/usr/sbin/haproxy";

/** True when HAProxy is installed, so tests can be ignored with a clear reason. */
export function haproxyAvailable(): boolean {
  try {
    return Deno.statSync(HAPROXY).isFile;
  } catch {
    return false;
  }
}

/** A free loopback port (bound, then released; the caller binds it soon after). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** One gateway behind the balancer: its proxy port takes traffic, its admin port answers checks. */
export interface Backend {
  name: string;
  proxyPort: number;
  adminPort: number;
}

/** A running HAProxy. */
export interface Balancer {
  port: number;
  /** The backends' check state as HAProxy logged it (`UP`/`DOWN` lines). */
  log(): string;
  stop(): Promise<void>;
}

/**
 * The configuration the README shows, with test ports: TCP through, `/healthz` on the admin
 * port every 500 ms, down after 2 failures, up after 1 success.
 */
export function haproxyConfig(port: number, backends: Backend[]): string {
  return `global
  log stderr format raw local0 info
defaults
  mode tcp
  log global
  timeout connect 2s
  timeout client 1m
  timeout server 1m
  retries 2
  option redispatch
frontend agents
  bind 127.0.0.1:${port}
  default_backend gateways
backend gateways
  balance roundrobin
  option httpchk
  http-check send meth GET uri /healthz
  http-check expect status 200
  default-server inter 500ms fall 2 rise 1
${
    backends.map((b) => `  server ${b.name} 127.0.0.1:${b.proxyPort} check port ${b.adminPort}`)
      .join("\n")
  }
`;
}

/** Starts HAProxy on a free port and resolves once it accepts connections. */
export async function startHaproxy(dir: string, backends: Backend[]): Promise<Balancer> {
  const port = freePort();
  const config = join(dir, "haproxy.cfg");
  await Deno.writeTextFile(config, haproxyConfig(port, backends));
  const child = new Deno.Command(HAPROXY, {
    args: ["-db", "-f", config],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) lines.push(decoder.decode(chunk, { stream: true }));
  };
  const pumped = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await child.status;
    await pumped;
  };
  try {
    await eventually("HAProxy to accept connections", async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return true;
    }, 15_000);
  } catch (err) {
    await stop();
    throw new Error(`${err}; HAProxy said: ${lines.join("")}`);
  }
  return { port, log: () => lines.join(""), stop };
}
