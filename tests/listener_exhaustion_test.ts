// `clawpatrol serve` under a low descriptor limit (prlimit on the running process): a burst of
// connections past the limit makes the proxy's accepts fail with EMFILE. The listener must back
// off and keep its accept loop, say so once in the log, report /healthz degraded and count the
// failures while it lasts, and serve the next client within seconds once descriptors are free.
import { deepStrictEqual as assertEquals, equal, match, ok as assert } from "node:assert/strict";
import { eventually, initDir, Running, withTempDir, withTimeout } from "./_helpers.ts";

const BURST = 300;
/** Descriptors left to the gateway above what it holds when the burst starts. */
const HEADROOM = 25;

const hasPrlimit = await new Deno.Command("prlimit", { args: ["--version"], stdout: "null" })
  .output().then((o) => o.success, () => false);

/**
 * HTTP/1.1 over one kept-alive connection opened before the descriptors run out: the admin API
 * answers on it without accepting anything new.
 */
class KeptAlive {
  readonly #conn: Deno.TcpConn;
  #buffered = new Uint8Array(0);

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  static async open(port: number): Promise<KeptAlive> {
    return new KeptAlive(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  async get(path: string): Promise<{ status: number; body: string }> {
    const request = `GET ${path} HTTP/1.1\r\nHost: admin\r\nConnection: keep-alive\r\n\r\n`;
    await this.#conn.write(new TextEncoder().encode(request));
    let end;
    while ((end = this.#text().indexOf("\r\n\r\n")) < 0) await this.#fill();
    const head = this.#text().slice(0, end);
    const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? NaN);
    if (!Number.isFinite(length)) throw new Error(`Unframed admin response: ${head}`);
    const headBytes = new TextEncoder().encode(head).length + 4;
    while (this.#buffered.length < headBytes + length) await this.#fill();
    const body = new TextDecoder().decode(this.#buffered.subarray(headBytes, headBytes + length));
    this.#buffered = this.#buffered.slice(headBytes + length);
    return { status: Number(head.split(" ")[1]), body };
  }

  close(): void {
    this.#conn.close();
  }

  #text(): string {
    return new TextDecoder().decode(this.#buffered);
  }

  async #fill(): Promise<void> {
    const buf = new Uint8Array(16 * 1024);
    const n = await this.#conn.read(buf);
    if (n === null) throw new Error("The admin API closed the kept-alive connection");
    const next = new Uint8Array(this.#buffered.length + n);
    next.set(this.#buffered);
    next.set(buf.subarray(0, n), this.#buffered.length);
    this.#buffered = next;
  }
}

function openDescriptors(pid: number): number {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
}

function metricValue(metrics: string, name: string, labels: string): number {
  const line = metrics.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

/** A client through the proxy, unauthenticated: answered 407, which proves it was accepted. */
async function proxyAnswers(port: number): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const head = "GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\n\r\n";
    await conn.write(new TextEncoder().encode(head));
    const buf = new Uint8Array(64);
    const n = await conn.read(buf);
    return new TextDecoder().decode(buf.subarray(0, n ?? 0));
  } finally {
    conn.close();
  }
}

Deno.test({
  name: "serve keeps accepting after a burst past its descriptor limit: degraded, counted, then ok",
  ignore: !hasPrlimit || Deno.build.os !== "linux",
  fn: async () => {
    await withTempDir(async (dir) => {
      const config = await initDir(dir);
      // The burst's connections stay open for the whole episode: no handshake deadline cuts in.
      const text = await Deno.readTextFile(config);
      await Deno.writeTextFile(
        config,
        text.replace(/^(\s*mode\s*=.*)$/m, '$1\n  limits {\n    handshake_timeout = "5m"\n  }'),
      );
      const gw = Running.spawn(["serve", "-c", config]);
      const burst: Deno.TcpConn[] = [];
      let admin: KeptAlive | undefined;
      try {
        const serving = await gw.waitFor(/proxy on http:\/\/[\d.]+:(\d+), admin on .*:(\d+)$/);
        const [proxyPort, adminPort] = [Number(serving[1]), Number(serving[2])];
        admin = await KeptAlive.open(adminPort);
        equal(JSON.parse((await admin.get("/healthz")).body).status, "ok");

        const pid = gw.child.pid;
        const limit = openDescriptors(pid) + HEADROOM;
        const set = await new Deno.Command("prlimit", {
          args: ["--pid", String(pid), `--nofile=${limit}:${limit}`],
        }).output();
        assert(set.success, new TextDecoder().decode(set.stderr));

        for (let i = 0; i < BURST; i++) {
          burst.push(await Deno.connect({ hostname: "127.0.0.1", port: proxyPort }));
        }
        await gw.waitFor(/https listener proxy cannot accept connections: too many open files/);

        const degraded = await eventually("/healthz to report the failing accepts", async () => {
          const health = JSON.parse((await admin!.get("/healthz")).body);
          return health.status === "degraded" ? health : undefined;
        });
        const problem = degraded.problems.find((p: { component: string }) =>
          p.component === "accept:https:proxy"
        );
        assert(problem, JSON.stringify(degraded));
        equal(problem.level, "degraded");
        equal(problem.cause, "cannot accept connections: too many open files (EMFILE)");
        const metrics = (await admin.get("/metrics")).body;
        const failed = metricValue(
          metrics,
          "clawpatrol_accept_errors_total",
          'protocol="https",cause="EMFILE"',
        );
        assert(failed >= 1, `accept errors counted: ${failed}`);

        for (const conn of burst.splice(0)) conn.close();
        const started = Date.now();
        match(await withTimeout(proxyAnswers(proxyPort), 5_000, "the proxy"), /^HTTP\/1\.1 407 /);
        assert(Date.now() - started < 5_000);
        await eventually("/healthz back to ok", async () => {
          const health = JSON.parse((await admin!.get("/healthz")).body);
          return health.status === "ok" ? true : undefined;
        });

        // One line when a burst began, one when it ended: not one per failed accept. On a loaded
        // machine a freed descriptor can split the episode in two, never into one per failure.
        const stalled = gw.lines.filter((l) => /cannot accept connections/.test(l));
        const recovered = gw.lines.filter((l) =>
          /https listener proxy accepts again after/.test(l)
        );
        assert(stalled.length >= 1 && stalled.length <= 3, gw.log);
        assertEquals(recovered.length, stalled.length, gw.log);
        const after = (await admin.get("/metrics")).body;
        assert(
          metricValue(after, "clawpatrol_accept_errors_total", 'protocol="https",cause="EMFILE"') >=
            failed,
        );
        admin.close();
        admin = undefined;
        const status = await gw.stop("SIGTERM", 10_000);
        equal(status.code, 0, gw.log);
      } finally {
        for (const conn of burst) conn.close();
        admin?.close();
        await gw.dispose();
      }
    });
  },
});

Deno.test({
  name: "serve survives a burst on its admin port past the descriptor limit and answers again",
  ignore: !hasPrlimit || Deno.build.os !== "linux",
  fn: async () => {
    await withTempDir(async (dir) => {
      const config = await initDir(dir);
      const gw = Running.spawn(["serve", "-c", config]);
      const burst: Deno.TcpConn[] = [];
      try {
        const serving = await gw.waitFor(/admin on .*:(\d+)$/);
        const adminPort = Number(serving[1]);
        const pid = gw.child.pid;
        const limit = openDescriptors(pid) + HEADROOM;
        const set = await new Deno.Command("prlimit", {
          args: ["--pid", String(pid), `--nofile=${limit}:${limit}`],
        }).output();
        assert(set.success, new TextDecoder().decode(set.stderr));
        for (let i = 0; i < BURST; i++) {
          // Once the admin server's accept fails its socket closes: later connects are refused.
          const conn = await Deno.connect({ hostname: "127.0.0.1", port: adminPort })
            .catch(() => null);
          if (conn === null) break;
          burst.push(conn);
        }
        // Deno.serve's accept loop ends on EMFILE; unhandled, that used to end the process.
        await gw.waitFor(/admin API stopped accepting/);
        for (const conn of burst.splice(0)) conn.close();
        await gw.waitFor(/admin API accepting again/);
        const health = await eventually("/healthz answers again", async () => {
          const res = await fetch(`http://127.0.0.1:${adminPort}/healthz`).catch(() => null);
          return res?.status === 200 ? await res.json() : (await res?.body?.cancel(), undefined);
        });
        equal(health.status, "ok");
        const status = await gw.stop("SIGTERM", 10_000);
        equal(status.code, 0, gw.log);
      } finally {
        for (const conn of burst) conn.close();
        await gw.dispose();
      }
    });
  },
});
