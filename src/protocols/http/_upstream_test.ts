import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { UpstreamPool, type UpstreamTarget } from "./_upstream.ts";
import { netServices } from "../../net/mod.ts";

/** A plain TCP server that hands each accepted connection to the test. */
function server() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const waiting: ((c: Deno.Conn) => void)[] = [];
  (async () => {
    for await (const conn of listener) {
      const w = waiting.shift();
      if (w) w(conn);
      else accepted.push(conn);
    }
  })().catch(() => {});
  return {
    target: {
      dialHost: "127.0.0.1",
      dialPort: listener.addr.port,
      serverName: "127.0.0.1",
      tls: false,
    } satisfies UpstreamTarget,
    next: (): Promise<Deno.Conn> => {
      const c = accepted.shift();
      return c ? Promise.resolve(c) : new Promise((resolve) => waiting.push(resolve));
    },
    close: () => listener.close(),
  };
}

/** Polls `check` each macrotask turn, at most `turns` times (a condition, not a sleep). */
async function until(what: string, check: () => boolean, turns = 500): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`Gave up waiting for ${what}`);
}

Deno.test("UpstreamPool drops an idle connection as soon as the upstream closes it", async () => {
  const up = server();
  const pool = new UpstreamPool({ net: netServices() });
  try {
    const first = await pool.acquire(up.target);
    assertEquals(first.reused, false);
    const serverSide = await up.next();
    pool.release(first);
    assertEquals(pool.idleCount, 1);
    serverSide.close(); // the upstream's own keep-alive timeout
    await until("the pool to notice the close", () => pool.idleCount === 0);
    const second = await pool.acquire(up.target);
    assertEquals(second.reused, false, "a connection the upstream closed was leased again");
    second.stream.destroy();
    (await up.next()).close();
  } finally {
    pool.close();
    up.close();
  }
});

Deno.test("UpstreamPool hands a reused connection's first bytes to the new holder", async () => {
  const up = server();
  const pool = new UpstreamPool({ net: netServices() });
  try {
    const first = await pool.acquire(up.target);
    const serverSide = await up.next();
    pool.release(first); // idle, with its watching read pending
    const again = await pool.acquire(up.target);
    assertEquals(again.reused, true);
    await serverSide.write(new TextEncoder().encode("answer"));
    assertEquals(new TextDecoder().decode((await again.stream.read())!), "answer");
    again.stream.destroy();
    serverSide.close();
  } finally {
    pool.close();
    up.close();
  }
});

Deno.test("UpstreamPool drops an idle connection the upstream sends unasked-for bytes on", async () => {
  const up = server();
  const pool = new UpstreamPool({ net: netServices() });
  try {
    const first = await pool.acquire(up.target);
    const serverSide = await up.next();
    pool.release(first);
    // A late or stray response must not be read as the answer to the next request.
    await serverSide.write(new TextEncoder().encode("HTTP/1.1 408 Request Timeout\r\n\r\n"));
    await until("the pool to drop the connection", () => pool.idleCount === 0);
    assert(first.stream.closed);
    serverSide.close();
  } finally {
    pool.close();
    up.close();
  }
});

Deno.test("UpstreamPool.acquire({ fresh: true }) dials even when an idle connection is pooled", async () => {
  const up = server();
  const pool = new UpstreamPool({ net: netServices() });
  try {
    const first = await pool.acquire(up.target);
    const a = await up.next();
    pool.release(first);
    const fresh = await pool.acquire(up.target, { fresh: true });
    const b = await up.next();
    assertEquals(fresh.reused, false);
    assertEquals(pool.idleCount, 1, "the idle connection stays for later requests");
    fresh.stream.destroy();
    a.close();
    b.close();
  } finally {
    pool.close();
    up.close();
  }
});

Deno.test("UpstreamPool reuses a connection only for the same trust roots and client certificate", async () => {
  const up = server();
  const pool = new UpstreamPool({ net: netServices() });
  const pem = (label: string) => `-----BEGIN CERTIFICATE-----\n${label.repeat(40)}\n-----END`;
  const certPem = pem("C");
  const target = { ...up.target, caCert: pem("A"), clientCert: { certPem, keyPem: "k" } };
  const opened: Deno.Conn[] = [];
  const lease = async (t: UpstreamTarget) => {
    const got = await pool.acquire(t);
    if (!got.reused) opened.push(await up.next());
    return got;
  };
  try {
    pool.release(await lease(target));
    // Other roots, or another client certificate (a rotated one): never the pooled connection.
    const otherRoots = await lease({ ...target, caCert: pem("B") });
    const otherCert = await lease({ ...target, clientCert: { certPem: pem("D"), keyPem: "k" } });
    const noRoots = await lease({ ...target, caCert: undefined });
    assertEquals([otherRoots.reused, otherCert.reused, noRoots.reused], [false, false, false]);
    // Equal texts, even as other string objects, are the same key.
    const same = await lease({
      ...target,
      caCert: JSON.parse(JSON.stringify(pem("A"))),
      clientCert: { certPem: JSON.parse(JSON.stringify(certPem)), keyPem: "k" },
    });
    assertEquals(same.reused, true);
    for (const l of [otherRoots, otherCert, noRoots, same]) l.stream.destroy();
  } finally {
    for (const c of opened) c.close();
    pool.close();
    up.close();
  }
});
