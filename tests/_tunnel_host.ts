/**
 * An agent host for the tunnel tests: a network namespace joined to this host by a veth pair
 * (its underlay, like a VM's network), with `wireguard-go` set up from the `wg-quick` file the
 * gateway printed (`wg-quick strip` reads it as wg-quick would; the addresses, routes and resolver
 * are set as wg-quick sets them). Root only.
 *
 * @module
 */

import { join } from "node:path";

/** A running agent host. */
export interface AgentHost {
  /** Its network namespace. */
  ns: string;
  /** Its tunnel address. */
  address: string;
  /** Its WireGuard interface. */
  iface: string;
  /** Runs `script` with sh inside the host (as root there), stdin closed. */
  exec(script: string, env?: Record<string, string>): Promise<ExecResult>;
  close(): Promise<void>;
}

/** What a command inside printed. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The underlay link of host number `n`: this side `.1`, the host's `.2`, in 192.168.n.0/30. */
export function underlay(n: number): { here: string; there: string } {
  return { here: `192.168.${n}.1`, there: `192.168.${n}.2` };
}

async function ip(...args: string[]): Promise<void> {
  const out = await new Deno.Command("ip", { args }).output();
  if (!out.success) {
    throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Runs a program inside `ns`; throws when it fails. */
async function inside(ns: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("ip", { args: ["netns", "exec", ns, ...args] }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  if (!out.success) throw new Error(`${args.join(" ")} in ${ns}: ${text(out.stderr)}`);
  return text(out.stdout);
}

/** The values of `key = value` lines of a wg-quick file. */
function setting(file: string, key: string): string[] {
  return [...file.matchAll(new RegExp(`^${key} = (.+)$`, "gm"))].flatMap((m) =>
    m[1].split(",").map((v) => v.trim())
  );
}

/**
 * Creates host `id` (number `n` for its underlay) and brings its tunnel up from `wgQuick`.
 *
 * @example
 * ```ts
 * const host = await startAgentHost("ab12", 7, wgQuickText);
 * await host.exec("curl -s https://api.example.test/");
 * await host.close();
 * ```
 */
export async function startAgentHost(id: string, n: number, wgQuick: string): Promise<AgentHost> {
  const ns = `cpta${id}`;
  const veth = `cpv${id}`;
  const iface = `wga${id}`;
  const link = underlay(n);
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_host_" });
  let wireguard: Deno.ChildProcess | undefined;
  const close = async () => {
    try {
      wireguard?.kill("SIGTERM");
      await wireguard?.status;
    } catch {
      // Gone already.
    }
    await new Deno.Command("ip", { args: ["netns", "del", ns] }).output();
    await new Deno.Command("ip", { args: ["link", "del", veth] }).output();
    await Deno.remove(`/etc/netns/${ns}`, { recursive: true }).catch(() => {});
    await Deno.remove(`/var/run/wireguard/${iface}.sock`).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  };
  try {
    await ip("netns", "add", ns);
    await ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns);
    await ip("addr", "add", `${link.here}/30`, "dev", veth);
    await ip("link", "set", veth, "up");
    await ip("-n", ns, "link", "set", "lo", "up");
    await ip("-n", ns, "addr", "add", `${link.there}/30`, "dev", "eth0");
    await ip("-n", ns, "link", "set", "eth0", "up");
    wireguard = new Deno.Command("ip", {
      args: ["netns", "exec", ns, "wireguard-go", "-f", iface],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitForSocket(`/var/run/wireguard/${iface}.sock`);
    const file = join(dir, `${iface}.conf`);
    await Deno.writeTextFile(file, wgQuick);
    const stripped = await inside(ns, "wg-quick", "strip", file);
    await Deno.writeTextFile(join(dir, "wg.conf"), stripped);
    await inside(ns, "wg", "setconf", iface, join(dir, "wg.conf"));
    const address = setting(wgQuick, "Address")[0];
    await ip("-n", ns, "addr", "add", address, "dev", iface);
    await ip("-n", ns, "link", "set", iface, "up");
    for (const allowed of setting(wgQuick, "AllowedIPs")) {
      await ip("-n", ns, "route", "add", allowed, "dev", iface);
    }
    await Deno.mkdir(`/etc/netns/${ns}`, { recursive: true });
    const dns = setting(wgQuick, "DNS")[0];
    await Deno.writeTextFile(`/etc/netns/${ns}/resolv.conf`, `nameserver ${dns}\n`);
    return {
      ns,
      iface,
      address: address.replace(/\/32$/, ""),
      exec: async (script, env = {}) => {
        const out = await new Deno.Command("ip", {
          args: ["netns", "exec", ns, "sh", "-c", script],
          env,
          stdin: "null",
        }).output();
        const text = (b: Uint8Array) => new TextDecoder().decode(b);
        return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Waits for wireguard-go's control socket: its interface is configurable from then on. */
async function waitForSocket(path: string): Promise<void> {
  for (let tries = 0; tries < 200; tries++) {
    try {
      await Deno.stat(path);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
  throw new Error(`wireguard-go did not create ${path}`);
}
