/**
 * kubectl against a GKE-shaped cluster through the gateway: a `kubernetes` endpoint with a
 * `gcp_service_account` gets an access token the gateway obtains from the vault's key (a signed
 * JWT exchanged at the fake token endpoint) on every request, and a new one before the cluster
 * would refuse it; the agent's kubeconfig holds only its clawpatrol token.
 *
 * @module
 */

import "reflect-metadata";
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { CA_CERT_FILE } from "../src/tls/mod.ts";
import { startFakeApiServer } from "./_k8s_apiserver.ts";
import { kubectlAvailable, runKubectl } from "./_k8s_fixture.ts";
import { gatewayHeader, startTestGateway } from "./_gateway.ts";
import { eventually } from "./_helpers.ts";
import { startFakeTokenEndpoint, testServiceAccount } from "./_oauth_fakes.ts";

Deno.test({
  name:
    "kubectl works against a GKE cluster with the service account's access token, refreshed before expiry",
  ignore: !kubectlAvailable,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const tokens = startFakeTokenEndpoint({ lifetimeS: 2, refreshToken: "unused" });
    tokens.serviceAccount = await testServiceAccount(tokens.url);
    const refused: string[] = [];
    const api = await startFakeApiServer({
      authenticate: (authorization) => {
        const valid = tokens.validBearer(authorization);
        if (!valid) refused.push(String(authorization));
        return valid;
      },
    });
    const dir = await Deno.makeTempDir({ prefix: "clawpatrol_gke_" });
    try {
      await Deno.writeTextFile(join(dir, "api-ca.pem"), api.caPem);
      const { gateway, token } = await startTestGateway(
        dir,
        `${gatewayHeader()}endpoint "kubernetes" "gke" {
  server  = "${api.url}"
  listen  = "127.0.0.1:0"
  ca_cert = "<<file:api-ca.pem>>"
}
credential "gcp_service_account" "gke_sa" {
  endpoint = kubernetes.gke
}
profile "ops" {
  credentials = [gcp_service_account.gke_sa]
}
rule "reads" {
  endpoint  = kubernetes.gke
  condition = "k8s.verb in ['get', 'list', 'watch']"
  verdict   = "allow"
}
`,
        { gke_sa: tokens.serviceAccount.json },
        { name: "bot", profile: "ops" },
      );
      try {
        const caPem = await Deno.readTextFile(join(dir, "state", CA_CERT_FILE));
        const a = gateway.listenerAddresses("kubernetes").get("gke")!;
        const kubectl = (args: string[]) =>
          runKubectl(dir, args, {
            cluster: {
              server: `https://${a.hostname}:${a.port}`,
              "certificate-authority-data": btoa(caPem),
            },
            token,
          });
        const pods = await kubectl(["get", "pods", "-n", "default"]);
        equal(pods.code, 0, pods.stderr);
        match(pods.stdout, /web-1/);
        await eventually(
          "a refreshed token",
          async () => {
            const again = await kubectl(["get", "pods", "-n", "default"]);
            equal(again.code, 0, again.stderr);
            return new Set(api.requests.map((r) => r.authorization)).size >= 2 ? true : undefined;
          },
          15_000,
          300,
        );
        equal(refused.length, 0, `the cluster refused: ${refused.join(", ")}`);
        ok(api.requests.every((r) => !r.authorization?.includes(token)), "agent token leaked");
        ok(tokens.grants.every((g) => g.type === "urn:ietf:params:oauth:grant-type:jwt-bearer"));
      } finally {
        await gateway.stop();
      }
    } finally {
      await api.close();
      await tokens.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
