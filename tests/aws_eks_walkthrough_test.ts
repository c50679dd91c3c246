/**
 * The README's AWS and EKS walkthrough, through the real CLI: `clawpatrol run` gives the agent
 * its environment (the placeholder key pair, the proxy, the gateway CA, a kubeconfig naming the
 * gateway's listener with the agent's own token), and under it the real `aws` CLI and kubectl
 * reach a fake AWS and a fake EKS API server that verify every signature and token with the real
 * key, which nothing the agent can see holds.
 *
 * @module
 */

import "reflect-metadata";
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { REAL_KEY, startFakeAws } from "./_aws_fake.ts";
import { eksTokenProblem } from "./_eks_token.ts";
import { startFakeApiServer } from "./_k8s_apiserver.ts";
import { kubectlAvailable } from "./_k8s_fixture.ts";
import { startTestGateway } from "./_gateway.ts";
import { cli, closedPort, REPO } from "./_helpers.ts";

Deno.test({
  name: "under clawpatrol run, aws and kubectl work against AWS and EKS with no real key in reach",
  ignore: !kubectlAvailable,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const aws = await startFakeAws();
    const refused: string[] = [];
    const api = await startFakeApiServer({
      authenticate: async (authorization) => {
        const problem = await eksTokenProblem(authorization, {
          cluster: "prod",
          keys: REAL_KEY,
          lifetimeMs: 15 * 60_000,
        });
        if (problem) refused.push(problem);
        return problem === null;
      },
    });
    const dir = await Deno.makeTempDir({ prefix: "clawpatrol_walkthrough_" });
    try {
      await Deno.writeTextFile(join(dir, "aws-ca.pem"), aws.caPem);
      await Deno.writeTextFile(join(dir, "eks-ca.pem"), api.caPem);
      // Fixed free ports: run reads the proxy and listener addresses from the config.
      const config = `schema_version = 1
gateway {
  state_dir    = "./state"
  proxy_listen = "127.0.0.1:${closedPort()}"
  admin_listen = "127.0.0.1:0"
}
endpoint "aws" "account" {
  hosts    = ["*.amazonaws.com"]
  upstream = "127.0.0.1:${aws.port}"
  ca_cert  = "<<file:aws-ca.pem>>"
}
endpoint "kubernetes" "eks" {
  server      = "${api.url}"
  listen      = "127.0.0.1:${closedPort()}"
  ca_cert     = "<<file:eks-ca.pem>>"
  eks_cluster = "prod"
}
credential "aws_credential" "aws_prod" {
  endpoints = [aws.account, kubernetes.eks]
}
profile "cloud" {
  credentials = [aws_credential.aws_prod]
}
approver "human_approver" "ops" {
  timeout = "10m"
}
rule "k8s-reads" {
  endpoint  = kubernetes.eks
  condition = "k8s.verb in ['get', 'list', 'watch'] && k8s.resource != 'secrets'"
  verdict   = "allow"
}
${await Deno.readTextFile(join(REPO, "rules", "aws.hcl"))}
`;
      const { gateway, token } = await startTestGateway(
        dir,
        config,
        [
          ["aws_prod", "access_key_id", REAL_KEY.accessKeyId],
          ["aws_prod", "secret_access_key", REAL_KEY.secretAccessKey],
        ],
        { name: "bot", profile: "cloud" },
      );
      const home = join(dir, "home");
      await Deno.mkdir(home);
      // Only what is not the agent's business: a region, and no AWS setup of the developer's.
      const env = {
        HOME: home,
        AWS_DEFAULT_REGION: "us-east-1",
        AWS_CONFIG_FILE: join(home, "config"),
        AWS_SHARED_CREDENTIALS_FILE: join(home, "credentials"),
        AWS_EC2_METADATA_DISABLED: "true",
        AWS_MAX_ATTEMPTS: "1",
        AWS_PAGER: "",
      };
      const run = (command: string[]) =>
        cli(["run", "--agent", "bot", "--token", token, "--", ...command], {
          cwd: dir,
          env,
          timeoutMs: 60_000,
        });
      try {
        const identity = await run(["aws", "sts", "get-caller-identity", "--output", "text"]);
        equal(identity.code, 0, identity.stderr);
        match(identity.stdout, /arn:aws:iam::123456789012:user\/agent-bot/);
        const buckets = await run(["aws", "s3", "ls"]);
        equal(buckets.code, 0, buckets.stderr);
        match(buckets.stdout, /bucket/);
        const user = await run(["aws", "iam", "create-user", "--user-name", "backdoor"]);
        ok(user.code !== 0);
        match(user.stderr, /denied by clawpatrol: IAM changes are not made by agents/);

        const pods = await run(["kubectl", "get", "pods", "-n", "default"]);
        equal(pods.code, 0, pods.stderr);
        match(pods.stdout, /web-1/);
        equal(refused.length, 0, refused.join(", "));
        ok(api.requests.at(-1)!.authorization!.startsWith("Bearer k8s-aws-v1."));

        // Everything the agent can reach: its environment and the kubeconfig it was given.
        const seen = await run(["sh", "-c", 'env; cat "$KUBECONFIG"']);
        equal(seen.code, 0, seen.stderr);
        ok(seen.stdout.includes("AWS_SECRET_ACCESS_KEY={{aws_prod}}"), seen.stdout);
        for (const secret of [REAL_KEY.accessKeyId, REAL_KEY.secretAccessKey, "k8s-aws-v1."]) {
          ok(!seen.stdout.includes(secret), `the agent can read ${secret}`);
        }
        ok(aws.requests.every((r) => r.verified && r.keyId === REAL_KEY.accessKeyId));
      } finally {
        await gateway.stop();
      }
    } finally {
      await api.close();
      await aws.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
