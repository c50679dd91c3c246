// `clawpatrol kubeconfig`, and the KUBECONFIG that `env` and `run` set, end to end as real
// subprocesses against an init'ed directory; kubectl itself reads the files it writes.
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { openVault } from "../src/credentials/mod.ts";
import { loadGatewayCa, mintLeaf } from "../src/tls/mod.ts";
import { cli, closedPort, initDir, withTempDir } from "./_helpers.ts";

const KUBECTL = "/usr/bin/kubectl";
const hasKubectl = await Deno.stat(KUBECTL).then((s) => s.isFile, () => false);

const lines = (s: string) => s.split("\n").filter((l) => l.trim() !== "");

/**
 * Endpoints: k8s-prod (a gateway listener), k8s-dev (no listener: reached through the proxy),
 * k8s-other (in no profile's reach), k8s-lan (a listener on a non-loopback address). Profiles:
 * kube reaches k8s-dev directly and k8s-prod through its credential; lan reaches k8s-lan.
 */
function kubernetesConfig(listenPort: number): string {
  return `
endpoint "kubernetes" "k8s-prod" {
  server = "https://10.0.0.1:6443"
  listen = "127.0.0.1:${listenPort}"
}
endpoint "kubernetes" "k8s-dev" {
  server = "https://k8s-dev.internal:6443"
}
endpoint "kubernetes" "k8s-other" {
  server = "https://10.0.0.9:6443"
  listen = "127.0.0.1:16999"
}
endpoint "kubernetes" "k8s-lan" {
  server = "https://10.0.0.7:6443"
  listen = "10.9.8.7:16443"
}
credential "k8s_bearer_token" "k8s_prod" {
  endpoint = kubernetes.k8s-prod
}
profile "kube" {
  endpoints   = [kubernetes.k8s-dev]
  credentials = [k8s_bearer_token.k8s_prod]
}
profile "lan" {
  endpoints = [kubernetes.k8s-lan]
}
`;
}

/** Where the tests' configs put the gateway: nothing listens there unless a test does. */
interface Ports {
  /** k8s-prod's `listen`. @default {16443} */
  listen?: number;
  /** `gateway.proxy_listen`. @default {18080} */
  proxy?: number;
}

/** An init'ed `dir` with the kubernetes config; returns its state directory. */
async function setUp(dir: string, ports: Ports = {}): Promise<string> {
  const config = await initDir(dir);
  const text = await Deno.readTextFile(config);
  await Deno.writeTextFile(
    config,
    text.replace(
      /proxy_listen\s*=\s*"[^"]*"/,
      `proxy_listen = "127.0.0.1:${ports.proxy ?? 18080}"`,
    ) +
      kubernetesConfig(ports.listen ?? 16443),
  );
  return join(await Deno.realPath(dir), "state");
}

/** `agent add NAME --profile P` in `dir`; returns the token (the last line of stdout). */
async function addAgent(dir: string, name: string, profile: string): Promise<string> {
  const r = await cli(["agent", "add", name, "--profile", profile], { cwd: dir });
  equal(r.code, 0, r.stderr);
  return lines(r.stdout).at(-1)!;
}

interface Kubeconfig {
  clusters: {
    name: string;
    cluster: { server: string; "certificate-authority-data": string; "proxy-url"?: string };
  }[];
  users: { name: string; user: { token: string } }[];
  contexts: { name: string; context: { cluster: string; user: string } }[];
  "current-context": string;
}

async function readKubeconfig(path: string): Promise<Kubeconfig> {
  return parseYaml(await Deno.readTextFile(path)) as Kubeconfig;
}

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);
const modeOf = async (path: string) => (await Deno.stat(path)).mode! & 0o777;

/** Runs kubectl with `args`, without the caller's proxy or kubeconfig settings. */
async function kubectl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(KUBECTL, {
    args,
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: Deno.env.get("HOME") ?? "/tmp" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

Deno.test("kubeconfig writes a 0600 file with a context per kubernetes endpoint the profile reaches", async () => {
  await withTempDir(async (dir) => {
    const state = await setUp(dir);
    const token = await addAgent(dir, "kb", "kube");
    const r = await cli(["kubeconfig", "--agent", "kb"], {
      cwd: dir,
      env: { CLAWPATROL_AGENT_TOKEN: token },
    });
    equal(r.code, 0, r.stderr);
    equal(r.stderr, "");
    const path = join(state, "kubeconfig-kb.yaml");
    equal(lines(r.stdout).at(-1), path, "the path is the last line of stdout");
    equal(await modeOf(path), 0o600);

    const kc = await readKubeconfig(path);
    const caData = btoa(await Deno.readTextFile(join(state, "ca.pem")));
    // The profile's own endpoints first, then its credentials'; k8s-other is in neither.
    deepEqual(kc.clusters, [
      {
        name: "clawpatrol-k8s-dev",
        cluster: {
          server: "https://k8s-dev.internal:6443",
          "certificate-authority-data": caData,
          "proxy-url": `http://kb:${token}@127.0.0.1:18080`,
        },
      },
      {
        name: "clawpatrol-k8s-prod",
        cluster: { server: "https://127.0.0.1:16443", "certificate-authority-data": caData },
      },
    ]);
    deepEqual(kc.users, [
      { name: "clawpatrol-k8s-dev", user: { token } },
      { name: "clawpatrol-k8s-prod", user: { token } },
    ]);
    deepEqual(kc.contexts.map((c) => [c.name, c.context.cluster, c.context.user]), [
      ["clawpatrol-k8s-dev", "clawpatrol-k8s-dev", "clawpatrol-k8s-dev"],
      ["clawpatrol-k8s-prod", "clawpatrol-k8s-prod", "clawpatrol-k8s-prod"],
    ]);
    equal(kc["current-context"], "clawpatrol-k8s-dev");

    if (hasKubectl) {
      const view = await kubectl([
        "config",
        "view",
        "--kubeconfig",
        path,
        "--raw",
        "-o",
        "jsonpath={.clusters[0].cluster.server}",
      ]);
      equal(view.code, 0, view.stderr);
      equal(view.stdout, "https://k8s-dev.internal:6443");
      const current = await kubectl(["config", "current-context", "--kubeconfig", path]);
      equal(current.stdout.trim(), "clawpatrol-k8s-dev");
    }
  });
});

Deno.test("kubeconfig --endpoint --output --token-stdin writes one context and narrows an existing file to 0600", async () => {
  await withTempDir(async (dir) => {
    const state = await setUp(dir);
    const token = await addAgent(dir, "kb", "kube");
    const out = join(await Deno.realPath(dir), "kb.yaml");
    await Deno.writeTextFile(out, "old and world-readable\n", { mode: 0o644 });
    await Deno.chmod(out, 0o644);
    const r = await cli(
      [
        "kubeconfig",
        "--agent",
        "kb",
        "--endpoint",
        "k8s-prod",
        "--output",
        "kb.yaml",
        "--token-stdin",
      ],
      // stdin is the explicit choice: a stale variable does not override it.
      { cwd: dir, input: `${token}\n`, env: { CLAWPATROL_AGENT_TOKEN: "cpat_stale" } },
    );
    equal(r.code, 0, r.stderr);
    equal(lines(r.stdout).at(-1), out);
    equal(await modeOf(out), 0o600);
    const kc = await readKubeconfig(out);
    deepEqual(kc.clusters.map((c) => [c.name, c.cluster.server]), [
      ["clawpatrol-k8s-prod", "https://127.0.0.1:16443"],
    ]);
    equal(kc.clusters[0].cluster["proxy-url"], undefined);
    equal(kc.users[0].user.token, token);
    equal(kc["current-context"], "clawpatrol-k8s-prod");
    equal(await exists(join(state, "kubeconfig-kb.yaml")), false, "nothing at the default path");
  });
});

Deno.test("kubeconfig with a wrong token exits 1, writes no file and never echoes the token", async () => {
  await withTempDir(async (dir) => {
    const state = await setUp(dir);
    const token = await addAgent(dir, "kb", "kube");
    const wrong = "cpat_" + "W".repeat(43);
    const viaEnv = await cli(["kubeconfig", "--agent", "kb"], {
      cwd: dir,
      env: { CLAWPATROL_AGENT_TOKEN: wrong },
    });
    equal(viaEnv.code, 1);
    deepEqual(lines(viaEnv.stderr), ["Error: Token does not match agent 'kb'"]);
    equal(viaEnv.stdout, "");
    const viaStdin = await cli(["kubeconfig", "--agent", "kb", "--token-stdin"], {
      cwd: dir,
      input: `${token.slice(0, -1)}\n`,
    });
    equal(viaStdin.code, 1);
    equal(viaStdin.stderr.includes(token.slice(0, -1)), false);
    equal(await exists(join(state, "kubeconfig-kb.yaml")), false);

    // Never on argv: it would show in ps.
    const argv = await cli(["kubeconfig", "--agent", "kb", "--token", token], { cwd: dir });
    equal(argv.code, 2);
    match(argv.stderr, /^Usage error: kubeconfig takes no --token/);
    equal(argv.stderr.includes(token), false);
    const none = await cli(["kubeconfig", "--agent", "kb"], { cwd: dir }); // stdin: /dev/null
    equal(none.code, 2);
    match(none.stderr, /no token for agent 'kb': set CLAWPATROL_AGENT_TOKEN or pass --token-stdin/);
    equal(await exists(join(state, "kubeconfig-kb.yaml")), false);
  });
});

Deno.test("kubeconfig exits 2 with one line for an endpoint that is unknown, not kubernetes or outside the profile", async () => {
  await withTempDir(async (dir) => {
    const state = await setUp(dir);
    const token = await addAgent(dir, "kb", "kube");
    const plainToken = await addAgent(dir, "plain", "default");
    const env = { CLAWPATROL_AGENT_TOKEN: token };
    const cases: [string[], RegExp][] = [
      [
        ["--endpoint", "nope"],
        /^Usage error: unknown endpoint 'nope': the config's kubernetes endpoints are 'k8s-prod', 'k8s-dev', 'k8s-other', 'k8s-lan'$/,
      ],
      [["--endpoint", "github"], /^Usage error: endpoint 'github' is https, not kubernetes$/],
      [
        ["--endpoint", "k8s-other"],
        /^Usage error: endpoint 'k8s-other' is not reachable by agent 'kb': profile 'kube' does not include it$/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await cli(["kubeconfig", "--agent", "kb", ...args], { cwd: dir, env });
      equal(r.code, 2, args.join(" "));
      equal(lines(r.stderr).length, 1, r.stderr);
      match(lines(r.stderr)[0], message);
      equal(r.stderr.includes(token), false);
      equal(r.stdout, "");
    }
    const noneReached = await cli(["kubeconfig", "--agent", "plain"], {
      cwd: dir,
      env: { CLAWPATROL_AGENT_TOKEN: plainToken },
    });
    equal(noneReached.code, 2);
    deepEqual(lines(noneReached.stderr), [
      "Usage error: agent 'plain' reaches no kubernetes endpoint: profile 'default' includes none",
    ]);
    equal(await exists(join(state, "kubeconfig-kb.yaml")), false);
    equal(await exists(join(state, "kubeconfig-plain.yaml")), false);
    const noAgent = await cli(["kubeconfig"], { cwd: dir, env });
    equal(noAgent.code, 2);
    match(noAgent.stderr, /kubeconfig needs --agent NAME/);
  });
});

Deno.test("env sets KUBECONFIG for a profile reaching a kubernetes endpoint, and not for one without", async () => {
  await withTempDir(async (dir) => {
    const state = await setUp(dir);
    const token = await addAgent(dir, "kb", "kube");
    const r = await cli(["env", "--agent", "kb"], {
      cwd: dir,
      env: { CLAWPATROL_AGENT_TOKEN: token },
    });
    equal(r.code, 0, r.stderr);
    equal(r.stderr, "");
    const path = join(state, "kubeconfig-kb.yaml");
    const exports = lines(r.stdout);
    equal(exports.filter((l) => l.startsWith("export KUBECONFIG=")).length, 1);
    ok(exports.includes(`export KUBECONFIG='${path}'`), r.stdout);
    ok(exports.includes("export NO_PROXY='localhost,127.0.0.1,::1'"), "loopback listeners only");
    equal(await modeOf(path), 0o600);
    const kc = await readKubeconfig(path);
    deepEqual(kc.clusters.map((c) => c.name), ["clawpatrol-k8s-dev", "clawpatrol-k8s-prod"]);
    equal(kc.users[0].user.token, token);

    const plainToken = await addAgent(dir, "plain", "default");
    const plain = await cli(["env", "--agent", "plain"], {
      cwd: dir,
      env: { CLAWPATROL_AGENT_TOKEN: plainToken },
    });
    equal(plain.code, 0, plain.stderr);
    equal(plain.stdout.includes("KUBECONFIG"), false);
    equal(await exists(join(state, "kubeconfig-plain.yaml")), false);

    // kubectl honours HTTPS_PROXY: a listener off loopback must be dialled directly.
    const lanToken = await addAgent(dir, "lan", "lan");
    const lan = await cli(["env", "--agent", "lan"], {
      cwd: dir,
      env: { CLAWPATROL_AGENT_TOKEN: lanToken },
    });
    equal(lan.code, 0, lan.stderr);
    ok(lan.stdout.includes("export NO_PROXY='localhost,127.0.0.1,::1,10.9.8.7'"), lan.stdout);
    ok(lan.stdout.includes(`export KUBECONFIG='${join(state, "kubeconfig-lan.yaml")}'`));
    const lanKc = await readKubeconfig(join(state, "kubeconfig-lan.yaml"));
    equal(lanKc.clusters[0].cluster.server, "https://10.9.8.7:16443");
  });
});

Deno.test({
  name:
    "run gives kubectl a KUBECONFIG it uses: gateway CA trusted, agent token sent, proxy-url tunnelled",
  ignore: !hasKubectl,
  async fn() {
    await withTempDir(async (dir) => {
      const listenPort = closedPort();
      const proxyPort = closedPort();
      const state = await setUp(dir, { listen: listenPort, proxy: proxyPort });
      const token = await addAgent(dir, "kb", "kube");
      // Leaves signed by the real gateway CA, whose key init sealed into the vault.
      const vault = await openVault(state);
      const caKey = await vault.get("@gateway", "ca_key");
      vault.close();
      ok(caKey, "the gateway CA key is in the vault");
      const ca = await loadGatewayCa(state, { privateKeyPem: caKey });
      const seen: string[] = [];
      const apiServer = (label: string) => (req: Request) => {
        seen.push(`${label} ${req.headers.get("authorization")}`);
        return Response.json({ major: "1", minor: "32", gitVersion: `v1.32.0-${label}` });
      };
      // Stands in for the gateway's Kubernetes listener on k8s-prod's `listen`.
      const prodLeaf = await mintLeaf(ca, "127.0.0.1");
      const listener = Deno.serve({
        hostname: "127.0.0.1",
        port: listenPort,
        cert: prodLeaf.certPem,
        key: prodLeaf.keyPem,
        onListen() {},
      }, apiServer("listener"));
      // Stands in for the gateway's forward proxy: CONNECT k8s-dev.internal:6443, with proxy
      // credentials, tunnelled to a TLS server with a leaf for that host.
      const devLeaf = await mintLeaf(ca, "k8s-dev.internal");
      const terminator = Deno.serve({
        hostname: "127.0.0.1",
        port: 0,
        cert: devLeaf.certPem,
        key: devLeaf.keyPem,
        onListen() {},
      }, apiServer("tunnel"));
      const proxy = fakeProxy(proxyPort, terminator.addr.port, seen);
      try {
        for (
          const [context, label] of [["clawpatrol-k8s-prod", "listener"], [
            "clawpatrol-k8s-dev",
            "tunnel",
          ]]
        ) {
          const r = await cli(
            [
              "run",
              "--agent",
              "kb",
              "--",
              KUBECTL,
              "--context",
              context,
              "get",
              "--raw",
              "/version",
            ],
            { cwd: dir, env: { CLAWPATROL_AGENT_TOKEN: token } },
          );
          equal(r.code, 0, r.stderr);
          equal(JSON.parse(r.stdout).gitVersion, `v1.32.0-${label}`);
          equal(r.stderr.includes(token), false);
        }
        const basic = btoa(`kb:${token}`);
        // This kubectl may be a dispatcher that asks /version once more to pick a client version.
        deepEqual(
          new Set(seen),
          new Set([
            `listener Bearer ${token}`,
            `CONNECT k8s-dev.internal:6443 Basic ${basic}`,
            `tunnel Bearer ${token}`,
          ]),
        );
      } finally {
        proxy.close();
        await listener.shutdown();
        await terminator.shutdown();
      }
    });
  },
});

/**
 * A minimal CONNECT proxy on `port`: records the target and Proxy-Authorization, answers 200 and
 * relays the tunnel to `tunnelPort` on loopback.
 */
function fakeProxy(port: number, tunnelPort: number, seen: string[]): { close(): void } {
  const server = Deno.listen({ hostname: "127.0.0.1", port });
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const conn of server) {
      conns.push(conn);
      (async () => {
        let head = "";
        const buf = new Uint8Array(4096);
        while (!head.includes("\r\n\r\n")) {
          const n = await conn.read(buf);
          if (n === null) return conn.close();
          head += new TextDecoder().decode(buf.subarray(0, n));
        }
        const [requestLine, ...fields] = head.split("\r\n");
        const auth = fields.find((f) => /^proxy-authorization:/i.test(f))?.split(":")[1].trim();
        seen.push(`${requestLine.split(" ").slice(0, 2).join(" ")} ${auth}`);
        await conn.write(new TextEncoder().encode("HTTP/1.1 200 Connection established\r\n\r\n"));
        const upstream = await Deno.connect({ hostname: "127.0.0.1", port: tunnelPort });
        conns.push(upstream);
        await Promise.all([
          conn.readable.pipeTo(upstream.writable).catch(() => {}),
          upstream.readable.pipeTo(conn.writable).catch(() => {}),
        ]);
      })().catch(() => {});
    }
  })().catch(() => {});
  return {
    close() {
      server.close();
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // Closed by its pipe already.
        }
      }
    },
  };
}
