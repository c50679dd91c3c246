/**
 * Real HTTP clients through the forward proxy: curl, python3 urllib, Deno fetch and Node (with a
 * hand-made CONNECT tunnel: Node 20's fetch ignores HTTPS_PROXY), and `clawpatrol run`, whose
 * environment alone (proxy URL and combined CA bundle) must be enough for curl. Each client gets
 * an allowed GET answered by the upstream and a denied DELETE in the deny shape with its receipt.
 *
 * @module
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { cli } from "./_helpers.ts";
import { type ProxyFixture, withProxy } from "./_proxy_fixture.ts";

/** What a client reported for one request. */
interface ClientResult {
  status: number;
  receipt: string | null;
  body: string;
}

/** Our environment without proxy or CA settings (a developer's shell must not steer clients). */
function clientEnv(extra: Record<string, string>): Record<string, string> {
  const env = Deno.env.toObject();
  for (const key of Object.keys(env)) {
    if (
      /proxy/i.test(key) ||
      /^(SSL_CERT_FILE|SSL_CERT_DIR|CURL_CA_BUNDLE|REQUESTS_CA_BUNDLE|DENO_CERT|NODE_EXTRA_CA_CERTS)$/
        .test(key)
    ) {
      delete env[key];
    }
  }
  return { ...env, ...extra };
}

/** Runs a client to completion (killed after 30 s); fails the test on a non-zero exit. */
async function run(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  cwd?: string,
): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    env: clientEnv(env),
    clearEnv: true,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  equal(out.code, 0, `${cmd} exited ${out.code}: ${decode(out.stderr)}${decode(out.stdout)}`);
  return decode(out.stdout);
}

/**
 * The final response in `curl -i` output: curl prints the proxy's `200 Connection Established`
 * head first, then the response's.
 */
function parseCurl(output: string): ClientResult {
  let rest = output;
  let head = "";
  while (rest.startsWith("HTTP/")) {
    const end = rest.indexOf("\r\n\r\n");
    ok(end >= 0, `no end of head in curl output: ${output}`);
    head = rest.slice(0, end);
    rest = rest.slice(end + 4);
  }
  const [statusLine, ...lines] = head.split("\r\n");
  const headers = new Headers();
  for (const line of lines) {
    const at = line.indexOf(":");
    headers.append(line.slice(0, at), line.slice(at + 1).trim());
  }
  return {
    status: Number(statusLine.split(" ")[1]),
    receipt: headers.get("x-clawpatrol-receipt"),
    body: rest,
  };
}

/**
 * The behaviour every client must see: the GET answered by the upstream (which saw Host
 * api.test and the path asked for), the DELETE refused with the deny shape whose receipt is the
 * header's and is recorded as a deny by `no-deletes`.
 */
async function assertGetAllowedDeleteDenied(
  fx: ProxyFixture,
  get: ClientResult,
  del: ClientResult,
  path: string,
): Promise<void> {
  equal(get.status, 200, get.body);
  const echoed = JSON.parse(get.body);
  equal(echoed.method, "GET");
  equal(echoed.path, path);
  equal(echoed.query, "?x=1");
  equal(echoed.host, "api.test");

  equal(del.status, 403, del.body);
  const denied = JSON.parse(del.body);
  deepEqual(Object.keys(denied).sort(), ["error", "reason", "receipt", "rule"]);
  equal(denied.error, "denied");
  equal(denied.reason, "deletes are not allowed");
  equal(denied.rule, "no-deletes");
  match(denied.receipt, /^rcpt_/);
  equal(del.receipt, denied.receipt);

  deepEqual(fx.seen.map((s) => `${s.method} ${s.target}`), [`GET ${path}?x=1`]);
  const rows = new Map((await fx.receipts()).map((r) => [r.id, r]));
  const d = rows.get(denied.receipt);
  ok(d, `no receipt ${denied.receipt}`);
  equal(d.verdict, "deny");
  equal(d.rule, "no-deletes");
  equal(d.agent, "bot");
  ok(get.receipt, "the allowed response has no receipt header");
  const g = rows.get(get.receipt);
  ok(g, `no receipt ${get.receipt}`);
  equal(g.verdict, "allow");
  equal(g.upstreamStatus, 200);
}

Deno.test("curl with --proxy and --cacert: GET answered by the upstream, DELETE denied with its receipt", async () => {
  await withProxy({}, async (fx) => {
    const flags = ["-sS", "-i", "--proxy", fx.proxyUrl, "--cacert", fx.caFile];
    const get = parseCurl(await run("curl", [...flags, "https://api.test/curl?x=1"], {}));
    const del = parseCurl(await run("curl", [...flags, "-X", "DELETE", "https://api.test/x"], {}));
    await assertGetAllowedDeleteDenied(fx, get, del, "/curl");
  });
});

Deno.test("curl configured by https_proxy and CURL_CA_BUNDLE alone: GET answered, DELETE denied", async () => {
  await withProxy({}, async (fx) => {
    const env = { https_proxy: fx.proxyUrl, CURL_CA_BUNDLE: fx.caFile };
    const get = parseCurl(await run("curl", ["-sS", "-i", "https://api.test/env?x=1"], env));
    const del = parseCurl(
      await run("curl", ["-sS", "-i", "-X", "DELETE", "https://api.test/x"], env),
    );
    await assertGetAllowedDeleteDenied(fx, get, del, "/env");
  });
});

const PYTHON = `
import json, sys, urllib.error, urllib.request
def go(method, url):
    try:
        r = urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10)
    except urllib.error.HTTPError as e:
        r = e
    return {"status": r.status, "receipt": r.headers.get("X-Clawpatrol-Receipt"),
            "body": r.read().decode()}
print(json.dumps([go("GET", sys.argv[1]), go("DELETE", sys.argv[2])]))
`;

Deno.test("python3 urllib with HTTPS_PROXY and SSL_CERT_FILE: GET answered, DELETE denied", async () => {
  await withProxy({}, async (fx) => {
    const out = await run(
      "python3",
      ["-c", PYTHON, "https://api.test/python?x=1", "https://api.test/x"],
      { HTTPS_PROXY: fx.proxyUrl, SSL_CERT_FILE: fx.caFile },
    );
    const [get, del] = JSON.parse(out);
    await assertGetAllowedDeleteDenied(fx, get, del, "/python");
  });
});

const DENO_FETCH = `
const go = async (method, url) => {
  const r = await fetch(url, { method, signal: AbortSignal.timeout(10_000) });
  return { status: r.status, receipt: r.headers.get("x-clawpatrol-receipt"), body: await r.text() };
};
console.log(JSON.stringify([
  await go("GET", "https://api.test/deno?x=1"),
  await go("DELETE", "https://api.test/x"),
]));
`;

Deno.test("Deno fetch with HTTPS_PROXY and DENO_CERT: GET answered, DELETE denied", async () => {
  await withProxy({}, async (fx) => {
    const out = await run(
      Deno.execPath(),
      ["eval", DENO_FETCH],
      { HTTPS_PROXY: fx.proxyUrl, DENO_CERT: fx.caFile, NO_COLOR: "1" },
      fx.dir,
    );
    const [get, del] = JSON.parse(out);
    await assertGetAllowedDeleteDenied(fx, get, del, "/deno");
  });
});

// Node 20's fetch ignores HTTPS_PROXY, so this is what a Node agent does by hand: CONNECT with
// Proxy-Authorization, then https.request over TLS on the tunnel's socket, trusting only `ca`.
const NODE_TUNNEL = `
const http = require("node:http"), https = require("node:https"), tls = require("node:tls");
const proxy = new URL(process.argv[1]);
const ca = require("node:fs").readFileSync(process.argv[2]);
const auth = "Basic " + Buffer.from(
  decodeURIComponent(proxy.username) + ":" + decodeURIComponent(proxy.password)).toString("base64");
const go = (method, url) => new Promise((resolve, reject) => {
  const u = new URL(url);
  const authority = u.hostname + ":" + (u.port || 443);
  http.request({ host: proxy.hostname, port: proxy.port, method: "CONNECT", path: authority,
    headers: { host: authority, "proxy-authorization": auth } })
    .on("connect", (res, socket) => {
      if (res.statusCode !== 200) return reject(new Error("CONNECT answered " + res.statusCode));
      const agent = new https.Agent();
      agent.createConnection = () => tls.connect({ socket, servername: u.hostname, ca });
      https.request({ method, host: u.hostname, path: u.pathname + u.search, agent }, (r) => {
        let body = "";
        r.setEncoding("utf8");
        r.on("data", (d) => body += d);
        r.on("end", () => {
          socket.destroy();
          resolve({ status: r.statusCode, receipt: r.headers["x-clawpatrol-receipt"] ?? null, body });
        });
      }).on("error", reject).end();
    }).on("error", reject).end();
});
(async () => console.log(JSON.stringify([
  await go("GET", "https://api.test/node?x=1"),
  await go("DELETE", "https://api.test/x"),
])))().catch((e) => { console.error(e); process.exit(1); });
`;

Deno.test("Node https over a hand-made CONNECT tunnel: GET answered, DELETE denied", async () => {
  await withProxy({}, async (fx) => {
    const out = await run("node", ["-e", NODE_TUNNEL, fx.proxyUrl, fx.caFile], {});
    const [get, del] = JSON.parse(out);
    await assertGetAllowedDeleteDenied(fx, get, del, "/node");
  });
});

/**
 * A copy of the fixture's config whose `proxy_listen` names the port the gateway actually bound
 * (the fixture binds port 0), for `env`/`run`, which derive HTTPS_PROXY from the config. Same
 * directory, so `state_dir = "./state"` is the gateway's; the gateway does not watch this file.
 */
async function configForRun(fx: ProxyFixture): Promise<string> {
  const text = await Deno.readTextFile(join(fx.dir, "gateway.hcl"));
  const next = text.replace(
    /proxy_listen\s*=\s*"[^"]*"/,
    `proxy_listen = "127.0.0.1:${fx.proxyPort}"`,
  );
  ok(next !== text, "no proxy_listen in the fixture config");
  const path = join(fx.dir, "run.hcl");
  await Deno.writeTextFile(path, next);
  return path;
}

Deno.test("clawpatrol run gives curl a proxy and a CA bundle it trusts: GET answered, DELETE denied, exit code passed on", async () => {
  await withProxy({}, async (fx) => {
    const config = await configForRun(fx);
    // `run` sets every proxy and CA variable curl reads, overriding whatever the shell has.
    const runCurl = (...args: string[]) =>
      cli(["run", "-c", config, "--agent", "bot", "--token", fx.token, "--", "curl", ...args]);
    // No --proxy, no --cacert: only what `run` put in curl's environment.
    const get = await runCurl("-sS", "-i", "https://api.test/run?x=1");
    equal(get.code, 0, get.stderr);
    const del = await runCurl("-sS", "-i", "-X", "DELETE", "https://api.test/x");
    equal(del.code, 0, del.stderr);
    await assertGetAllowedDeleteDenied(fx, parseCurl(get.stdout), parseCurl(del.stdout), "/run");
    const bundle = await Deno.readTextFile(join(fx.dir, "state", "ca-bundle.pem"));
    ok(bundle.endsWith(await Deno.readTextFile(fx.caFile)), "the bundle ends with the gateway CA");
    // `run` exits with the command's code: curl -f fails with 22 on the 403.
    const failed = await runCurl("-sSf", "-o", "/dev/null", "-X", "DELETE", "https://api.test/y");
    equal(failed.code, 22, failed.stderr);
    match(failed.stderr, /403/);
  });
});
