/**
 * Upstream connection reuse through the forward proxy, against real HTTPS upstreams (node:https)
 * that close idle connections or drop a reused one: requests after an idle close succeed, a
 * reused connection that fails before answering is retried once only when that is safe, an
 * approval wait dials afresh, and failures are counted, logged and recorded on the receipt.
 */

import { deepStrictEqual as equal, ok } from "node:assert/strict";
import https from "node:https";
import type { Socket } from "node:net";
import { join } from "node:path";
import { DEFAULT_RULES, type ProxyFixture, withProxy } from "./_proxy_fixture.ts";
import { mintTestCa, mintTestCertificate } from "./_test_ca.ts";
import { openTunnel, type RawConn, requestBytes } from "./_raw_http.ts";
import { eventually } from "./_helpers.ts";

/** One request as the upstream saw it, and the connection it came on (numbered from 1). */
interface Seen {
  method: string;
  path: string;
  socket: number;
}

/** Options for {@linkcode upstream}. */
interface UpstreamOptions {
  /** node's `server.keepAliveTimeout`: idle connections are closed after about this long. */
  keepAliveTimeoutMs?: number;
  /** Drop (destroy, no answer) every request after the first on a connection. */
  dropReused?: boolean;
}

/** A real HTTPS upstream for `reuse.test` with its own CA, reporting what it saw. */
async function upstream(dir: string, options: UpstreamOptions) {
  const ca = await mintTestCa("reuse upstream CA");
  const leaf = await mintTestCertificate(ca, { hosts: ["reuse.test"] });
  const caFile = join(dir, "reuse-ca.pem");
  await Deno.writeTextFile(caFile, ca.certPem);
  const seen: Seen[] = [];
  const state = { closed: 0, sockets: 0 };
  const ids = new WeakMap<Socket, { id: number; requests: number }>();
  const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
    const conn = ids.get(req.socket)!;
    conn.requests++;
    seen.push({ method: req.method!, path: req.url!, socket: conn.id });
    // The race an idle close loses to a request: the upstream hangs up instead of answering.
    if (options.dropReused && conn.requests > 1) return req.socket.destroy();
    req.resume();
    req.on("end", () => res.end(JSON.stringify({ path: req.url, socket: conn.id })));
  });
  server.on("secureConnection", (socket: Socket) => {
    ids.set(socket, { id: ++state.sockets, requests: 0 });
    socket.on("close", () => state.closed++);
  });
  if (options.keepAliveTimeoutMs) server.keepAliveTimeout = options.keepAliveTimeoutMs;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    caFile,
    seen,
    state,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

const reuseRules = `
approver "human_approver" "ops" {
  timeout = "30s"
}
rule "reuse-writes-need-approval" {
  endpoint  = https.reuse
  condition = "http.method == 'post' && http.path == '/write'"
  approve   = [human_approver.ops]
}
rule "reuse-all" {
  endpoint  = https.reuse
  condition = "true"
  verdict   = "allow"
}
${DEFAULT_RULES}`;

type Upstream = Awaited<ReturnType<typeof upstream>>;

/** A gateway whose endpoint `reuse` leads to a fresh upstream; `fn` gets a tunnel to it. */
async function withReuse(
  options: UpstreamOptions,
  fn: (fx: ProxyFixture, conn: RawConn, up: Upstream) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_reuse_" });
  const up = await upstream(dir, options);
  try {
    await withProxy({
      rules: reuseRules,
      credentials: `
endpoint "https" "reuse" {
  hosts    = ["reuse.test"]
  upstream = "127.0.0.1:${up.port}"
  ca_cert  = "<<file:${up.caFile}>>"
}
profile "reusers" {
  endpoints = [https.reuse]
}`,
    }, async (fx) => {
      const token = fx.addAgent("reuser", "reusers");
      // The gateway re-reads the agents file at most every 100 ms: wait until it knows the agent.
      const conn = await eventually(
        "the new agent's tunnel",
        () => openTunnel(fx, { authority: "reuse.test:443", agent: "reuser", token }),
      );
      try {
        await fn(fx, conn, up);
      } finally {
        conn.close();
      }
    });
  } finally {
    up.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Samples of one metric family, as `{labels} value` lines. */
async function metric(fx: ProxyFixture, name: string): Promise<string[]> {
  const { port } = fx.gateway.adminAddress;
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text.split("\n").filter((l) => l.startsWith(`${name}{`));
}

function total(samples: string[]): number {
  return samples.reduce((n, l) => n + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
}

const get = (path: string) => ({ method: "GET", target: path, host: "reuse.test" });

Deno.test("requests 2 s apart succeed against an upstream that closes idle connections after 1 s", async () => {
  await withReuse({ keepAliveTimeoutMs: 1000 }, async (fx, conn, up) => {
    for (let i = 0; i < 3; i++) {
      const closed = up.state.closed;
      const res = await conn.request(get(`/n/${i}`));
      equal(res.status, 200, res.text);
      if (i === 2) break;
      // Waits for the upstream's idle close itself (node takes 1-2 s), not for a fixed time.
      await eventually(
        "the upstream closing the idle connection",
        () => up.state.closed > closed || undefined,
      );
    }
    equal(up.seen.map((s) => s.path), ["/n/0", "/n/1", "/n/2"], "each reached it exactly once");
    equal(up.state.sockets, 3, "every request after an idle close came on a new connection");
    equal(await metric(fx, "clawpatrol_upstream_failures_total"), []);
    // The pool usually sees the close first and dials; a close crossing the request is retried.
    ok(total(await metric(fx, "clawpatrol_upstream_retries_total")) <= 2);
  });
});

Deno.test("a GET on a reused connection the upstream drops is retried once on a new one", async () => {
  await withReuse({ dropReused: true }, async (fx, conn, up) => {
    equal((await conn.request(get("/first"))).status, 200);
    const res = await conn.request(get("/second"));
    equal(res.status, 200, res.text);
    equal(JSON.parse(res.text).socket, 2);
    equal(up.seen.map((s) => [s.path, s.socket]), [["/first", 1], ["/second", 1], [
      "/second",
      2,
    ]]);
    const retries = await metric(fx, "clawpatrol_upstream_retries_total");
    equal(retries.length, 1, retries.join("\n"));
    ok(
      /^clawpatrol_upstream_retries_total\{endpoint="reuse",cause="(eof|reset)"\} 1$/.test(
        retries[0],
      ),
      retries[0],
    );
    equal(await metric(fx, "clawpatrol_upstream_failures_total"), []);
    const receipt = (await fx.receipts()).filter((r) => r.endpoint === "reuse").at(-1)!;
    equal(receipt.upstreamStatus, 200);
    ok(!receipt.reason.endsWith(")"), `a retried request records no error: ${receipt.reason}`);
  });
});

Deno.test("a POST whose body reached a reused connection that then fails is not resent: 502 on the record", async () => {
  await withReuse({ dropReused: true }, async (fx, conn, up) => {
    equal((await conn.request(get("/first"))).status, 200);
    const res = await conn.request({
      method: "POST",
      target: "/echo",
      host: "reuse.test",
      body: "charge the card once",
    });
    equal(res.status, 502, res.text);
    equal(JSON.parse(res.text).error, "bad_gateway");
    equal(up.seen.filter((s) => s.method === "POST").length, 1, "the upstream saw one attempt");
    equal(await metric(fx, "clawpatrol_upstream_retries_total"), []);
    const failures = await metric(fx, "clawpatrol_upstream_failures_total");
    equal(failures.length, 1, failures.join("\n"));
    ok(failures[0].includes('protocol="https",endpoint="reuse"'), failures[0]);
    const receipt = (await fx.receipts()).find((r) => r.summary.startsWith("POST"))!;
    equal(receipt.upstreamStatus, 502);
    ok(receipt.reason.includes("not sent again: POST is not idempotent"), receipt.reason);
    // One warning for the operator, naming endpoint and cause, never the agent's credentials.
    const warns = fx.log.lines.filter((l) => l.level === "warn" && l.fields?.endpoint === "reuse");
    equal(warns.length, 1, JSON.stringify(fx.log.lines));
    ok(["eof", "reset"].includes(String(warns[0].fields?.cause)), JSON.stringify(warns[0]));
    ok(!JSON.stringify(warns).includes("charge the card"), "the log carries no request body");
  });
});

/** Sends a POST /write, waits for it to be held, and returns the approval to decide. */
async function heldWrite(fx: ProxyFixture, conn: RawConn) {
  await conn.write(requestBytes({
    method: "POST",
    target: "/write",
    host: "reuse.test",
    body: "approved write",
  }));
  return await eventually("the write held for approval", () => {
    const list = fx.gateway.approvalQueue.list();
    return list.length === 1 ? list[0] : undefined;
  });
}

Deno.test("a write approved after the upstream closed its idle connection reaches it exactly once", async () => {
  await withReuse({ keepAliveTimeoutMs: 1000 }, async (fx, conn, up) => {
    equal((await conn.request(get("/warm"))).status, 200);
    const pending = await heldWrite(fx, conn);
    // The hold outlasts the upstream's idle timeout: ~2 s until node closes the connection.
    await eventually(
      "the upstream closing the idle connection",
      () => up.state.closed > 0 || undefined,
    );
    fx.gateway.approvalQueue.decide(pending.request.id, "allow", "cli:tester");
    const res = await conn.readResponse("POST", 10_000);
    equal(res.status, 200, res.text);
    equal(up.seen.filter((s) => s.method === "POST").length, 1);
    const receipt = (await fx.receipts()).find((r) => r.rule === "reuse-writes-need-approval")!;
    equal([receipt.verdict, receipt.upstreamStatus, receipt.reason], [
      "allow",
      200,
      "approved by cli:tester",
    ]);
  });
});

Deno.test("a write approved after a hold goes out on a new connection, not a pooled one", async () => {
  // This upstream drops any second request on a connection: a pooled one would fail the write,
  // and a POST with its body sent could not be resent.
  await withReuse({ dropReused: true }, async (fx, conn, up) => {
    equal((await conn.request(get("/warm"))).status, 200);
    const pending = await heldWrite(fx, conn);
    fx.gateway.approvalQueue.decide(pending.request.id, "allow", "cli:tester");
    const res = await conn.readResponse("POST", 10_000);
    equal(res.status, 200, res.text);
    equal(up.seen.map((s) => [s.method, s.socket]), [["GET", 1], ["POST", 2]]);
    equal(await metric(fx, "clawpatrol_upstream_retries_total"), []);
  });
});
