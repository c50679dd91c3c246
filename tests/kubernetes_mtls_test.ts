/**
 * An `mtls_credential`: the gateway presents the client certificate from the vault (slots `cert`
 * and `key`) to the API server, and refuses with a receipt when the vault lacks it.
 */

import "reflect-metadata";
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { queryReceipts } from "../src/audit/mod.ts";
import { CA_CERT_FILE } from "../src/tls/mod.ts";
import { startFakeApiServer } from "./_k8s_apiserver.ts";
import { mintTestCa, mintTestCertificate } from "./_test_ca.ts";
import { gatewayHeader, startTestGateway } from "./_gateway.ts";

async function get(url: string, caPem: string, token: string): Promise<[number, string]> {
  const client = Deno.createHttpClient({ caCerts: [caPem] });
  try {
    const res = await fetch(url, { client, headers: { authorization: `Bearer ${token}` } });
    return [res.status, await res.text()];
  } finally {
    client.close();
  }
}

Deno.test({
  name:
    "an mtls_credential presents the vault's client certificate; without it the gateway refuses",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const clientCa = await mintTestCa("cluster client CA");
    const agentCert = await mintTestCertificate(clientCa, {
      commonName: "clawpatrol-agents",
      hosts: [],
      usage: "client",
    });
    const api = await startFakeApiServer({ clientCaPem: clientCa.certPem });
    const dir = await Deno.makeTempDir({ prefix: "clawpatrol_k8s_mtls_" });
    try {
      await Deno.writeTextFile(join(dir, "api-ca.pem"), api.caPem);
      const endpoint = (name: string) =>
        `endpoint "kubernetes" "${name}" {\n  server = "${api.url}"\n  listen = "127.0.0.1:0"\n  ca_cert = "<<file:api-ca.pem>>"\n}\n`;
      const stateDir = join(dir, "state");
      const { gateway, log, token } = await startTestGateway(
        dir,
        `${gatewayHeader()}${endpoint("mtls")}${endpoint("nocert")}${endpoint("badcert")}
credential "mtls_credential" "cluster_cert" {
  endpoint = kubernetes.mtls
}
credential "mtls_credential" "missing_cert" {
  endpoint = kubernetes.nocert
}
credential "mtls_credential" "garbled_cert" {
  endpoint = kubernetes.badcert
}
profile "ops" {
  credentials = [mtls_credential.cluster_cert, mtls_credential.missing_cert,
                 mtls_credential.garbled_cert]
}
rule "all" {
  endpoints = [kubernetes.mtls, kubernetes.nocert, kubernetes.badcert]
  condition = "true"
  verdict   = "allow"
}
`,
        [
          ["cluster_cert", "cert", agentCert.certPem],
          ["cluster_cert", "key", agentCert.keyPem],
          ["garbled_cert", "cert", "-----BEGIN CERTIFICATE-----\nnot a certificate\n"],
          ["garbled_cert", "key", "-----BEGIN PRIVATE KEY-----\nGARBLEDSECRETKEY\n"],
        ],
        { name: "bot", profile: "ops" },
      );
      try {
        const ca = await Deno.readTextFile(join(stateDir, CA_CERT_FILE));
        const at = (name: string) => {
          const a = gateway.listenerAddresses("kubernetes").get(name)!;
          return `https://${a.hostname}:${a.port}/api/v1/namespaces/default/pods`;
        };
        const [status, body] = await get(at("mtls"), ca, token);
        assertEquals(status, 200, body);
        const seen = api.requests.at(-1)!;
        assertEquals(seen.clientCommonName, "clawpatrol-agents");
        assertEquals(seen.authorization, null); // the agent's token stayed at the gateway

        const [refused, text] = await get(at("nocert"), ca, token);
        assertEquals(refused, 403);
        assert(text.includes("credential 'missing_cert' is not available on the gateway"), text);
        assertEquals(api.requests.length, 1);
        assert(log.messages("warn").some((m) => m.includes("'missing_cert' slot 'cert'")));

        // A vault value that is no certificate fails the upstream TLS, closed, with a receipt.
        const [broken, brokenText] = await get(at("badcert"), ca, token);
        assertEquals(broken, 502, brokenText);
        assertEquals(api.requests.length, 1);

        await gateway.settled();
        const receipts = queryReceipts(join(stateDir, "receipts.db"));
        assert(receipts.some((r) => r.endpoint === "nocert" && r.verdict === "deny"));
        assert(receipts.some((r) => r.endpoint === "badcert" && r.upstreamStatus === 502));
        const all = JSON.stringify(receipts) + log.messages().join("\n");
        assert(!all.includes("PRIVATE KEY"), "the client key leaked");
        assert(!all.includes("GARBLEDSECRETKEY") && !brokenText.includes("GARBLED"));
      } finally {
        await gateway.stop();
      }
    } finally {
      await api.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
