import { deepEqual, equal, match, notEqual, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import type { Config } from "../config/mod.ts";
import {
  type Endpoint,
  Health,
  MemoryLogger,
  type Protocol,
  type ProtocolListener,
  splitHostPort,
} from "../core/mod.ts";
import { ListenerSet } from "./_listener_set.ts";
import { gatewayListenSetting, listenFailed } from "./_listeners.ts";

/** A protocol whose listener is a bare TCP listener that keeps every connection it accepts. */
const LINE: Protocol = { family: "line", facets: [], listen: () => Promise.reject() };
const NO_LISTEN: Protocol = { family: "nolisten", facets: [] };

/** Why each line listener was closed, by endpoint: what its sessions would be told. */
const closedWith = new Map<string, string | undefined>();

/** A listener over Deno.listen; `close()` ends the connections it accepted. */
function openLine(_protocol: Protocol, endpoint: Endpoint): Promise<ProtocolListener> {
  const [hostname, port] = splitHostPort(endpoint.listen!);
  const tcp = Deno.listen({ hostname, port });
  const conns = new Set<Deno.Conn>();
  const accepting = (async () => {
    for await (const conn of tcp) conns.add(conn);
  })().catch(() => {});
  const address = { hostname: tcp.addr.hostname, port: tcp.addr.port };
  return Promise.resolve({
    endpoint: endpoint.name,
    address,
    url: `${address.hostname}:${address.port}`,
    close: async (reason?: string) => {
      closedWith.set(endpoint.name, reason);
      tcp.close();
      await accepting;
      for (const conn of conns) conn.close();
    },
    endRevokedSessions: () => {},
  });
}

/** A port nothing listens on right now. */
function freePort(): number {
  using l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return l.addr.port;
}

function endpoint(name: string, listen?: string, protocol = "line", line = 1): Endpoint {
  return { protocol, name, listen, source: { file: "gateway.hcl", line } };
}

function config(...endpoints: Endpoint[]): Config {
  return {
    path: "gateway.hcl",
    files: [],
    endpoints: new Map(endpoints.map((e) => [e.name, e])),
  } as unknown as Config;
}

async function withSet(
  fn: (set: ListenerSet, ctx: { log: MemoryLogger; health: Health }) => Promise<void>,
): Promise<void> {
  const log = new MemoryLogger();
  const health = new Health();
  const set = new ListenerSet({ protocols: [NO_LISTEN, LINE], open: openLine, log, health });
  try {
    await fn(set, { log, health });
  } finally {
    await set.close();
  }
}

/** Whether `port` on loopback accepts connections; the probe connection is closed again. */
async function accepts(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.ConnectionRefused) return false;
    throw err;
  }
}

/** Resolves with `null` once the peer closes `conn` (or it fails). */
async function ended(conn: Deno.Conn): Promise<null> {
  try {
    const n = await conn.read(new Uint8Array(1));
    equal(n, null, "no bytes expected");
  } catch {
    // Reset: ended too.
  }
  return null;
}

Deno.test("reconcile() opens added listeners, closes removed ones, leaves unchanged ones and their connections alone", async () => {
  await withSet(async (set, { log }) => {
    await set.start(
      config(endpoint("a", "127.0.0.1:0"), endpoint("skip", "127.0.0.1:0", "nolisten")),
    );
    const a = set.addresses("line").get("a")!;
    deepEqual([...set.addresses("line").keys()], ["a"], "only families that declare listen");
    const kept = await Deno.connect({ hostname: "127.0.0.1", port: a.port });
    try {
      const failures = await set.reconcile(
        config(endpoint("b", "127.0.0.1:0"), endpoint("a", "127.0.0.1:0")),
      );
      deepEqual(failures, []);
      deepEqual([...set.addresses("line").keys()], ["b", "a"], "config order");
      deepEqual(set.addresses("line").get("a"), a, "an unchanged listener is the same one");
      ok(await accepts(set.addresses("line").get("b")!.port), "the added listener accepts");
      match(log.messages("info").join("\n"), /^line listener b opened on 127\.0\.0\.1:\d+$/m);

      await set.reconcile(config(endpoint("b", "127.0.0.1:0")));
      deepEqual([...set.addresses("line").keys()], ["b"]);
      equal(await accepts(a.port), false, "the removed endpoint's address refuses");
      equal(await ended(kept), null, "the removed endpoint's open connection ended");
      equal(closedWith.get("a"), "the endpoint's listener closed: endpoint removed");
      ok(
        log.messages("info").includes(
          `line listener a on 127.0.0.1:${a.port} closed: endpoint removed`,
        ),
      );
    } finally {
      kept.close();
    }
  });
});

Deno.test("reconcile() moves a listener to its new address; the old one refuses", async () => {
  await withSet(async (set, { log }) => {
    await set.start(config(endpoint("a", "127.0.0.1:0")));
    const old = set.addresses("line").get("a")!.port;
    const port = freePort();
    deepEqual(await set.reconcile(config(endpoint("a", `127.0.0.1:${port}`))), []);
    equal(set.addresses("line").get("a")!.port, port);
    ok(await accepts(port));
    equal(await accepts(old), false);
    ok(log.messages("info").some((m) => m.endsWith(`closed: listen is now '127.0.0.1:${port}'`)));
  });
});

Deno.test("reconcile() closes before it opens: two endpoints swap ports in one reload", async () => {
  await withSet(async (set) => {
    const [p, q] = [freePort(), freePort()];
    notEqual(p, q);
    await set.start(config(endpoint("a", `127.0.0.1:${p}`), endpoint("b", `127.0.0.1:${q}`)));
    const failures = await set.reconcile(
      config(endpoint("a", `127.0.0.1:${q}`), endpoint("b", `127.0.0.1:${p}`)),
    );
    deepEqual(failures, []);
    equal(set.addresses("line").get("a")!.port, q);
    equal(set.addresses("line").get("b")!.port, p);
  });
});

Deno.test("reconcile() logs a listener that cannot open with endpoint, address and line, opens the rest, and retries at the next reload", async () => {
  await withSet(async (set, { log, health }) => {
    await set.start(config(endpoint("a", "127.0.0.1:0")));
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const address = `127.0.0.1:${taken.addr.port}`;
    const next = config(
      endpoint("a", "127.0.0.1:0"),
      endpoint("busy", address, "line", 7),
      endpoint("c", "127.0.0.1:0"),
    );
    try {
      const failures = await set.reconcile(next);
      equal(failures.length, 1);
      const pattern =
        `^config reload: Cannot listen on endpoint "line" "busy" listen '${address}': .*in use.*: change listen in gateway\\.hcl:7, or stop what listens on port ${taken.addr.port}; the endpoint has no listener until a reload opens it$`;
      match(log.messages("error").join("\n"), new RegExp(pattern, "mi"));
      deepEqual([...set.addresses("line").keys()], ["a", "c"], "the rest of the reload applies");
      deepEqual(
        health.report().problems.map((p) => [p.component, p.level]),
        [["listen:line:busy", "degraded"]],
      );
    } finally {
      taken.close();
    }
    deepEqual(await set.reconcile(next), [], "the port is free now: the same config retries it");
    deepEqual([...set.addresses("line").keys()], ["a", "busy", "c"]);
    equal(health.report().status, "ok");
  });
});

Deno.test("reconcile() forgets the failure of a listener whose endpoint is removed", async () => {
  await withSet(async (set, { health }) => {
    using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    await set.start(config());
    await set.reconcile(config(endpoint("busy", `127.0.0.1:${taken.addr.port}`)));
    equal(health.report().status, "degraded");
    await set.reconcile(config());
    equal(health.report().status, "ok");
  });
});

Deno.test("start() rejects naming the endpoint, its address and its listen line, the others closed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_listeners_" });
  try {
    const file = join(dir, "gateway.hcl");
    using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const address = `127.0.0.1:${taken.addr.port}`;
    await Deno.writeTextFile(
      file,
      `schema_version = 1\nendpoint "line" "busy" {\n  host = "x"\n  listen = "${address}"\n}\n`,
    );
    const busy: Endpoint = { ...endpoint("busy", address), source: { file, line: 2 } };
    await withSet(async (set) => {
      const first = freePort();
      await rejects(
        set.start(config(endpoint("a", `127.0.0.1:${first}`), busy)),
        (err: Error) => {
          equal(
            err.message.replace(/: [^:]*in use[^:]*:/i, ": <in use>:"),
            `Cannot listen on endpoint "line" "busy" listen '${address}': <in use>: change listen in ${file}:4, or stop what listens on port ${taken.addr.port}`,
          );
          ok(err.cause instanceof Deno.errors.AddrInUse);
          return true;
        },
      );
      equal(set.listeners.length, 0);
      equal(await accepts(first), false, "the listener opened before the failure is closed");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("close() closes every listener; a reconcile queued before or called after it opens nothing", async () => {
  await withSet(async (set) => {
    await set.start(config(endpoint("a", "127.0.0.1:0")));
    const a = set.addresses("line").get("a")!.port;
    const queued = set.reconcile(
      config(endpoint("a", "127.0.0.1:0"), endpoint("b", "127.0.0.1:0")),
    );
    await set.close();
    deepEqual(await queued, []);
    equal(set.listeners.length, 0);
    equal(await accepts(a), false);
    deepEqual(await set.reconcile(config(endpoint("c", "127.0.0.1:0"))), []);
    equal(set.listeners.length, 0);
  });
});

Deno.test("listenFailed() says where to set a gateway listen that takes its default", () => {
  const defaults = {
    path: "/etc/clawpatrol/gateway.hcl",
    files: ["/nonexistent/gateway.hcl"],
    gateway: { proxyListen: "127.0.0.1:8080", adminListen: "127.0.0.1:8081" },
  } as unknown as Config;
  const err = listenFailed(
    gatewayListenSetting(defaults, "admin_listen"),
    new Deno.errors.AddrInUse("Address already in use (os error 98)"),
  );
  equal(
    err.message,
    "Cannot listen on gateway.admin_listen '127.0.0.1:8081': Address already in use (os error 98): set admin_listen in the gateway block of /nonexistent/gateway.hcl, or stop what listens on port 8081",
  );
  const low = listenFailed(
    gatewayListenSetting(
      { ...defaults, gateway: { proxyListen: "0.0.0.0:80" } } as Config,
      "proxy_listen",
    ),
    new Deno.errors.PermissionDenied("Permission denied (os error 13)"),
  );
  match(
    low.message,
    /: set proxy_listen in .* to a port above 1023, or grant the gateway CAP_NET_BIND_SERVICE$/,
  );
});
