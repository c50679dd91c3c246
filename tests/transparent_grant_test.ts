// Transparent interception under the grant the launcher computes: the gateway listens on its
// virtual IPs (granted as a range) and its responder, and serves an intercepted request, with no
// kind of permission unrestricted. The range is inside 127.0.0.0/8, local without any route.
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { SourceRegistry } from "../src/agents/mod.ts";
import { cli, Running, withTempDir } from "./_helpers.ts";
import { installLauncher } from "./_installed.ts";
import { mintTestCa, mintTestCertificate } from "./_test_ca.ts";

Deno.test("the launched gateway intercepts under its computed grant", async () => {
  const installed = await installLauncher();
  const ca = await mintTestCa();
  const leaf = await mintTestCertificate(ca, { hosts: ["api.example.test"] });
  const upstream = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: leaf.certPem,
    key: leaf.keyPem,
    onListen() {},
  }, (req) => Response.json({ path: new URL(req.url).pathname }));
  try {
    await withTempDir(async (dir) => {
      const { bin } = installed;
      const gw = join(dir, "gw");
      const listen = ["--proxy-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"];
      equal((await cli(["init", gw, ...listen], { bin, cwd: dir })).code, 0);
      const config = join(gw, "gateway.hcl");
      const [a, b] = crypto.getRandomValues(new Uint8Array(2));
      const range = `127.${100 + (a % 150)}.${b}.0/24`;
      const httpsPort = 20_000 + crypto.getRandomValues(new Uint16Array(1))[0] % 20_000;
      await Deno.writeTextFile(join(gw, "upstream-ca.pem"), ca.certPem);
      const text = await Deno.readTextFile(config);
      await Deno.writeTextFile(
        config,
        text.replace(
          /^gateway \{/m,
          `gateway {\n  transparent {\n    vip_range  = "${range}"\n    dns_listen = "127.0.0.1:0"\n  }`,
        ) + `
endpoint "https" "demo" {
  hosts    = ["api.example.test"]
  ports    = [${httpsPort}]
  upstream = "127.0.0.1:${upstream.addr.port}"
  ca_cert  = "<<file:upstream-ca.pem>>"
}
profile "demo" {
  endpoints = [https.demo]
}
rule "demo-reads" {
  endpoint  = https.demo
  condition = "http.method == 'get'"
  verdict   = "allow"
}
`,
      );
      const added = await cli(["agent", "add", "bot", "--profile", "demo", "-c", config], {
        bin,
        cwd: dir,
      });
      equal(added.code, 0, added.stderr);
      SourceRegistry.open(join(gw, "state")).register("127.0.0.1", "bot", "static");

      const running = Running.spawn(["serve", "-c", config], { bin, cwd: dir });
      try {
        const admin = await running.adminUrl();
        const status = await (await fetch(`${admin}/status`)).json();
        deepEqual(status.permissions.unrestricted, [], JSON.stringify(status.permissions));
        ok(status.permissions.net.includes(range), JSON.stringify(status.permissions.net));
        const intercept = status.transparent.intercept as { listening: number; failing: [] };
        ok(intercept.listening >= 1, JSON.stringify(status.transparent));
        deepEqual(intercept.failing, [], "every virtual IP listens under the grant");
        const dnsPort = Number(String(status.transparent.dns).split(":").at(-1));
        const dig = await new Deno.Command("dig", {
          args: [
            "@127.0.0.1",
            "-p",
            String(dnsPort),
            "+short",
            "+tries=1",
            "+time=5",
            "api.example.test",
          ],
        }).output();
        const address = new TextDecoder().decode(dig.stdout).trim();
        match(address, /^127\.\d+\.\d+\.\d+$/);
        const caFile = join(gw, "state", "ca.pem");
        const got = await new Deno.Command("curl", {
          args: [
            "-sS",
            "--noproxy",
            "*",
            "--max-time",
            "20",
            "--cacert",
            caFile,
            "--resolve",
            `api.example.test:${httpsPort}:${address}`,
            `https://api.example.test:${httpsPort}/granted`,
          ],
        }).output();
        const body = new TextDecoder().decode(got.stdout);
        equal(got.code, 0, new TextDecoder().decode(got.stderr) + running.log);
        deepEqual(JSON.parse(body), { path: "/granted" });
      } finally {
        await running.stop();
      }
    });
  } finally {
    await upstream.shutdown();
    await installed.remove();
  }
});
