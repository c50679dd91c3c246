/**
 * `run --isolate`: the command runs in a network namespace whose only link leads to the gateway
 * (DESIGN.md §9). This process leases the namespace's link addresses (`sources.json`: the
 * address names the agent to the gateway), stages the agent's files and environment, and hands
 * the privileged part to `isolate.sh` (as root, or through `sudo -n`), which builds the namespace,
 * runs the command in it without capabilities and removes it afterwards.
 *
 * @module
 */

import { join } from "node:path";
import { type LinkPair, type SourceLease, SourceRegistry } from "../agents/mod.ts";
import type { Config, TransparentConfig } from "../config/mod.ts";
import type { AgentFacts } from "../core/mod.ts";
import { splitHostPort } from "../core/mod.ts";
import { PROTOCOLS } from "../protocols/registry.ts";
import { formatIpv4, parseVipRange } from "../transparent/mod.ts";
import type { OpenedAgents } from "./_agent_env.ts";
import { isolatedEnvironment } from "./_isolate_env.ts";
import { PrivilegeError, runPrivileged, scriptPath } from "./_privileged.ts";
import { responderReady } from "./_responder_ready.ts";
import { err } from "./_io.ts";

/** The privileged step, beside the app (`install.sh` copies it there too). */
export const ISOLATE_SCRIPT = scriptPath("isolate.sh");

/** Who the command runs as, and (another user than the caller) that user's name. */
interface RunAs {
  uid: number;
  gid: number;
  other?: { user: string };
}

/** How long a command waits for the gateway's DNS responder to come up. */
const RESPONDER_WAIT_MS = 5_000;

/** Who the command runs as when the caller is root and names nobody: not root. */
const NOBODY: RunAs = { uid: 65534, gid: 65534, other: { user: "nobody" } };

/** What `run --isolate` was asked. */
export interface IsolateRequest {
  opened: OpenedAgents;
  agent: AgentFacts;
  command: string[];
  /** `--as USER` (root only): who the command runs as. */
  as?: string;
}

/** A problem the user can fix, said as such (exit code 2, no stack). */
export class IsolateError extends Error {}

/** Every /31 of `range`, the even address the gateway's side. */
export function* linkPairs(range: string): Generator<LinkPair> {
  const { base, size } = parseVipRange(range);
  for (let offset = 0; offset + 1 < size; offset += 2) {
    yield { peer: formatIpv4(base + offset), address: formatIpv4(base + offset + 1) };
  }
}

/** How the root steps map and filter what agents dial: the responder, the ports, the offset. */
export function firewallArgs(settings: TransparentConfig, ports: number[]): string[] {
  const [dns, dnsPort] = splitHostPort(settings.dnsListen);
  return [
    ...["--dns", dns, "--dns-port", String(dnsPort), "--ports", ports.join(" ")],
    ...["--port-offset", String(settings.portOffset)],
  ];
}

/** The ports the gateway intercepts on, over every endpoint of the config. */
export function interceptPorts(config: Config): number[] {
  const byFamily = new Map(PROTOCOLS.map((p) => [p.family, p]));
  const ports = new Set<number>();
  for (const endpoint of config.endpoints.values()) {
    for (const port of byFamily.get(endpoint.protocol)?.intercept?.ports(endpoint) ?? []) {
      ports.add(port);
    }
  }
  return [...ports].sort((a, b) => a - b);
}

/**
 * Runs the request's command isolated and returns its exit code. The lease and the staged files
 * are released however it ends.
 */
export async function runIsolated(request: IsolateRequest): Promise<number> {
  const { opened, agent } = request;
  const settings = opened.config.gateway.transparent;
  if (!settings) {
    throw new IsolateError(
      "run --isolate needs transparent interception: add gateway { transparent { vip_range = " +
        '"10.79.0.0/16" } } to the config and restart the gateway',
    );
  }
  const ports = interceptPorts(opened.config);
  if (ports.length === 0) throw new IsolateError("run --isolate: no endpoint can be intercepted");
  const user = await runAs(request.as);
  const name = namespaceOf(Deno.pid);
  const sources = SourceRegistry.open(opened.stateDir);
  const pairs = linkPairs(settings.linkRange);
  const lease = sources.lease(agent.name, "isolate", pairs, Deno.pid, leftBehind);
  if (!lease) {
    throw new IsolateError(
      `run --isolate: every link in link_range ${settings.linkRange} is taken`,
    );
  }
  const dir = join(opened.stateDir, "isolate", name);
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const env = await isolatedEnvironment(opened, agent, dir, user.other);
    // The environment (the caller's own may hold secrets) travels in a file, never in argv.
    const items = [String(env.length), ...env.map(([k, v]) => `${k}=${v}`), ...request.command];
    await Deno.writeTextFile(join(dir, "environ"), items.join("\0") + "\0", { mode: 0o600 });
    const args = [
      "run",
      ...["--name", name, "--vip-range", settings.vipRange, "--link-range", settings.linkRange],
      ...firewallArgs(settings, ports),
      ...["--peer", lease.peer!, "--address", lease.address],
      ...["--uid", String(user.uid), "--gid", String(user.gid), "--files", dir],
    ];
    try {
      // The route first, then the responder (it listens once its address is local), then the
      // command: its first lookup must find the gateway answering.
      const prepare = ["prepare", "--vip-range", settings.vipRange, "--link-range"];
      await runPrivileged("isolate.sh", [
        ...prepare,
        settings.linkRange,
        ...firewallArgs(settings, ports),
      ]);
      const [dnsHost, dnsPort] = splitHostPort(settings.dnsListen);
      if (!await responderReady(dnsHost, dnsPort, RESPONDER_WAIT_MS)) {
        err(
          `Warning: the gateway's DNS responder does not answer at ${settings.dnsListen}: is it running?`,
        );
      }
      return (await runPrivileged("isolate.sh", args)).code;
    } catch (err) {
      if (err instanceof PrivilegeError) throw new IsolateError(`run --isolate: ${err.message}`);
      throw err;
    }
  } finally {
    sources.release(lease.address);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * An isolate lease whose `run` died without releasing it: its process is gone and so is its
 * namespace (a namespace still there may still be sending from the address).
 */
function leftBehind(lease: SourceLease): boolean {
  if (lease.kind !== "isolate" || lease.holder === null) return false;
  const gone = (path: string) => {
    try {
      Deno.statSync(path);
      return false;
    } catch (err) {
      return err instanceof Deno.errors.NotFound;
    }
  };
  return gone(`/proc/${lease.holder}`) && gone(`/run/netns/${namespaceOf(lease.holder)}`);
}

/** The namespace of the `run` whose process id is `pid`. */
function namespaceOf(pid: number): string {
  return `clawpatrol-${pid}`;
}

/** Who the command runs as: the caller, or (caller root) `--as USER`, else nobody. */
async function runAs(as: string | undefined): Promise<RunAs> {
  const uid = Deno.uid() ?? -1;
  if (uid !== 0) {
    if (as !== undefined) throw new IsolateError("--as needs root: the command runs as you");
    return { uid, gid: Deno.gid() ?? uid };
  }
  if (as === undefined) return NOBODY;
  const out = await new Deno.Command("id", { args: ["-u", as], stderr: "null" }).output();
  const gidOut = await new Deno.Command("id", { args: ["-g", as], stderr: "null" }).output();
  if (!out.success || !gidOut.success) throw new IsolateError(`--as: no user '${as}'`);
  const text = (b: Uint8Array) => Number(new TextDecoder().decode(b).trim());
  const found = { uid: text(out.stdout), gid: text(gidOut.stdout), other: { user: as } };
  if (found.uid === 0) throw new IsolateError("--as: the command may not run as root");
  return found;
}
