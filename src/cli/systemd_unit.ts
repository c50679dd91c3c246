/**
 * `clawpatrol systemd-unit [-c CONFIG] [--user NAME] [--bin PATH] [--output PATH]`: a systemd
 * service unit that runs `serve` as its own unprivileged user, sandboxed by systemd on top of the
 * launcher's Deno grant: the filesystem read-only except the grant's writable paths, no home
 * directories, a private /tmp, no privilege gain, no capabilities (unless a listen port is below
 * 1024), IPv4/IPv6 sockets only, and the `@system-service` system calls.
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { loadConfig } from "../config/mod.ts";
import { APP_DIR, configDirOf, listenedPort, serveGrant } from "../gateway/mod.ts";
import { PROTOCOLS } from "../protocols/registry.ts";
import { parseCommand, UsageError } from "./_args.ts";
import { err, out } from "./_io.ts";
import { firewallArgs, interceptPorts } from "./_isolate.ts";

/** Places `ProtectHome=yes` hides: a service cannot run an app installed there. */
const HOME_DIRS = ["/home/", "/root/", "/run/user/"];

/** What the unit is made from. */
export interface UnitOptions {
  /** The config, absolute. */
  config: string;
  /** The installed `clawpatrol` (the launcher). */
  bin: string;
  user: string;
  /** Paths the service writes (the grant's). */
  writable: string[];
  /** Paths it reads (the grant's): none may sit in a home directory. */
  readable: string[];
  /** Whether a listen port is below 1024 (then CAP_NET_BIND_SERVICE is kept). */
  lowPort: boolean;
  /**
   * With transparent interception: the privileged step that makes the virtual IPs local
   * (`isolate.sh prepare …`), run as root before the gateway starts.
   */
  prepare?: string;
}

/**
 * The unit's text.
 *
 * @example
 * ```ts
 * serviceUnit({ config: "/etc/clawpatrol/gateway.hcl", bin: "/opt/clawpatrol/bin/clawpatrol",
 *   user: "clawpatrol", writable: ["/var/lib/clawpatrol"], readable: [], lowPort: false });
 * ```
 */
export function serviceUnit(options: UnitOptions): string {
  const { config, bin, user, writable, lowPort, prepare } = options;
  // `+`: this one step runs as root, outside the sandbox below; the gateway never does.
  const before = prepare === undefined
    ? ""
    : `# Transparent interception: the virtual IPs' route and nftables table (isolate.sh).\n` +
      `ExecStartPre=+${prepare}\n`;
  const caps = lowPort ? "CAP_NET_BIND_SERVICE" : "";
  // A state directory under /var/lib is systemd's to create, own and keep at 0700.
  const managed = writable.filter((p) => p.startsWith("/var/lib/")).map((p) =>
    p.slice("/var/lib/".length)
  );
  const stateDirectory = managed.length > 0
    ? `StateDirectory=${managed.join(" ")}\nStateDirectoryMode=0700\n`
    : "";
  return `# clawpatrol gateway, written by 'clawpatrol systemd-unit'. Install it with:
#   cp clawpatrol.service /etc/systemd/system/ && systemctl daemon-reload
#   systemctl enable --now clawpatrol
# The user '${user}' must exist${
    managed.length === writable.length ? "" : ` and own ${writable.join(", ")} (mode 0700)`
  }.
[Unit]
Description=clawpatrol: a security firewall for AI agents
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=${user}
Group=${user}
# The launcher's grant reads the config from here (and the working directory).
WorkingDirectory=${dirname(config)}
Environment=CLAWPATROL_CONFIG=${config}
Environment=DENO_DIR=/var/cache/clawpatrol
Environment=DENO_NO_UPDATE_CHECK=1
CacheDirectory=clawpatrol
${stateDirectory}${before}ExecStart=${bin} serve -c ${config}
Restart=on-failure
RestartSec=2s
UMask=0077

# Filesystem: everything read-only but the state directory.
ProtectSystem=strict
ReadWritePaths=${writable.join(" ")}
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectProc=invisible
ProcSubset=pid
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
PrivateMounts=yes
RemoveIPC=yes
KeyringMode=private

# Privileges: none to gain, no capabilities${lowPort ? " but binding a port below 1024" : ""}.
NoNewPrivileges=yes
CapabilityBoundingSet=${caps}
AmbientCapabilities=${caps}
RestrictSUIDSGID=yes
PrivateUsers=${lowPort ? "no" : "yes"}
LockPersonality=yes
RestrictRealtime=yes
RestrictNamespaces=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources @mount @swap @reboot @raw-io @module @obsolete @cpu-emulation @debug
SystemCallErrorNumber=EPERM
# V8 compiles JavaScript to machine code at run time: it needs writable and executable memory.
MemoryDenyWriteExecute=no

# Network: IPv4 and IPv6 sockets only.
RestrictAddressFamilies=AF_INET AF_INET6
DevicePolicy=closed

[Install]
WantedBy=multi-user.target
`;
}

/** Runs `clawpatrol systemd-unit`. */
export async function systemdUnitCommand(args: string[]): Promise<number> {
  const { values, positionals, global } = parseCommand(args, {
    user: { type: "string" },
    bin: { type: "string" },
    output: { type: "string" },
  });
  if (positionals.length > 0) throw new UsageError("systemd-unit takes no arguments");
  const configPath = resolve(global.config);
  const config = await loadConfig(configPath, { protocols: PROTOCOLS });
  // The unit runs an installed launcher, PREFIX/bin/clawpatrol, whose app is PREFIX/lib/clawpatrol.
  const given = values.bin as string | undefined;
  const bin = resolve(given ?? join(dirname(dirname(APP_DIR)), "bin", "clawpatrol"));
  const app = given === undefined ? APP_DIR : join(dirname(dirname(bin)), "lib", "clawpatrol");
  const grant = serveGrant(config, PROTOCOLS, { app, configDir: await configDirOf(config) });
  const readable = [...grant.read, bin];
  const inHome = readable.find((p) => HOME_DIRS.some((h) => `${p}/`.startsWith(h)));
  if (inHome !== undefined) {
    throw new UsageError(
      `'${inHome}' is in a home directory, which the service cannot see (ProtectHome=yes): ` +
        "install to a system prefix (sh install.sh --prefix /opt/clawpatrol) and keep the " +
        "config and state outside /home",
    );
  }
  const hidden = readable.find((p) => ["/tmp/", "/var/tmp/"].some((t) => `${p}/`.startsWith(t)));
  if (hidden !== undefined) {
    err(
      `Warning: '${hidden}' is under a temporary directory the service sees privately (PrivateTmp=yes): move it`,
    );
  }
  const listens = [config.gateway.proxyListen, config.gateway.adminListen];
  for (const e of config.endpoints.values()) if (e.listen) listens.push(e.listen);
  const transparent = config.gateway.transparent;
  let prepare: string | undefined;
  if (transparent) {
    // The responder (port 53 by default) and the virtual IPs on the endpoints' own ports.
    const ports = interceptPorts(config);
    const offset = transparent.portOffset;
    listens.push(
      transparent.dnsListen,
      ...ports.map((port) => `vip:${listenedPort(port, offset)}`),
    );
    prepare = [
      "/bin/sh",
      join(app, "isolate.sh"),
      "prepare",
      ...["--vip-range", transparent.vipRange, "--link-range", transparent.linkRange],
      // systemd splits on spaces unless quoted: the port list is one argument.
      ...firewallArgs(transparent, ports).map((a, i, all) =>
        all[i - 1] === "--ports" ? `"${a}"` : a
      ),
    ].join(" ");
  }
  const lowPort = listens.some((l) => {
    const port = Number(l.slice(l.lastIndexOf(":") + 1));
    return port > 0 && port < 1024;
  });
  const text = serviceUnit({
    config: configPath,
    bin,
    user: (values.user as string | undefined) ?? "clawpatrol",
    writable: grant.write,
    readable,
    lowPort,
    prepare,
  });
  const output = values.output as string | undefined;
  if (output === undefined) out(text.trimEnd());
  else await Deno.writeTextFile(output, text);
  return 0;
}
