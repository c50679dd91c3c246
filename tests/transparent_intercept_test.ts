// Transparent interception: connections to the virtual IPs the gateway's DNS answers, with no
// proxy settings and no token. Real clients (curl, psql, raw sockets) on this host reach the
// addresses from 127.0.0.1, which the fixture enrols as agent `bot`; other source addresses are
// strangers. HTTPS is decided like a CONNECT (placeholders swapped, denies in the agent's
// words), the TLS server name must match the address, and PostgreSQL logs in without a password.
import { equal, match, ok } from "node:assert/strict";
import net from "node:net";
import { AgentRegistry } from "../src/agents/mod.ts";
import { eventually } from "./_helpers.ts";
import { postgresAvailable } from "./_postgres.ts";
import { type TransparentFixture, withTransparent } from "./_transparent_fixture.ts";

/** curl to `https://name:port/path` at `vip`, with no proxy: status and body. */
async function curl(
  fx: TransparentFixture,
  vip: string,
  name: string,
  path: string,
  ...extra: string[]
): Promise<{ status: number; body: string; stderr: string }> {
  const url = `https://${name}:${fx.httpsPort}${path}`;
  const out = await new Deno.Command("curl", {
    args: [
      "-sS",
      "--noproxy",
      "*",
      "--max-time",
      "20",
      "--cacert",
      fx.caFile,
      "--resolve",
      `${name}:${fx.httpsPort}:${vip}`,
      "-w",
      "\n%{http_code}",
      ...extra,
      url,
    ],
    env: { HTTPS_PROXY: "", https_proxy: "", ALL_PROXY: "" },
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const at = text.lastIndexOf("\n");
  return {
    status: Number(text.slice(at + 1)),
    body: text.slice(0, at),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("curl with no proxy reaches the endpoint through its virtual IP, placeholders swapped", async () => {
  await withTransparent({}, async (fx) => {
    const vip = await fx.vip("api.example.test");
    const got = await curl(
      fx,
      vip,
      "api.example.test",
      "/repos",
      "-H",
      "Authorization: Bearer {{api_token}}",
    );
    equal(got.status, 200, got.stderr + got.body);
    const seen = fx.seen.at(-1)!;
    equal(seen.authorization, "Bearer real-upstream-token-93f1", "the real token reached upstream");
    equal(seen.host, `api.example.test:${fx.httpsPort}`);
    equal(JSON.parse(got.body).authorization, "Bearer {{api_token}}", "scrubbed on the way back");

    const denied = await curl(fx, vip, "api.example.test", "/repos/x", "-X", "DELETE");
    equal(denied.status, 403);
    match(denied.body, /deletes are not allowed/);
    equal(fx.seen.filter((r) => r.method === "DELETE").length, 0, "the delete never left");

    const receipts = await eventually("both receipts", () => {
      const r = fx.receipts().filter((x) => x.endpoint === "api");
      return r.length >= 2 ? r : undefined;
    });
    ok(receipts.every((r) => r.agent === "bot"), "the source address named the agent");
    ok(receipts.some((r) => r.verdict === "deny" && r.rule === "no-deletes"));
  });
});

Deno.test("a wildcard name gets its own address, accepting as soon as DNS answered it", async () => {
  await withTransparent({}, async (fx) => {
    const vip = await fx.vip("eu.files.example.test");
    const other = await fx.vip("us.files.example.test");
    ok(vip !== other, "each name its own address");
    const got = await curl(fx, vip, "eu.files.example.test", "/a");
    equal(got.status, 200, got.stderr + got.body);
  });
});

Deno.test("a TLS server name that does not match the address is refused with a receipt", async () => {
  await withTransparent({}, async (fx) => {
    const vip = await fx.vip("api.example.test");
    // The name curl sends (other.example.test) is another endpoint's: reaching it through
    // api's address would decide it as api.
    const got = await curl(fx, vip, "other.example.test", "/x", "-k");
    equal(got.status, 421, got.stderr + got.body);
    match(got.body, /does not match the address/);
    equal(fx.seen.length, 0);
    await eventually(
      "the refusal's receipt",
      () => fx.receipts().find((r) => /does not match/.test(r.reason ?? "")),
    );
  });
});

Deno.test("an endpoint outside the agent's profile is refused in words, with a receipt", async () => {
  await withTransparent({}, async (fx) => {
    const vip = await fx.vip("other.example.test");
    const got = await curl(fx, vip, "other.example.test", "/x");
    equal(got.status, 403, got.stderr + got.body);
    match(got.body, /not in profile 'bots'/);
    equal(fx.seen.length, 0);
  });
});

Deno.test("a connection from an address no agent holds gets nothing, and a receipt", async () => {
  await withTransparent({}, async (fx) => {
    const vip = await fx.vip("api.example.test");
    const closed = await new Promise<{ bytes: number }>((resolve, reject) => {
      let bytes = 0;
      const socket = net.connect({ host: vip, port: fx.httpsPort, localAddress: "127.0.0.9" });
      socket.on("data", (d) => bytes += d.length);
      socket.on("connect", () => socket.write("GET / HTTP/1.1\r\nhost: api.example.test\r\n\r\n"));
      socket.on("close", () => resolve({ bytes }));
      socket.on(
        "error",
        (err) => (err as { code?: string }).code === "ECONNRESET" ? null : reject(err),
      );
    });
    equal(closed.bytes, 0, "not a byte answered");
    const receipt = await eventually(
      "the stranger's receipt",
      () => fx.receipts().find((r) => r.protocol === "transparent"),
    );
    equal(receipt.agent, null);
    equal(receipt.verdict, "deny");
    match(receipt.reason ?? "", /no agent is enrolled at address 127\.0\.0\.9/);
    equal(fx.seen.length, 0);
  });
});

Deno.test("a revoked agent's address opens nothing more", async () => {
  await withTransparent({}, async (fx) => {
    const vip = await fx.vip("api.example.test");
    equal((await curl(fx, vip, "api.example.test", "/before")).status, 200);
    AgentRegistry.open(`${fx.dir}/state`).revoke("bot");
    // The gateway reads the agents file again within its refresh interval (0.1 s).
    await eventually("the revoked agent refused", async () => {
      const got = await curl(fx, vip, "api.example.test", "/after");
      return got.status !== 200 ? got : undefined;
    });
    equal((await curl(fx, vip, "api.example.test", "/final")).status, 0, "no TLS, no answer");
    equal(fx.seen.filter((r) => r.path === "/final").length, 0);
  });
});

Deno.test({
  name: "psql by the database's own name logs in without a password; DROP TABLE is denied",
  ignore: !postgresAvailable(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withTransparent({ postgres: true }, async (fx) => {
      const pg = fx.pg!;
      const vip = await fx.vip("localhost");
      const psql = async (sql: string) => {
        const out = await new Deno.Command("psql", {
          args: ["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
          env: {
            PGHOST: "localhost",
            PGHOSTADDR: vip,
            PGPORT: String(pg.port),
            PGUSER: "agent_ro",
            PGDATABASE: "app",
            PGSSLMODE: "verify-full",
            PGSSLROOTCERT: fx.caFile,
            PGPASSWORD: "",
            PGCONNECT_TIMEOUT: "20",
          },
        }).output();
        const text = (b: Uint8Array) => new TextDecoder().decode(b);
        return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
      };
      const read = await psql("SELECT name FROM users ORDER BY id");
      equal(read.code, 0, read.stderr);
      equal(read.stdout.trim().split("\n")[0], "ada");
      const drop = await psql("DROP TABLE users");
      equal(drop.code, 1);
      match(drop.stderr, /Schema changes land via migration PR/);
      match(await pg.sql("SELECT count(*) AS n FROM users", "app"), /\b3\b/, "users survived");
      const receipts = await eventually("the DROP's receipt", () => {
        const r = fx.receipts().filter((x) => x.endpoint === "db" && x.summary?.includes("DROP"));
        return r.length > 0 ? r : undefined;
      });
      equal(receipts[0].agent, "bot");
      equal(receipts[0].verdict, "deny");
    });
  },
});
