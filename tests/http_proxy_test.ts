/**
 * End-to-end behaviour of the forward proxy over raw sockets: CONNECT tunnels with TLS inside,
 * requests written by hand, so every status, header and byte the agent sees is asserted as sent.
 *
 * @module
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { DEFAULT_RULES, type ProxyFixture, withProxy } from "./_proxy_fixture.ts";
import { basic, connect, dialProxy, openTunnel, type RawConn, sha256 } from "./_raw_http.ts";
import { withTimeout } from "./_helpers.ts";

const RECEIPT = "x-clawpatrol-receipt";

/** Receipts by id. */
async function receiptsById(fx: ProxyFixture) {
  return new Map((await fx.receipts()).map((r) => [r.id, r]));
}

/** Closes `conn` after `fn`, whatever happens. */
async function using<T>(conn: RawConn, fn: (c: RawConn) => Promise<T>): Promise<T> {
  try {
    return await fn(conn);
  } finally {
    conn.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

Deno.test("an allowed GET reaches the upstream without Proxy-Authorization and its receipt records status, bytes and latency", async () => {
  await withProxy({}, async (fx) => {
    const res = await using(await openTunnel(fx), (t) =>
      t.request({
        method: "GET",
        target: "/hello?x=1",
        // Some clients repeat the proxy credentials inside the tunnel: they must not leak on.
        headers: [["Proxy-Authorization", `Basic ${btoa(`bot:${fx.token}`)}`]],
      }));
    equal(res.status, 200, res.text);
    const body = JSON.parse(res.text);
    equal(body.path, "/hello");
    equal(body.query, "?x=1");
    equal(body.host, "api.test");
    equal(fx.seen.length, 1);
    equal(fx.seen[0].headers.get("proxy-authorization"), null);
    const rows = await fx.receipts();
    equal(rows.length, 1);
    const [r] = rows;
    equal(r.id, res.headers.get(RECEIPT));
    equal(r.verdict, "allow");
    equal(r.rule, "reads");
    equal(r.agent, "bot");
    equal(r.profile, "bots");
    equal(r.upstreamStatus, 200);
    ok(r.bytesOut > 0, `bytesOut ${r.bytesOut}`);
    equal(r.bytesOut, res.body.length);
    ok(r.latencyMs > 0, `latencyMs ${r.latencyMs}`);
  });
});

Deno.test("a denied DELETE gets the 403 JSON deny shape and never reaches the upstream", async () => {
  await withProxy({}, async (fx) => {
    const res = await using(
      await openTunnel(fx),
      (t) => t.request({ method: "DELETE", target: "/repos/1" }),
    );
    equal(res.status, 403);
    equal(res.headers.get("content-type"), "application/json");
    const body = JSON.parse(res.text);
    deepEqual(Object.keys(body).sort(), ["error", "reason", "receipt", "rule"]);
    equal(body.error, "denied");
    equal(body.reason, "deletes are not allowed");
    equal(body.rule, "no-deletes");
    match(body.receipt, /^rcpt_/);
    equal(res.headers.get(RECEIPT), body.receipt);
    equal(fx.seen.length, 0);
    const rows = await fx.receipts();
    equal(rows.length, 1);
    equal(rows[0].id, body.receipt);
    equal(rows[0].verdict, "deny");
    equal(rows[0].rule, "no-deletes");
  });
});

Deno.test("CONNECT to a host no endpoint claims is refused with 403 and a receipt when unknown_host = deny", async () => {
  await withProxy({ unknownHost: "deny" }, async (fx) => {
    const { conn, response } = await connect(fx, { authority: "nowhere.example:443" });
    conn.close();
    equal(response.status, 403);
    const body = JSON.parse(response.text);
    equal(body.error, "denied");
    equal(body.rule, null);
    match(body.reason, /no endpoint claims host 'nowhere\.example'/);
    equal(response.headers.get(RECEIPT), body.receipt);
    const rows = await fx.receipts();
    equal(rows.length, 1);
    equal(rows[0].id, body.receipt);
    equal(rows[0].verdict, "deny");
    equal(rows[0].agent, "bot");
  });
});

/** A plain TCP echo server for one connection; `done` resolves with the bytes it echoed. */
function echoServer(): { port: number; done: Promise<number>; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const done = (async () => {
    const c = await listener.accept();
    const buf = new Uint8Array(64 * 1024);
    let total = 0;
    try {
      for (;;) {
        const n = await c.read(buf);
        if (n === null) break;
        total += n;
        let off = 0;
        while (off < n) off += await c.write(buf.subarray(off, n));
      }
    } finally {
      c.close();
    }
    return total;
  })();
  done.catch(() => {});
  return { port: listener.addr.port, done, close: () => listener.close() };
}

const OPAQUE = "\x00\x01 plain bytes, not a TLS ClientHello\r\n\r\n";

Deno.test("CONNECT to a host no endpoint claims relays bytes blindly when unknown_host = passthrough, with byte counts on the receipt", async () => {
  const echo = echoServer();
  try {
    await withProxy({ unknownHost: "passthrough" }, async (fx) => {
      const { conn, response } = await connect(fx, { authority: `127.0.0.1:${echo.port}` });
      await using(conn, async (c) => {
        equal(response.status, 200);
        // Not HTTP, not TLS: passthrough must not look at the bytes.
        await c.write(OPAQUE);
        equal(new TextDecoder().decode(await c.readExactly(OPAQUE.length)), OPAQUE);
        await c.write("second write");
        equal(new TextDecoder().decode(await c.readExactly(12)), "second write");
      });
      const sent = OPAQUE.length + 12;
      equal(await withTimeout(echo.done, 5_000, "the echo server"), sent);
      const rows = await fx.receipts();
      equal(rows.length, 1);
      equal(rows[0].verdict, "allow");
      equal(rows[0].agent, "bot");
      equal(rows[0].summary, `CONNECT 127.0.0.1:${echo.port} (passthrough)`);
      equal(rows[0].bytesIn, sent);
      equal(rows[0].bytesOut, sent);
    });
  } finally {
    echo.close();
  }
});

Deno.test({
  name:
    "passthrough relays a half-close: what the upstream sends after the agent's FIN still reaches the agent",
  fn: async () => {
    const echo = echoServer();
    try {
      await withProxy({ unknownHost: "passthrough" }, async (fx) => {
        const { conn, response } = await connect(fx, { authority: `127.0.0.1:${echo.port}` });
        const back = await using(conn, async (c) => {
          equal(response.status, 200);
          await c.write("hello");
          await (c.conn as Deno.TcpConn).closeWrite();
          return new TextDecoder().decode(await c.readToEnd());
        });
        equal(back, "hello");
        const rows = await fx.receipts();
        equal(rows[0].bytesOut, 5);
      });
    } finally {
      echo.close();
    }
  },
});

Deno.test({
  name: "a proxy request followed by a half-close still gets its response",
  fn: async () => {
    const plain = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      () => new Response("plain upstream"),
    );
    try {
      await withProxy({ unknownHost: "passthrough" }, async (fx) => {
        const authority = `127.0.0.1:${plain.addr.port}`;
        const c = await dialProxy(fx);
        const text = await using(c, async (c) => {
          await c.write(
            `GET http://${authority}/ HTTP/1.1\r\nHost: ${authority}\r\n` +
              `Proxy-Authorization: ${basic("bot", fx.token)}\r\nConnection: close\r\n\r\n`,
          );
          await (c.conn as Deno.TcpConn).closeWrite();
          return new TextDecoder().decode(await c.readToEnd());
        });
        match(text, /^HTTP\/1\.1 200 /);
        match(text, /plain upstream$/);
      });
    } finally {
      await plain.shutdown();
    }
  },
});

Deno.test("CONNECT without credentials gets 407 with a Basic challenge and a receipt", async () => {
  await withProxy({}, async (fx) => {
    const { conn, response } = await connect(fx, { token: null });
    conn.close();
    equal(response.status, 407);
    equal(response.headers.get("proxy-authenticate"), 'Basic realm="clawpatrol"');
    const body = JSON.parse(response.text);
    equal(body.error, "proxy_authentication_required");
    equal(response.headers.get(RECEIPT), body.receipt);
    const rows = await fx.receipts();
    equal(rows.length, 1);
    equal(rows[0].id, body.receipt);
    equal(rows[0].verdict, "deny");
    equal(rows[0].agent, null);
    equal(fx.seen.length, 0);
  });
});

Deno.test("CONNECT with a wrong token gets 407 and the token is written nowhere", async () => {
  await withProxy({}, async (fx) => {
    const wrong = "wrong-token-3f9c1d2e7a";
    const { conn, response } = await connect(fx, { token: wrong });
    conn.close();
    equal(response.status, 407);
    equal(response.headers.get("proxy-authenticate"), 'Basic realm="clawpatrol"');
    ok(!response.text.includes(wrong));
    const rows = await fx.receipts();
    equal(rows.length, 1);
    equal(rows[0].verdict, "deny");
    ok(!JSON.stringify(rows).includes(wrong), "the token is in a receipt");
    ok(!JSON.stringify(fx.log.lines).includes(wrong), "the token is in the operator log");
    // The raw database files too (WAL included), not only what the query layer returns.
    const state = join(fx.dir, "state");
    for await (const entry of Deno.readDir(state)) {
      if (!entry.isFile) continue;
      const bytes = await Deno.readFile(join(state, entry.name));
      ok(!new TextDecoder("latin1").decode(bytes).includes(wrong), `the token is in ${entry.name}`);
    }
  });
});

Deno.test("a revoked agent gets 407 on a new CONNECT", async () => {
  await withProxy({}, async (fx) => {
    fx.registry.revoke("bot");
    await sleep(150); // The gateway re-reads the registry at most every 100 ms.
    const { conn, response } = await connect(fx);
    conn.close();
    equal(response.status, 407);
    equal(fx.seen.length, 0);
  });
});

Deno.test("a revoked agent's open tunnel is refused at its next request: 403 'agent credentials are no longer valid'", async () => {
  await withProxy({}, async (fx) => {
    await using(await openTunnel(fx), async (t) => {
      const first = await t.request({ method: "GET", target: "/before" });
      equal(first.status, 200);
      fx.registry.revoke("bot");
      await sleep(150);
      const second = await t.request({ method: "GET", target: "/after" });
      equal(second.status, 403);
      const body = JSON.parse(second.text);
      equal(body.error, "denied");
      equal(body.reason, "agent credentials are no longer valid");
      equal(second.headers.get("connection"), "close");
      deepEqual(await t.readToEnd(), new Uint8Array(0));
    });
    deepEqual(fx.seen.map((s) => s.target), ["/before"]);
    const rows = await fx.receipts();
    deepEqual(rows.map((r) => r.verdict).sort(), ["allow", "deny"]);
  });
});

Deno.test("CONNECT to an endpoint outside the agent's profile is refused naming the endpoint and the profile", async () => {
  await withProxy({}, async (fx) => {
    const { conn, response } = await connect(fx, { authority: "other.test:443" });
    conn.close();
    equal(response.status, 403);
    const body = JSON.parse(response.text);
    equal(body.error, "denied");
    equal(body.reason, "endpoint 'other' is not in profile 'bots'");
    const rows = await fx.receipts();
    equal(rows.length, 1);
    equal(rows[0].verdict, "deny");
    equal(rows[0].endpoint, "other");
    equal(fx.seen.length, 0);
  });
});

Deno.test("one kept-alive tunnel carries allowed and denied requests in sequence, each decided and receipted on its own", async () => {
  await withProxy({}, async (fx) => {
    const sent = [
      { method: "GET", target: "/one", status: 200, verdict: "allow" },
      { method: "DELETE", target: "/two", status: 403, verdict: "deny" },
      { method: "GET", target: "/three", status: 200, verdict: "allow" },
      { method: "POST", target: "/echo", body: "payload=4", status: 200, verdict: "allow" },
      { method: "GET", target: "/five", status: 200, verdict: "allow" },
    ];
    const ids: string[] = [];
    await using(await openTunnel(fx), async (t) => {
      for (const s of sent) {
        const res = await t.request(s);
        equal(res.status, s.status, `${s.method} ${s.target}: ${res.text}`);
        const id = res.headers.get(RECEIPT);
        ok(id, `${s.method} ${s.target} has no receipt header`);
        ids.push(id);
        if (s.status === 200) {
          const echoed = JSON.parse(res.text);
          equal(echoed.path, s.target);
          equal(echoed.body, s.body ?? "");
        }
      }
    });
    deepEqual(fx.seen.map((s) => `${s.method} ${s.target}`), [
      "GET /one",
      "GET /three",
      "POST /echo",
      "GET /five",
    ]);
    const rows = await receiptsById(fx);
    equal(rows.size, 5);
    equal(new Set(ids).size, 5);
    sent.forEach((s, i) => {
      const r = rows.get(ids[i]);
      ok(r, `no receipt ${ids[i]}`);
      equal(r.verdict, s.verdict, `${s.method} ${s.target}`);
      match(r.summary, new RegExp(s.target));
    });
  });
});

Deno.test("a streamed response reaches the agent chunk by chunk, before the upstream has finished", async () => {
  let secondQueued = false;
  const handler = () =>
    new Response(
      new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(new TextEncoder().encode("first\n"));
          await sleep(500);
          secondQueued = true;
          controller.enqueue(new TextEncoder().encode("second\n"));
          controller.close();
        },
      }),
      { headers: { "content-type": "text/plain" } },
    );
  await withProxy({ handler }, async (fx) => {
    await using(await openTunnel(fx), async (t) => {
      await t.write("GET /stream HTTP/1.1\r\nHost: api.test\r\n\r\n");
      const head = await t.readHead();
      equal(head.status, 200);
      equal(head.headers.get("transfer-encoding"), "chunked");
      const first = await t.readChunk();
      equal(new TextDecoder().decode(first!), "first\n");
      equal(secondQueued, false, "the first chunk was held back until the second was produced");
      let rest = "";
      for (let c = await t.readChunk(); c; c = await t.readChunk()) {
        rest += new TextDecoder().decode(c);
      }
      equal(rest, "second\n");
      equal(secondQueued, true);
    });
    const rows = await fx.receipts();
    equal(rows[0].bytesOut, "first\nsecond\n".length);
  });
});

Deno.test("an upstream that is down gets 502 bad_gateway and a receipt with upstream status 502", async () => {
  await withProxy({}, async (fx) => {
    const res = await using(
      await openTunnel(fx, { authority: "down.test:443" }),
      (t) => t.request({ method: "GET", target: "/", host: "down.test" }),
    );
    equal(res.status, 502);
    const body = JSON.parse(res.text);
    equal(body.error, "bad_gateway");
    match(body.reason, /cannot connect to upstream down\.test/);
    const rows = await fx.receipts();
    equal(rows.length, 1);
    equal(rows[0].id, body.receipt);
    equal(rows[0].verdict, "allow");
    equal(rows[0].upstreamStatus, 502);
    match(rows[0].reason, /cannot connect/);
  });
});

Deno.test("an upstream whose certificate names another host gets 502 naming the certificate problem", async () => {
  await withProxy({}, async (fx) => {
    const res = await using(
      await openTunnel(fx, { authority: "badcert.test:443" }),
      (t) => t.request({ method: "GET", target: "/", host: "badcert.test" }),
    );
    equal(res.status, 502);
    const body = JSON.parse(res.text);
    equal(body.error, "bad_gateway");
    match(body.reason, /TLS with upstream badcert\.test.*certificate/);
    equal(fx.seen.length, 0);
    const rows = await fx.receipts();
    equal(rows.length, 1);
    equal(rows[0].upstreamStatus, 502);
    match(rows[0].reason, /certificate/);
  });
});

const BODY_RULES = `
rule "gated-by-body" {
  endpoint  = https.api
  priority  = 10
  condition = "http.method == 'post' && http.path == '/gated' && http.body.contains('ok')"
  verdict   = "allow"
}
${DEFAULT_RULES}
`;

Deno.test("a body past body_buffer is denied by a rule that reads the body (fail closed) and streamed intact when no rule reads it", async () => {
  await withProxy({ rules: BODY_RULES, limits: 'body_buffer = "1KiB"' }, async (fx) => {
    const big = "ok" + "0123456789abcdef".repeat(100 * 64); // ~100 KiB, 'ok' inside the buffer
    await using(await openTunnel(fx), async (t) => {
      const denied = await t.request({ method: "POST", target: "/gated", body: big });
      equal(denied.status, 403);
      const body = JSON.parse(denied.text);
      equal(body.rule, "gated-by-body");
    });
    const small = await using(
      await openTunnel(fx),
      (t) => t.request({ method: "POST", target: "/gated", body: "ok" }),
    );
    equal(small.status, 200, "the same rule allows a body that fits the buffer");
    const res = await using(
      await openTunnel(fx),
      (t) => t.request({ method: "POST", target: "/echo", body: big }),
    );
    equal(res.status, 200, res.text);
    equal(JSON.parse(res.text).body.length, big.length);
    const echo = fx.seen.find((s) => s.target === "/echo");
    ok(echo);
    equal(echo.body.length, big.length);
    equal(echo.body, big);
    const rows = await receiptsById(fx);
    const allowed = rows.get(res.headers.get(RECEIPT)!);
    equal(allowed?.bytesIn, big.length);
  });
});

Deno.test("a 5 MiB response arrives intact", async () => {
  const big = new Uint8Array(5 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 65536) crypto.getRandomValues(big.subarray(i, i + 65536));
  await withProxy({ handler: () => new Response(big) }, async (fx) => {
    const res = await using(
      await openTunnel(fx),
      (t) => t.request({ method: "GET", target: "/big" }, 20_000),
    );
    equal(res.status, 200);
    equal(res.body.length, big.length);
    equal(await sha256(res.body), await sha256(big));
    const rows = await fx.receipts();
    equal(rows[0].bytesOut, big.length);
  });
});

// ---------------------------------------------------------------------------------------------
// WebSocket (RFC 6455) frames, just enough for a text echo.

function wsFrame(opcode: number, payload: Uint8Array): Uint8Array {
  // Clients must mask every frame (RFC 6455 §5.3).
  const mask = crypto.getRandomValues(new Uint8Array(4));
  const len = payload.length;
  const head = len < 126
    ? [0x80 | opcode, 0x80 | len]
    : [0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff];
  const out = new Uint8Array(head.length + 4 + len);
  out.set(head);
  out.set(mask, head.length);
  for (let i = 0; i < len; i++) out[head.length + 4 + i] = payload[i] ^ mask[i % 4];
  return out;
}

async function readWsFrame(c: RawConn): Promise<{ opcode: number; payload: Uint8Array }> {
  const [b0, b1] = await c.readExactly(2);
  let len = b1 & 0x7f;
  if (len === 126) {
    const ext = await c.readExactly(2);
    len = (ext[0] << 8) | ext[1];
  } else if (len === 127) {
    throw new Error("64-bit frame lengths are not expected here");
  }
  const mask = b1 & 0x80 ? await c.readExactly(4) : null;
  const payload = await c.readExactly(len);
  if (mask) { for (let i = 0; i < len; i++) payload[i] ^= mask[i % 4]; }
  return { opcode: b0 & 0x0f, payload };
}

function wsUpgrade(path: string, key: string): string {
  return [
    `GET ${path} HTTP/1.1`,
    "Host: api.test",
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${key}`,
    "Sec-WebSocket-Version: 13",
    "",
    "",
  ].join("\r\n");
}

const WS_RULES = `
rule "no-denied-ws" {
  endpoint  = https.api
  priority  = 10
  condition = "http.path == '/ws-denied'"
  verdict   = "deny"
  reason    = "this socket is off limits"
}
${DEFAULT_RULES}
`;

function wsEcho(req: Request): Response {
  if (req.headers.get("upgrade") !== "websocket") {
    return new Response("not a websocket", { status: 400 });
  }
  const { socket, response } = Deno.upgradeWebSocket(req);
  socket.onmessage = (e) => socket.send(`echo: ${e.data}`);
  return response;
}

Deno.test("a WebSocket upgrade is relayed: frames go both ways through the tunnel", async () => {
  await withProxy({ rules: WS_RULES, handler: wsEcho }, async (fx) => {
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    await using(await openTunnel(fx), async (t) => {
      await t.write(wsUpgrade("/ws", key));
      const head = await t.readHead();
      equal(head.status, 101);
      equal(head.headers.get("upgrade")?.toLowerCase(), "websocket");
      const expected = await crypto.subtle.digest(
        "SHA-1",
        new TextEncoder().encode(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"),
      );
      equal(
        head.headers.get("sec-websocket-accept"),
        btoa(String.fromCharCode(...new Uint8Array(expected))),
      );
      ok(head.headers.get(RECEIPT));
      await t.write(wsFrame(0x1, new TextEncoder().encode("hello through the gateway")));
      const frame = await readWsFrame(t);
      equal(frame.opcode, 0x1);
      equal(new TextDecoder().decode(frame.payload), "echo: hello through the gateway");
      await t.write(wsFrame(0x8, new Uint8Array([0x03, 0xe8]))); // close, 1000
      const closing = await readWsFrame(t);
      equal(closing.opcode, 0x8);
    });
    const rows = await fx.receipts();
    equal(rows.length, 1);
    equal(rows[0].verdict, "allow");
    equal(rows[0].upstreamStatus, 101);
  });
});

Deno.test("a denied WebSocket upgrade gets 403 and never reaches the upstream", async () => {
  await withProxy({ rules: WS_RULES, handler: wsEcho }, async (fx) => {
    const key = btoa("0123456789abcdef");
    const res = await using(await openTunnel(fx), async (t) => {
      await t.write(wsUpgrade("/ws-denied", key));
      return await t.readResponse();
    });
    equal(res.status, 403);
    const body = JSON.parse(res.text);
    equal(body.rule, "no-denied-ws");
    equal(body.reason, "this socket is off limits");
    equal(fx.seen.length, 0);
  });
});

Deno.test("100 agents with their own tunnels, 3 GETs each, all at once: 300 answers, 300 allow receipts", async () => {
  await withProxy({}, async (fx) => {
    const agents = Array.from({ length: 100 }, (_, i) => {
      const name = `agent-${i}`;
      return { name, token: fx.addAgent(name) };
    });
    await sleep(150); // The gateway re-reads the registry at most every 100 ms.
    const results = await Promise.all(agents.map(async ({ name, token }) => {
      const t = await openTunnel(fx, { agent: name, token });
      return await using(t, async (c) => {
        const out: string[] = [];
        for (let i = 0; i < 3; i++) {
          const res = await c.request({ method: "GET", target: `/${name}/${i}` }, 20_000);
          equal(res.status, 200, `${name} #${i}: ${res.text}`);
          out.push(JSON.parse(res.text).path);
        }
        return out;
      });
    }));
    equal(results.flat().length, 300);
    results.forEach((paths, i) => deepEqual(paths, [0, 1, 2].map((n) => `/agent-${i}/${n}`)));
    const rows = await fx.receipts();
    equal(rows.length, 300);
    ok(rows.every((r) => r.verdict === "allow" && r.upstreamStatus === 200));
    const perAgent = new Map<string, number>();
    for (const r of rows) perAgent.set(r.agent!, (perAgent.get(r.agent!) ?? 0) + 1);
    equal(perAgent.size, 100);
    ok([...perAgent.values()].every((n) => n === 3));
  });
});

Deno.test("/metrics counts denies by rule and open agent connections", async () => {
  await withProxy({}, async (fx) => {
    const metrics = async () => {
      const res = await fetch(`http://127.0.0.1:${fx.gateway.adminAddress.port}/metrics`);
      return await res.text();
    };
    await using(await openTunnel(fx), async (t) => {
      equal((await t.request({ method: "DELETE", target: "/a" })).status, 403);
      equal((await t.request({ method: "GET", target: "/b" })).status, 200);
      equal((await t.request({ method: "DELETE", target: "/c" })).status, 403);
      const open = await metrics();
      match(
        open,
        /^clawpatrol_actions_total\{protocol="https",verdict="deny",rule="no-deletes"\} 2$/m,
      );
      match(open, /^clawpatrol_actions_total\{protocol="https",verdict="allow",rule="reads"\} 1$/m);
      match(open, /^clawpatrol_open_connections\{protocol="https"\} 1$/m);
    });
    await fx.receipts();
    let last = "";
    for (let i = 0; i < 50; i++) {
      last = await metrics();
      if (/^clawpatrol_open_connections\{protocol="https"\} 0$/m.test(last)) break;
      await sleep(20);
    }
    match(last, /^clawpatrol_open_connections\{protocol="https"\} 0$/m);
  });
});

Deno.test("a client that stalls mid-head gets 408 after header_timeout while other clients are served", async () => {
  await withProxy({ limits: 'header_timeout = "500ms"' }, async (fx) => {
    const slow = await dialProxy(fx);
    await using(slow, async (s) => {
      const started = performance.now();
      await s.write("CONNECT api.test:443 HTTP/1.1\r\nHost: api.te");
      let timedOutAt = 0;
      const timedOut = s.readResponse().then((res) => {
        timedOutAt = performance.now();
        return res;
      });
      // Meanwhile a well-behaved agent is served, without waiting for the slow one.
      const res = await using(
        await openTunnel(fx),
        (t) => t.request({ method: "GET", target: "/meanwhile" }),
      );
      equal(res.status, 200);
      equal(timedOutAt, 0, "the other client was served only after the slow one timed out");
      const refused = await timedOut;
      equal(refused.status, 408);
      equal(JSON.parse(refused.text).error, "request_timeout");
      equal(refused.headers.get("connection"), "close");
      ok(
        timedOutAt - started >= 500,
        `408 after ${timedOutAt - started} ms, before header_timeout`,
      );
      deepEqual(await s.readToEnd(), new Uint8Array(0));
      const rows = await receiptsById(fx);
      equal(rows.get(refused.headers.get(RECEIPT)!)?.verdict, "deny");
      equal(rows.get(res.headers.get(RECEIPT)!)?.verdict, "allow");
    });
  });
});

Deno.test("a plain http:// request to a host an https endpoint claims is refused, never sent in cleartext", async () => {
  await withProxy({}, async (fx) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: fx.proxyPort });
    try {
      const auth = btoa(`${fx.agent}:${fx.token}`);
      await conn.write(
        new TextEncoder().encode(
          `GET http://api.test/a HTTP/1.1\r\nHost: api.test\r\nProxy-Authorization: Basic ${auth}\r\n\r\n`,
        ),
      );
      const buf = new Uint8Array(4096);
      const n = await conn.read(buf);
      const text = new TextDecoder().decode(buf.subarray(0, n ?? 0));
      match(text, /^HTTP\/1\.1 400 /);
      match(text, /takes https only/);
      equal(fx.seen.length, 0);
      const rows = await fx.receipts();
      equal(rows.length, 1);
      equal(rows[0].verdict, "deny");
      equal(rows[0].endpoint, "api");
    } finally {
      conn.close();
    }
  });
});
