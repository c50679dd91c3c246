/**
 * kubectl against an EKS-shaped cluster through the gateway: a `kubernetes` endpoint with
 * `eks_cluster` and an `aws_credential` gets a bearer token the gateway mints from the real key
 * (a presigned STS GetCallerIdentity, as `aws eks get-token` makes it) and mints again before
 * the cluster would refuse it. The fake API server checks every token as EKS's authenticator
 * does, with a lifetime shortened to seconds; the agent's kubeconfig holds only its own token.
 *
 * @module
 */

import "reflect-metadata";
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { queryReceipts } from "../src/audit/mod.ts";
import { CA_CERT_FILE } from "../src/tls/mod.ts";
import { eksTokenProblem } from "./_eks_token.ts";
import { startFakeApiServer } from "./_k8s_apiserver.ts";
import { kubectlAvailable, runKubectl } from "./_k8s_fixture.ts";
import { gatewayHeader, startTestGateway } from "./_gateway.ts";
import { eventually } from "./_helpers.ts";
import { REAL_KEY } from "./_aws_fake.ts";
import { eksToken } from "../src/credentials/mod.ts";

const CLUSTER = "prod-cluster";
/** The fake cluster accepts a token this long after it was signed (EKS: 15 minutes). */
const LIFETIME_MS = 4_000;

Deno.test({
  name:
    "kubectl works against an EKS cluster with a token the gateway mints and refreshes; without the key it is refused",
  ignore: !kubectlAvailable,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const rejected: string[] = [];
    const api = await startFakeApiServer({
      authenticate: async (authorization) => {
        const problem = await eksTokenProblem(authorization, {
          cluster: CLUSTER,
          keys: REAL_KEY,
          lifetimeMs: LIFETIME_MS,
        });
        if (problem) rejected.push(problem);
        return problem === null;
      },
    });
    const dir = await Deno.makeTempDir({ prefix: "clawpatrol_eks_" });
    try {
      await Deno.writeTextFile(join(dir, "api-ca.pem"), api.caPem);
      const endpoint = (name: string, extra = "") =>
        `endpoint "kubernetes" "${name}" {\n  server  = "${api.url}"\n  listen  = "127.0.0.1:0"\n  ca_cert = "<<file:api-ca.pem>>"\n${extra}}\n`;
      const { gateway, log, token } = await startTestGateway(
        dir,
        `${gatewayHeader()}${endpoint("eks", `  eks_cluster = "${CLUSTER}"\n`)}${
          endpoint("nokey", `  eks_cluster = "${CLUSTER}"\n`)
        }${endpoint("nocluster")}
credential "aws_credential" "aws_prod" {
  endpoints     = [kubernetes.eks, kubernetes.nocluster]
  region        = "eu-west-1"
  token_refresh = "1s"
}
credential "aws_credential" "aws_unset" {
  endpoint = kubernetes.nokey
}
profile "ops" {
  credentials = [aws_credential.aws_prod, aws_credential.aws_unset]
}
rule "k8s-no-secrets" {
  endpoints = [kubernetes.eks, kubernetes.nokey, kubernetes.nocluster]
  priority  = 10
  condition = "k8s.resource == 'secrets'"
  verdict   = "deny"
  reason    = "Secrets are not readable by agents"
}
rule "k8s-rest" {
  endpoints = [kubernetes.eks, kubernetes.nokey, kubernetes.nocluster]
  condition = "true"
  verdict   = "allow"
}
`,
        [
          ["aws_prod", "access_key_id", REAL_KEY.accessKeyId],
          ["aws_prod", "secret_access_key", REAL_KEY.secretAccessKey],
        ],
        { name: "bot", profile: "ops" },
      );
      try {
        const caPem = await Deno.readTextFile(join(dir, "state", CA_CERT_FILE));
        // The agent's kubeconfig: the gateway's listener, the gateway CA, its clawpatrol token.
        const kubectl = (args: string[], name = "eks") => {
          const a = gateway.listenerAddresses("kubernetes").get(name)!;
          return runKubectl(dir, args, {
            cluster: {
              server: `https://${a.hostname}:${a.port}`,
              "certificate-authority-data": btoa(caPem),
            },
            token,
          });
        };

        const pods = await kubectl(["get", "pods", "-n", "default"]);
        equal(pods.code, 0, pods.stderr);
        match(pods.stdout, /web-1/);
        const first = api.requests.at(-1)!.authorization!;
        ok(first.startsWith("Bearer k8s-aws-v1."), first);

        // Past the refresh age (1 s) the gateway mints a new token: the cluster, which takes
        // a token for 4 s, never sees a stale one, however long the agent keeps working.
        await eventually(
          "a refreshed token",
          async () => {
            const again = await kubectl(["get", "pods", "-n", "default"]);
            equal(again.code, 0, again.stderr);
            const seen = new Set(api.requests.map((r) => r.authorization));
            return seen.size >= 2 ? true : undefined;
          },
          15_000,
          300,
        );
        equal(rejected.length, 0, `the cluster refused a token: ${rejected.join(", ")}`);
        ok(api.requests.every((r) => !r.authorization?.includes(token)), "agent token leaked");

        const secrets = await kubectl(["get", "secrets"]);
        match(
          secrets.stderr,
          /Forbidden.*denied by clawpatrol: Secrets are not readable by agents/,
        );

        const before = api.requests.length;
        // Discovery is refused too, so kubectl prints only "Forbidden"; the receipts say why.
        const unset = await kubectl(["get", "pods"], "nokey");
        ok(unset.code !== 0);
        match(unset.stderr, /Error from server \(Forbidden\)/);
        const noCluster = await kubectl(["get", "pods"], "nocluster");
        match(noCluster.stderr, /Error from server \(Forbidden\)/);
        equal(api.requests.length, before, "refused requests never reach the cluster");
        ok(log.messages("warn").some((m) => m.includes("'aws_unset' slot 'access_key_id'")));

        await gateway.settled();
        const receipts = queryReceipts(join(dir, "state", "receipts.db"));
        const reasons = (endpoint: string) =>
          receipts.filter((r) => r.endpoint === endpoint && r.verdict === "deny").map((r) =>
            r.reason
          );
        ok(reasons("nokey").includes("credential 'aws_unset' is not available on the gateway"));
        ok(
          reasons("nocluster").includes(
            "endpoint 'nocluster' sets no eks_cluster: no EKS token can be minted",
          ),
        );
        const all = JSON.stringify(receipts) + log.messages().join("\n");
        ok(!all.includes(REAL_KEY.secretAccessKey) && !all.includes("k8s-aws-v1."));
      } finally {
        await gateway.stop();
      }
    } finally {
      await api.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("the fake cluster refuses tokens that are stale, for another cluster or another key", async () => {
  const check = { cluster: CLUSTER, keys: REAL_KEY, lifetimeMs: LIFETIME_MS };
  const at = (keys: typeof REAL_KEY, cluster: string, ageMs: number) =>
    eksToken(keys, { cluster, region: "eu-west-1", now: new Date(Date.now() - ageMs) })
      .then((t) => `Bearer ${t}`);
  equal(await eksTokenProblem(await at(REAL_KEY, CLUSTER, 0), check), null);
  equal(await eksTokenProblem(await at(REAL_KEY, CLUSTER, LIFETIME_MS + 2000), check), "expired");
  equal(await eksTokenProblem(await at(REAL_KEY, "other", 0), check), "bad signature");
  const other = { accessKeyId: REAL_KEY.accessKeyId, secretAccessKey: "guessed" };
  equal(await eksTokenProblem(await at(other, CLUSTER, 0), check), "bad signature");
  equal(await eksTokenProblem("Bearer some-service-account-token", check), "not an EKS token");
});
