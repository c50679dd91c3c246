// The KUBECONFIG that `env` and `run` set, end to end as real subprocesses against an init'ed
// directory; under `run`, kubectl itself uses it through a stand-in listener and proxy.
import { deepEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { openVault } from "../src/credentials/mod.ts";
import { loadGatewayCa, mintLeaf } from "../src/tls/mod.ts";
import { cli, closedPort, withTempDir } from "./_helpers.ts";
import {
  addAgent,
  exists,
  hasKubectl,
  KUBECTL,
  lines,
  modeOf,
  readKubeconfig,
  setUp,
} from "./_kubeconfig_fixture.ts";

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
