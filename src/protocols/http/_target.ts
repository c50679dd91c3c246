/**
 * Request targets the proxy accepts (RFC 9112 §3.2): authority-form for CONNECT, absolute-form
 * for plain-HTTP proxying, and the checks that keep `Host` and the target in agreement.
 *
 * @module
 */

/** A host and port, the host lowercase without a trailing dot. */
export interface Authority {
  host: string;
  port: number;
}

const HOST_NAME = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const IPV6 = /^[0-9a-f:.]+$/;

/**
 * Parses `host[:port]` (IPv6 in brackets). Returns `null` for anything else: userinfo, empty or
 * invalid hosts, ports outside 1-65535. `defaultPort` applies when the port is absent; when it
 * is `null` a port is required.
 */
export function parseAuthority(text: string, defaultPort: number | null): Authority | null {
  let host: string;
  let portText: string | undefined;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end < 0) return null;
    host = text.slice(1, end).toLowerCase();
    const rest = text.slice(end + 1);
    if (rest !== "" && !rest.startsWith(":")) return null;
    portText = rest ? rest.slice(1) : undefined;
    if (!IPV6.test(host) || !host.includes(":")) return null;
  } else {
    const colon = text.lastIndexOf(":");
    host = (colon >= 0 ? text.slice(0, colon) : text).toLowerCase();
    portText = colon >= 0 ? text.slice(colon + 1) : undefined;
    // Trailing dots name the same host; strip them so rules and routing see one spelling.
    while (host.endsWith(".")) host = host.slice(0, -1);
    if (!HOST_NAME.test(host) || host.length > 253) return null;
    if (IPV4.test(host) && host.split(".").some((o) => Number(o) > 255)) return null;
  }
  let port: number;
  if (portText === undefined) {
    if (defaultPort === null) return null;
    port = defaultPort;
  } else {
    if (!/^\d{1,5}$/.test(portText)) return null;
    port = Number(portText);
  }
  if (port < 1 || port > 65535) return null;
  return { host, port };
}

/** An absolute-form target split into its authority and origin-form rest. */
export interface AbsoluteTarget extends Authority {
  scheme: "http" | "https";
  /** `/path?query`, `/` when the URL has no path. */
  target: string;
}

/** Parses an absolute-form `http://host[:port]/path?query`; `null` when it is not one. */
export function parseAbsoluteTarget(target: string): AbsoluteTarget | null {
  const m = /^(https?):\/\/([^/?#]*)(.*)$/i.exec(target);
  if (!m) return null;
  const scheme = m[1].toLowerCase() as "http" | "https";
  // Userinfo in a request target is a known confusion vector; RFC 9110 §4.2.4 forbids it.
  if (m[2].includes("@")) return null;
  const authority = parseAuthority(m[2], scheme === "https" ? 443 : 80);
  if (!authority) return null;
  let rest = m[3];
  if (rest.startsWith("?")) rest = `/${rest}`;
  if (rest === "") rest = "/";
  return { scheme, ...authority, target: rest };
}

/** Whether a `Host` header value names the same host and port as `target`. */
export function hostMatches(hostHeader: string, target: Authority, defaultPort: number): boolean {
  // Each request in a tunnel carries the same `Host`: its parse (pure) is kept from the last one.
  if (hostHeader !== lastHost.text || defaultPort !== lastHost.defaultPort) {
    lastHost = { text: hostHeader, defaultPort, parsed: parseAuthority(hostHeader, defaultPort) };
  }
  const parsed = lastHost.parsed;
  return parsed !== null && parsed.host === target.host && parsed.port === target.port;
}

/** The last `Host` value {@linkcode hostMatches} parsed, and what it parsed to. */
let lastHost: { text: string; defaultPort: number; parsed: Authority | null } = {
  text: "",
  defaultPort: 0,
  parsed: null,
};

/**
 * The absolute-form `http://` target of a request sent to the proxy itself, or why it is refused.
 * An `https://` target belongs in a CONNECT tunnel. `Host` must agree with the target (RFC 9112
 * §3.2.2): at most one, naming it, and none only from HTTP/1.0; otherwise the upstream could
 * route the request somewhere the rules never looked at.
 *
 * @example
 * ```ts
 * proxyTarget("http://api.test/a", ["api.test"], "HTTP/1.1");
 * // { absolute: { scheme: "http", host: "api.test", port: 80, target: "/a" } }
 * proxyTarget("https://api.test/a", ["api.test"], "HTTP/1.1").problem;
 * // "use CONNECT for https:// targets"
 * ```
 */
export function proxyTarget(
  target: string,
  hosts: readonly string[],
  version: string,
): { absolute: AbsoluteTarget } | { problem: string } {
  const absolute = parseAbsoluteTarget(target);
  if (!absolute) {
    return { problem: "a proxy request needs an absolute http:// target, or CONNECT" };
  }
  if (absolute.scheme !== "http") return { problem: "use CONNECT for https:// targets" };
  if (
    hosts.length > 1 || (hosts.length === 0 && version === "HTTP/1.1") ||
    (hosts.length === 1 && !hostMatches(hosts[0], absolute, 80))
  ) {
    return { problem: "Host header does not match the request target" };
  }
  return { absolute };
}

/**
 * The origin-form target of a request inside a CONNECT tunnel to `tunnel`, or why it is refused.
 * An absolute-form target must name the tunnel itself (https, same host and port); anything else
 * must be a path. Exactly one `Host` (RFC 9112 §3.2), naming the tunnel: otherwise the upstream
 * could route the request somewhere the rules never looked at.
 *
 * @example
 * ```ts
 * tunnelOrigin("/a?b", ["api.test"], { host: "api.test", port: 443 }); // { origin: "/a?b" }
 * tunnelOrigin("/a", ["evil.test"], { host: "api.test", port: 443 }).problem;
 * // "Host header does not match the CONNECT target"
 * ```
 */
export function tunnelOrigin(
  target: string,
  hosts: readonly string[],
  tunnel: Authority,
): { origin: string } | { problem: string } {
  let origin = target;
  const absolute = parseAbsoluteTarget(target);
  if (absolute) {
    if (
      absolute.host !== tunnel.host || absolute.port !== tunnel.port || absolute.scheme !== "https"
    ) {
      return { problem: "request target does not match the CONNECT target" };
    }
    origin = absolute.target;
  } else if (!target.startsWith("/")) {
    return { problem: "request target must be a path inside a tunnel" };
  }
  if (hosts.length !== 1 || !hostMatches(hosts[0], tunnel, 443)) {
    return { problem: "Host header does not match the CONNECT target" };
  }
  return { origin };
}

/** Decodes `Proxy-Authorization: Basic base64(name:token)`; `null` when absent or malformed. */
export function basicCredentials(
  values: readonly string[],
): { name: string; token: string } | null {
  if (values.length !== 1) return null;
  const m = /^basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(values[0]);
  if (!m) return null;
  let decoded: string;
  try {
    decoded = atob(m[1]);
  } catch {
    return null;
  }
  const colon = decoded.indexOf(":");
  if (colon <= 0) return null;
  return { name: decoded.slice(0, colon), token: decoded.slice(colon + 1) };
}
