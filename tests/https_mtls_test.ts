/**
 * An `mtls_credential` on an `https` endpoint: the gateway presents the vault's client
 * certificate to an upstream that requires one (the agent, curl through the proxy, holds no
 * certificate or key), and refuses with a receipt when the vault lacks it.
 *
 * @module
 */

import "reflect-metadata";
import { equal, match, ok } from "node:assert/strict";
import https from "node:https";
import type { TLSSocket } from "node:tls";
import { join } from "node:path";
import { queryReceipts } from "../src/audit/mod.ts";
import { CA_CERT_FILE } from "../src/tls/mod.ts";
import { gatewayHeader, startTestGateway } from "./_gateway.ts";
import { mintTestCa, mintTestCertificate } from "./_test_ca.ts";

Deno.test({
  name:
    "an mtls_credential on an https endpoint presents the vault's client certificate; without it the request is refused",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const serverCa = await mintTestCa("upstream CA");
    const leaf = await mintTestCertificate(serverCa, { hosts: ["localhost", "127.0.0.1"] });
    const clientCa = await mintTestCa("upstream's client CA");
    const client = await mintTestCertificate(clientCa, {
      commonName: "clawpatrol-gateway",
      hosts: [],
      usage: "client",
    });
    const seen: (string | null)[] = [];
    // A server that completes no handshake without a certificate from its client CA.
    const upstream = https.createServer({
      cert: leaf.certPem,
      key: leaf.keyPem,
      ca: clientCa.certPem,
      requestCert: true,
      rejectUnauthorized: true,
    }, (req, res) => {
      const cn = (req.socket as TLSSocket).getPeerCertificate()?.subject?.CN;
      seen.push(typeof cn === "string" ? cn : null);
      res.end(JSON.stringify({ client: cn }));
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    const port = (upstream.address() as { port: number }).port;
    const dir = await Deno.makeTempDir({ prefix: "clawpatrol_https_mtls_" });
    try {
      await Deno.writeTextFile(join(dir, "upstream-ca.pem"), serverCa.certPem);
      // Dialled by the name it is verified as (no `upstream`): Deno presents a client
      // certificate only on a connection it opens to that name.
      const endpoint = (name: string, host: string) =>
        `endpoint "https" "${name}" {\n  hosts   = ["${host}"]\n  ports   = [${port}]\n  ca_cert = "<<file:upstream-ca.pem>>"\n}\n`;
      const { gateway, log, token } = await startTestGateway(
        dir,
        `${gatewayHeader()}${endpoint("mtls", "localhost")}${endpoint("nocert", "127.0.0.1")}
credential "mtls_credential" "partner_cert" {
  endpoint = https.mtls
}
credential "mtls_credential" "missing_cert" {
  endpoint = https.nocert
}
profile "bots" {
  credentials = [mtls_credential.partner_cert, mtls_credential.missing_cert]
}
rule "all" {
  endpoints = [https.mtls, https.nocert]
  condition = "true"
  verdict   = "allow"
}
`,
        [
          ["partner_cert", "cert", client.certPem],
          ["partner_cert", "key", client.keyPem],
        ],
        { name: "bot", profile: "bots" },
      );
      try {
        const curl = async (host: string) => {
          const out = await new Deno.Command("curl", {
            args: [
              ...["-sS", "-o", "-", "-w", "\n%{http_code}", "-m", "20"],
              ...["--proxy", `http://bot:${token}@127.0.0.1:${gateway.proxyAddress.port}`],
              ...["--cacert", join(dir, "state", CA_CERT_FILE), `https://${host}:${port}/partners`],
            ],
            clearEnv: true,
            env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
            stdout: "piped",
            stderr: "piped",
          }).output();
          const text = new TextDecoder().decode(out.stdout);
          const at = text.lastIndexOf("\n");
          return { status: Number(text.slice(at + 1)), body: text.slice(0, at) };
        };
        const ok200 = await curl("localhost");
        equal(ok200.status, 200, ok200.body);
        equal(JSON.parse(ok200.body).client, "clawpatrol-gateway");

        const refused = await curl("127.0.0.1");
        equal(refused.status, 403, refused.body);
        match(refused.body, /credential 'missing_cert' is not available on the gateway/);
        equal(seen.length, 1, "the refused request never reached the upstream");
        ok(log.messages("warn").some((m) => m.includes("'missing_cert' slot 'cert'")));

        await gateway.settled();
        const receipts = queryReceipts(join(dir, "state", "receipts.db"));
        ok(receipts.some((r) => r.endpoint === "mtls" && r.upstreamStatus === 200));
        ok(receipts.some((r) => r.endpoint === "nocert" && r.verdict === "deny"));
        ok(!(JSON.stringify(receipts) + log.messages().join("\n")).includes("PRIVATE KEY"));
      } finally {
        await gateway.stop();
      }
    } finally {
      upstream.closeAllConnections();
      await new Promise((resolve) => upstream.close(resolve));
      await Deno.remove(dir, { recursive: true });
    }
  },
});
