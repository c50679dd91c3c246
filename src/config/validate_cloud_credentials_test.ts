import { deepStrictEqual } from "node:assert/strict";
import { loadConfigText } from "./load.ts";
import { assertProblem, HEAD, lineOf, problemsOf } from "./_testing.ts";
import { PROTOCOLS } from "../protocols/registry.ts";
import type { KubernetesEndpoint } from "../protocols/kubernetes/mod.ts";

const ENDPOINTS = `${HEAD}endpoint "aws" "account" {
  hosts = ["*.amazonaws.com"]
}
endpoint "kubernetes" "eks" {
  server      = "https://eks.example:443"
  eks_cluster = "prod"
}
endpoint "https" "api" {
  hosts = ["api.test"]
}
`;

Deno.test("an aws_credential binds to aws endpoints and EKS clusters, with its settings", async () => {
  const config = await loadConfigText(
    "t.hcl",
    `${ENDPOINTS}credential "aws_credential" "aws_prod" {
  endpoints     = [aws.account, kubernetes.eks]
  access_key_id = "AKIAPLACEHOLDER00001"
  region        = "eu-west-1"
  token_refresh = "5m"
}
`,
    { protocols: PROTOCOLS },
  );
  const c = config.credentials.get("aws_credential.aws_prod")!;
  deepStrictEqual(c.endpoints, ["account", "eks"]);
  deepStrictEqual(c.settings.region, "eu-west-1");
  deepStrictEqual((config.endpoints.get("eks") as KubernetesEndpoint).eksCluster, "prod");
});

Deno.test("cloud credential mistakes are reported on their lines", async () => {
  const text = `${ENDPOINTS}endpoint "kubernetes" "bad" {
  server      = "https://bad.example"
  eks_cluster = "no spaces allowed"
}
credential "aws_credential" "on_https" {
  endpoint = https.api
}
credential "aws_credential" "bad_settings" {
  endpoint      = aws.account
  access_key_id = "lower/case"
  token_refresh = "1h"
}
credential "aws_credential" "bad_role" {
  endpoint          = aws.account
  assume_role       = "arn:aws:iam::12:user/me"
  role_session_name = "a b"
}
credential "oauth_refresh" "no_url" {
  endpoint = https.api
}
credential "oauth_refresh" "plain_http" {
  endpoint    = https.api
  token_url   = "http://tokens.example/token"
  client_auth = "header"
}
credential "gcp_service_account" "on_aws" {
  endpoint = aws.account
}
`;
  const problems = await problemsOf(text);
  assertProblem(
    problems,
    lineOf(text, "no spaces allowed"),
    /'eks_cluster' must be an EKS cluster name/,
  );
  assertProblem(
    problems,
    lineOf(text, "endpoint = https.api"),
    /must refer to aws\.\* or kubernetes\.\*/,
  );
  assertProblem(problems, lineOf(text, "lower/case"), /'access_key_id' must be 16 to 128/);
  assertProblem(
    problems,
    lineOf(text, `token_refresh = "1h"`),
    /'token_refresh' must be .* under 15m/,
  );
  assertProblem(
    problems,
    lineOf(text, `"oauth_refresh" "no_url"`),
    /missing required attribute 'token_url'/,
  );
  assertProblem(
    problems,
    lineOf(text, "http://tokens.example"),
    /'token_url' must be an https:\/\/ URL/,
  );
  assertProblem(
    problems,
    lineOf(text, `client_auth = "header"`),
    /'client_auth' must be "form" or "basic"/,
  );
  assertProblem(
    problems,
    lineOf(text, "endpoint = aws.account"),
    /must refer to https\.\* or kubernetes\.\*/,
  );
  assertProblem(
    problems,
    lineOf(text, "arn:aws:iam::12:user/me"),
    /'assume_role' must be an IAM role ARN/,
  );
  assertProblem(
    problems,
    lineOf(text, `role_session_name = "a b"`),
    /'role_session_name' must be 2 to 64/,
  );
});
