// Agents on other hosts over WireGuard: a real tunnel (`clawpatrol tunnel up`, wireguard-go on both
// sides) between this host and agent hosts in network namespaces, each enrolled with
// `agent add --wireguard` and configured from the wg-quick file it printed. Through the tunnel the
// agent host reaches endpoints by name and nothing else; its tunnel address names it; another peer
// cannot pass for it; revoking it cuts it off; a gateway restart keeps it. Root only (CI is).
import { equal, match, ok } from "node:assert/strict";
import { generateWireguardKeys } from "../src/transparent/mod.ts";
import { eventually } from "./_helpers.ts";
import { isolationAvailable } from "./_isolate_fixture.ts";
import type { AgentHost } from "./_tunnel_host.ts";
import { withTunnel } from "./_tunnel_fixture.ts";

/** Whether WireGuard can run here: root, the namespace tools, wg and wireguard-go. */
function tunnelAvailable(): boolean {
  if (!isolationAvailable()) return false;
  return ["wg", "wg-quick", "wireguard-go"].every((tool) =>
    new Deno.Command("sh", { args: ["-c", `command -v ${tool}`], stdout: "null" }).outputSync()
      .success
  );
}

const TEST = { ignore: !tunnelAvailable(), sanitizeResources: false, sanitizeOps: false };

/** curl inside `host` to api.example.test, trusting the gateway CA: `STATUS BODY`. */
function curl(host: AgentHost, caFile: string, ...args: string[]) {
  const quoted = args.map((a) => `'${a}'`).join(" ");
  return host.exec(
    `curl -sS --max-time 15 --cacert ${caFile} -w ' %{http_code}' ${quoted} https://api.example.test/x`,
  );
}

Deno.test({
  ...TEST,
  name: "an agent host reaches endpoints by name through the tunnel, and nothing else",
  fn: async () => {
    await withTunnel(async (fx) => {
      const host = await fx.addHost("remote");
      const ca = `${fx.dir}/state/ca.pem`;
      const got = await curl(host, ca, "-H", "Authorization: Bearer {{api_token}}");
      equal(got.code, 0, got.stderr);
      match(got.stdout, / 200$/);
      equal(
        fx.seen.at(-1)?.authorization,
        "Bearer real-upstream-token-77d1",
        "placeholder swapped",
      );
      const denied = await curl(host, ca, "-X", "DELETE");
      match(denied.stdout, /deletes are not allowed[\s\S]* 403$/);

      const pg = await host.exec("psql -X -A -t -c 'select count(*) from users'", {
        PGHOST: "db.example.test",
        PGUSER: "agent_ro",
        PGDATABASE: "app",
        PGSSLMODE: "verify-full",
        PGSSLROOTCERT: ca,
        PGCONNECT_TIMEOUT: "15",
      });
      equal(pg.stdout.trim(), "3", pg.stderr);

      const unlisted = await host.exec(
        "dig +tries=1 +time=5 exfil.evil.test | grep -o 'status: [A-Z]*'",
      );
      equal(unlisted.stdout.trim(), "status: NXDOMAIN");
      const gatewayTunnel = host.address.replace(/\.\d+$/, ".1");
      const tries = await host.exec(
        [
          `/usr/bin/python3 -c "import socket; socket.create_connection(('${gatewayTunnel}', 22), timeout=5)"; echo tcp=$?`,
          `/usr/bin/python3 -c "import socket; socket.create_connection(('10.9.9.9', 443), timeout=5)"; echo out=$?`,
          `/usr/bin/python3 -c "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x', ('${gatewayTunnel}', 9999)); s.settimeout(3); s.recv(1)"; echo udp=$?`,
        ].join("\n"),
      );
      match(tries.stdout, /tcp=1/, "the gateway host's other ports are refused");
      match(tries.stdout, /out=1/, "no route beyond the tunnel");
      match(tries.stdout, /udp=1/, "UDP goes nowhere");

      const receipts = await eventually("the tunnel agent's receipts", () => {
        const r = fx.receipts().filter((x) => x.agent === "remote");
        return r.some((x) => x.endpoint === "db") ? r : undefined;
      });
      ok(receipts.some((r) => r.endpoint === "api" && r.verdict === "allow"));
      ok(fx.receipts().some((r) => r.protocol === "dns" && /exfil/.test(r.summary ?? "")));
      const list = await fx.cli("agent", "list");
      match(
        list.stdout,
        new RegExp(`remote .*${fx.tunnel.name} ${host.address.replaceAll(".", "\\.")}`),
      );
    });
  },
});

Deno.test({
  ...TEST,
  name: "a second peer cannot send as the first: WireGuard drops what its key does not own",
  fn: async () => {
    await withTunnel(async (fx) => {
      const first = await fx.addHost("first");
      const second = await fx.addHost("second");
      const ca = `${fx.dir}/state/ca.pem`;
      equal((await curl(second, ca)).stdout.slice(-3), "200", "the second peer works as itself");
      const before = fx.seen.length;
      // The second host takes the first's tunnel address and sends from it.
      await second.exec(`ip addr add ${first.address}/32 dev ${second.iface}`);
      const spoofed = await curl(second, ca, "--interface", first.address, "--max-time", "5");
      ok(spoofed.code !== 0, `spoofed request answered: ${spoofed.stdout}`);
      equal(fx.seen.length, before, "nothing reached the upstream");
      const firsts = fx.receipts().filter((r) => r.agent === "first");
      equal(firsts.length, 0, "nothing was recorded as the first agent");
    });
  },
});

Deno.test({
  ...TEST,
  name: "revoking a tunnel agent cuts its open session; a gateway restart keeps enrolled peers",
  fn: async () => {
    await withTunnel(async (fx) => {
      const host = await fx.addHost("remote");
      const keeper = await fx.addHost("keeper");
      const ca = `${fx.dir}/state/ca.pem`;
      equal((await curl(keeper, ca)).stdout.slice(-3), "200");
      await fx.restartGateway();
      equal((await curl(keeper, ca)).stdout.slice(-3), "200", "after a restart");
      // A keep-alive connection: one request, then a second once the agent is revoked.
      const marker = `/tmp/clawpatrol-tunnel-${host.ns}`;
      const session = host.exec(`/usr/bin/python3 - <<'EOF'
import http.client, os, ssl, time
ctx = ssl.create_default_context(cafile="${ca}")
c = http.client.HTTPSConnection("api.example.test", context=ctx, timeout=5)
c.request("GET", "/first"); r = c.getresponse(); r.read(); print("first", r.status, flush=True)
open("${marker}", "w").close()
while os.path.exists("${marker}"): time.sleep(0.02)
try:
    c.request("GET", "/second"); r = c.getresponse(); print("second", r.status, flush=True)
except Exception as e:
    print("second failed", type(e).__name__, flush=True)
EOF`);
      await eventually("the session open", async () => {
        try {
          await Deno.stat(marker);
          return true;
        } catch {
          return undefined;
        }
      });
      const revoked = await fx.cli("agent", "revoke", "remote");
      equal(revoked.code, 0, revoked.stderr);
      // The gateway ends the session itself (the peer may already be off the interface).
      await eventually(
        "the session's end recorded",
        () => fx.receipts().find((r) => r.agent === "remote" && r.reason === "agent revoked"),
      );
      await Deno.remove(marker);
      const ended = await session;
      match(ended.stdout, /first 200\nsecond failed /, ended.stderr);
      equal(fx.seen.filter((r) => r.path === "/second").length, 0);
      const after = await curl(host, ca, "--max-time", "5");
      ok(!after.stdout.endsWith("200"), `revoked agent still served: ${after.stdout}`);
      equal((await curl(keeper, ca)).stdout.slice(-3), "200", "other peers undisturbed");
    });
  },
});

Deno.test({
  ...TEST,
  name: "garbage and forged handshakes to the tunnel's port do not disturb its peers",
  fn: async () => {
    await withTunnel(async (fx) => {
      const host = await fx.addHost("remote");
      const ca = `${fx.dir}/state/ca.pem`;
      equal((await curl(host, ca)).stdout.slice(-3), "200");
      const flood = await new Deno.Command("/usr/bin/python3", {
        args: [
          "-c",
          `
import os, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(2000):
    s.sendto(os.urandom(i % 300 + 1), ("127.0.0.1", ${fx.tunnel.port}))
    # A handshake initiation's shape (type 1, 148 bytes) with a made-up body.
    s.sendto(struct.pack("<I", 1) + os.urandom(144), ("127.0.0.1", ${fx.tunnel.port}))
print("sent")
`,
        ],
      }).output();
      equal(new TextDecoder().decode(flood.stdout).trim(), "sent");
      equal((await curl(host, ca)).stdout.slice(-3), "200", "the peer still works");
    });
  },
});

Deno.test({
  ...TEST,
  name: "an agent host that brings its own key gets a file without one, written private",
  fn: async () => {
    await withTunnel(async (fx) => {
      const keys = await generateWireguardKeys();
      const file = `${fx.dir}/own.conf`;
      const added = await fx.cli(
        "agent",
        "add",
        "own-key",
        ...["--profile", "bots", "--wireguard", "--public-key", keys.publicKey],
        ...["--endpoint", "192.0.2.10:51820", "--full-tunnel", "--output", file],
      );
      equal(added.code, 0, added.stderr);
      equal((await Deno.stat(file)).mode! & 0o777, 0o600);
      const text = await Deno.readTextFile(file);
      ok(!/^PrivateKey/m.test(text), "no private key was made for it");
      match(text, /^AllowedIPs = 0\.0\.0\.0\/0$/m);
      match(text, /^Endpoint = 192\.0\.2\.10:51820$/m);
      // wg-quick reads it (with the host's own key filled in).
      await Deno.writeTextFile(
        file,
        text.replace(/^# PrivateKey = .*$/m, `PrivateKey = ${keys.privateKey}`),
      );
      const strip = await new Deno.Command("wg-quick", { args: ["strip", file] }).output();
      equal(strip.code, 0, new TextDecoder().decode(strip.stderr));
      const shown = await fx.cli("tunnel", "show", fx.tunnel.name);
      match(
        shown.stdout,
        /own-key\t10\.\d+\.\d+\.\d+\tnever/,
        "on the interface, no handshake yet",
      );
      const bad = await fx.cli(
        "agent",
        "add",
        "bad-key",
        ...["--profile", "bots", "--wireguard", "--endpoint", "192.0.2.10:51820"],
        ...["--public-key", "nope"],
      );
      equal(bad.code, 2);
      match(bad.stderr, /--public-key must be a WireGuard public key/);
      const listed = await fx.cli("agent", "list", "--json");
      ok(
        !JSON.parse(listed.stdout).some((a: { name: string }) => a.name === "bad-key"),
        "nothing enrolled",
      );
    });
  },
});

/**
 * A UDP relay between an agent host and the tunnel's port that keeps the first handshake
 * initiation it carries and sends it again when told (`replay` on stdin).
 */
const RELAY = String.raw`
import select, socket, sys
relay = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); relay.bind(("0.0.0.0", int(sys.argv[1])))
up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); up.connect(("127.0.0.1", int(sys.argv[2])))
client = captured = None
print("ready", flush=True)
while True:
    ready, _, _ = select.select([relay, up, sys.stdin], [], [], 60)
    if relay in ready:
        data, client = relay.recvfrom(4096)
        if data[0] == 1 and captured is None: captured = data
        up.send(data)
    if up in ready:
        data = up.recv(4096)
        if client: relay.sendto(data, client)
    if sys.stdin in ready:
        line = sys.stdin.readline()
        if line.startswith("replay") and captured:
            up.send(captured)
            attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            attacker.sendto(captured, ("127.0.0.1", int(sys.argv[2])))
            print("replayed", flush=True)
        if not line or line.startswith("quit"): break
`;

Deno.test({
  ...TEST,
  name: "a replayed handshake initiation does not disturb the peer whose it was",
  fn: async () => {
    await withTunnel(async (fx) => {
      const relayPort = 30_000 + fx.tunnel.port % 10_000;
      const relay = new Deno.Command("/usr/bin/python3", {
        args: ["-c", RELAY, String(relayPort), String(fx.tunnel.port)],
        stdin: "piped",
        stdout: "piped",
      }).spawn();
      const writer = relay.stdin.getWriter();
      const reader = relay.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let buffered = "";
      /** The relay's next line ("" once it exits). */
      const nextLine = async (): Promise<string> => {
        while (!buffered.includes("\n")) {
          const { value, done } = await reader.read();
          if (done) return "";
          buffered += value;
        }
        const at = buffered.indexOf("\n");
        const line = buffered.slice(0, at);
        buffered = buffered.slice(at + 1);
        return line.trim();
      };
      try {
        equal(await nextLine(), "ready");
        const host = await fx.addHost("remote", [], (here) => `${here}:${relayPort}`);
        const ca = `${fx.dir}/state/ca.pem`;
        equal((await curl(host, ca)).stdout.slice(-3), "200", "through the relay");
        await writer.write(new TextEncoder().encode("replay\n"));
        equal(await nextLine(), "replayed", "the relay had an initiation to replay");
        equal((await curl(host, ca)).stdout.slice(-3), "200", "the session survived the replay");
      } finally {
        await writer.write(new TextEncoder().encode("quit\n")).catch(() => {});
        await writer.close().catch(() => {});
        await relay.status;
      }
    });
  },
});
