// `clawpatrol run --isolate`: the command runs in a network namespace whose only link leads to
// the gateway. Real clients inside (curl with no proxy, Node 20's fetch, Python sockets, dig,
// psql, ip) try every way out they have; what an endpoint allows works with placeholders
// swapped, everything else fails, and what the gateway sees has a receipt. Root only (CI is).
import { equal, match, ok } from "node:assert/strict";
import { SourceRegistry } from "../src/agents/mod.ts";
import { ISOLATE_SCRIPT, linkPairs } from "../src/cli/_isolate.ts";
import { startTestGateway } from "./_gateway.ts";
import { cli, eventually, withTempDir } from "./_helpers.ts";
import { type IsolateFixture, isolationAvailable, withIsolation } from "./_isolate_fixture.ts";

/**
 * Runs each attempt inside and prints `name rc=N output` per line. Absolute paths: the caller's
 * PATH may lead through directories the command's user cannot read.
 */
const ATTEMPTS = String.raw`
t() { name=$1; shift; out=$("$@" 2>&1); rc=$?; printf '%s rc=%s %s\n' "$name" "$rc" "$(printf %s "$out" | tr '\n' ' ' | tail -c 300)"; }
py() { /usr/bin/python3 -c "import socket,sys; $1"; }
t user id -u
t proxy-vars sh -c 'env | grep -i _proxy= || echo none'
t get /usr/bin/curl -sS --max-time 20 -w ' %{http_code}' -H "Authorization: Bearer $API_TOKEN" https://api.example.test/repos
t delete /usr/bin/curl -sS --max-time 20 -w ' %{http_code}' -X DELETE https://api.example.test/repos/x
t noproxy-ip /usr/bin/curl -sS --noproxy '*' --max-time 5 https://93.184.216.34/
t node-fetch /usr/bin/node -e "fetch('https://api.example.test/v1/messages',{method:'POST',headers:{authorization:'Bearer '+process.env.API_TOKEN,'content-type':'application/json'},body:JSON.stringify({model:'m',max_tokens:8,messages:[{role:'user',content:'hi'}]})}).then(r=>console.log('status',r.status),e=>{console.log('error',e.cause?.code??e.message);process.exit(1)})"
t tcp-out py "socket.create_connection(('93.184.216.34',80),timeout=5)"
t tcp-gateway-ssh py "socket.create_connection(('$GATEWAY',22),timeout=5)"
t udp-out py "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.sendto(b'x',('8.8.8.8',53))"
t ipv6-out py "socket.create_connection(('2606:4700::1111',443),timeout=5)"
t dig-unlisted sh -c '/usr/bin/dig +tries=1 +time=5 exfil.evil.test | grep -o "status: [A-Z]*"'
t dig-outside /usr/bin/dig @8.8.8.8 +tries=1 +time=2 example.com
t psql-read /usr/bin/psql -X -A -t -c 'select count(*) from users'
t psql-drop /usr/bin/psql -X -A -t -c 'drop table users'
t kubectl-get /usr/bin/kubectl get pods -A -o name --request-timeout=20s
t kubectl-delete /usr/bin/kubectl delete namespace prod --request-timeout=20s
t git-clone /usr/bin/git clone -q https://api.example.test/repo.git /tmp/clone
t git-cat cat /tmp/clone/README
t route-add /usr/sbin/ip route add 1.2.3.0/24 dev eth0
t resolv-edit sh -c 'echo nameserver 8.8.8.8 > /etc/resolv.conf'
t userns-route /usr/bin/unshare -r /usr/sbin/ip route add 1.2.3.0/24 dev eth0
`;

/** The attempts' lines by name. */
function results(stdout: string): Map<string, { rc: number; out: string }> {
  const found = new Map<string, { rc: number; out: string }>();
  for (const line of stdout.split("\n")) {
    const m = /^(\S+) rc=(\d+) ?(.*)$/.exec(line);
    if (m) found.set(m[1], { rc: Number(m[2]), out: m[3] });
  }
  return found;
}

async function runInside(fx: IsolateFixture, script: string) {
  return await cli(
    ["run", "-c", fx.config, "--isolate", "--agent", "bot", "--", "/bin/sh", "-c", script],
    // From a directory under /tmp, which the command's fresh /tmp hides (as CI's checkout is).
    { env: { CLAWPATROL_AGENT_TOKEN: fx.token }, timeoutMs: 180_000, cwd: fx.dir },
  );
}

for (const portOffset of [0, 20_000]) {
  Deno.test({
    name: `run --isolate${
      portOffset ? " (gateway on offset ports)" : ""
    }: allowed requests work with no proxy settings, every way around fails`,
    ignore: !isolationAvailable(),
    sanitizeResources: false,
    sanitizeOps: false,
    fn: () => withIsolation((fx) => everyWayOut(fx), { portOffset }),
  });
}

async function everyWayOut(fx: IsolateFixture): Promise<void> {
  const run = await runInside(fx, `GATEWAY=${fx.vipRange.replace(/0\/24$/, "1")}\n${ATTEMPTS}`);
  const got = results(run.stdout);
  const show = `${run.stdout}\n${run.stderr}`;
  const rc = (name: string) => got.get(name)?.rc;
  const out = (name: string) => got.get(name)?.out ?? "";
  ok(got.size >= 21, show);
  equal(out("user"), "65534", "as root, the command runs as nobody");
  equal(out("proxy-vars"), "none", "no proxy settings at all");
  // Allowed, through interception, the placeholder swapped on the way out.
  equal(rc("get"), 0, show);
  match(out("get"), / 200$/);
  const get = fx.seen.find((r) => r.path === "/repos");
  equal(get?.authorization, "Bearer real-upstream-token-5ac2");
  match(out("node-fetch"), /status 200/, show);
  equal(fx.seen.find((r) => r.path === "/v1/messages")?.authorization, get?.authorization);
  equal(rc("psql-read"), 0, show);
  equal(out("psql-read"), "3");
  equal(rc("kubectl-get"), 0, show);
  match(out("kubectl-get"), /pod\//);
  equal(out("git-cat"), "cloned through the gateway", show);
  // Decided by rules.
  ok(rc("kubectl-delete") !== 0);
  match(out("kubectl-delete"), /Deleting namespaces is not allowed/);
  match(out("delete"), /deletes are not allowed.* 403$/);
  equal(rc("psql-drop"), 1);
  match(out("psql-drop"), /Schema changes land via migration PR/);
  // No way around.
  for (const name of ["noproxy-ip", "tcp-out", "tcp-gateway-ssh", "udp-out", "ipv6-out"]) {
    ok(rc(name) !== 0, `${name} got out: ${out(name)}`);
  }
  match(out("tcp-out"), /unreachable/i);
  match(out("tcp-gateway-ssh"), /refused/i);
  equal(out("dig-unlisted"), "status: NXDOMAIN");
  ok(rc("dig-outside") !== 0, out("dig-outside"));
  ok(rc("route-add") !== 0, out("route-add"));
  match(out("route-add"), /not permitted/i);
  ok(rc("resolv-edit") !== 0, out("resolv-edit"));
  // A user namespace of its own gives capabilities over nothing the gateway set up.
  ok(rc("userns-route") !== 0, `routes changed from a user namespace: ${out("userns-route")}`);
  equal(run.code, 0, show);
  // What the gateway saw has a receipt, each naming the agent by its address.
  const receipts = await eventually("the receipts", () => {
    const r = fx.receipts();
    return r.some((x) => x.protocol === "dns") && r.some((x) => x.endpoint === "db")
      ? r
      : undefined;
  });
  ok(receipts.some((r) => r.protocol === "dns" && /exfil\.evil\.test/.test(r.summary ?? "")));
  ok(receipts.filter((r) => r.endpoint === "api").every((r) => r.agent === "bot"));
  ok(receipts.some((r) => r.endpoint === "db" && r.verdict === "deny" && r.agent === "bot"));
}

Deno.test({
  name: "run --isolate: the command's exit code comes back, and the namespace and lease are gone",
  ignore: !isolationAvailable(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withIsolation(async (fx) => {
      // A run killed before it could release its lease: its process and namespace are gone.
      const dead = new Deno.Command("true").spawn();
      await dead.status;
      const first = linkPairs(fx.linkRange).next().value!;
      SourceRegistry.open(`${fx.dir}/state`).lease("bot", "isolate", [first], dead.pid);
      const run = await runInside(fx, "/usr/sbin/ip -4 -o addr show eth0; exit 7");
      equal(run.code, 7, run.stderr);
      ok(
        run.stdout.includes(` ${first.address}/31 `),
        `the left-behind pair reused: ${run.stdout}`,
      );
      const sources = JSON.parse(await Deno.readTextFile(`${fx.dir}/state/sources.json`));
      equal(sources.sources.length, 0, "the link address is free again");
      const netns = new TextDecoder().decode(
        (await new Deno.Command("ip", { args: ["netns", "list"] }).output()).stdout,
      );
      ok(!netns.includes(`clawpatrol-`), netns);
    });
  },
});

Deno.test({
  name: "a gateway started before the host was prepared waits, then answers once it is",
  ignore: !isolationAvailable(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withTempDir(async (dir) => {
      const [a, b] = crypto.getRandomValues(new Uint8Array(2));
      const vipRange = `10.${100 + (a % 100)}.${b}.0/24`;
      const ranges = ["--vip-range", vipRange, "--link-range", `10.${200 + (a % 50)}.${b}.0/24`];
      const dnsAddress = vipRange.replace(/0\/24$/, "1");
      const config = `schema_version = 1
gateway {
  state_dir    = "./state"
  proxy_listen = "127.0.0.1:0"
  admin_listen = "127.0.0.1:0"
  transparent { vip_range = "${vipRange}" }
}
endpoint "https" "api" { hosts = ["api.example.test"] }
profile "bots" { endpoints = [https.api] }
`;
      const { gateway, log } = await startTestGateway(dir, config, {}, {
        name: "bot",
        profile: "bots",
      });
      try {
        const status = async () => {
          const { hostname, port } = gateway.adminAddress;
          return (await (await fetch(`http://${hostname}:${port}/status`)).json()).transparent;
        };
        equal((await status()).dns, null, "not listening yet");
        ok(log.lines.some((l) => /waits for .* to be local/.test(l.message)));
        const prepared = await new Deno.Command("sh", {
          args: [ISOLATE_SCRIPT, "prepare", ...ranges, "--dns", dnsAddress, "--ports", "443"],
        }).output();
        ok(prepared.success, new TextDecoder().decode(prepared.stderr));
        await eventually("the responder listening", async () => (await status()).dns ?? undefined);
        const out = await new Deno.Command("dig", {
          args: [`@${dnsAddress}`, "+short", "+tries=1", "+time=5", "api.example.test"],
        }).output();
        match(new TextDecoder().decode(out.stdout), /^10\.\d+\.\d+\.\d+\n$/);
      } finally {
        await gateway.stop();
        await new Deno.Command("sh", { args: [ISOLATE_SCRIPT, "unprepare", ...ranges] }).output();
      }
    });
  },
});
