/**
 * A gateway with an `aws` endpoint in front of the fake AWS (tests/_aws_fake.ts), the starter
 * pack rules/aws.hcl, agent `bot` holding `aws_credential.aws_prod` (the real key in the vault),
 * and a runner for the real `aws` CLI with only the agent's environment: the proxy, the gateway
 * CA and the placeholder key pair `clawpatrol env` gives it.
 *
 * @module
 */

import "reflect-metadata";
import { join } from "node:path";
import { queryReceipts } from "../src/audit/mod.ts";
import type { Receipt } from "../src/core/mod.ts";
import { loadConfig } from "../src/config/mod.ts";
import type { Gateway, MemoryLogger } from "../src/gateway/mod.ts";
import { PROTOCOLS } from "../src/protocols/registry.ts";
import { placeholderVariables } from "../src/cli/_agent_env.ts";
import { CA_CERT_FILE } from "../src/tls/mod.ts";
import { type FakeAws, REAL_KEY, startFakeAws } from "./_aws_fake.ts";
import { gatewayHeader, type Secrets, startTestGateway } from "./_gateway.ts";
import { REPO } from "./_helpers.ts";

/** What a test gets. */
export interface AwsFixture {
  dir: string;
  aws: FakeAws;
  gateway: Gateway;
  log: MemoryLogger;
  /** The agent's variables from `clawpatrol env` (placeholders, proxy, CA). */
  env: Record<string, string>;
  /** Runs the real aws CLI with the agent's environment (and `extra` on top). */
  run(args: string[], extra?: Record<string, string>): Promise<{ code: number; output: string }>;
  receipts(): Promise<Receipt[]>;
}

/** Uploads to the test bucket are allowed outright; the pack would hold them for a human. */
const TEST_RULES = `
approver "human_approver" "ops" {
  timeout = "10m"
}
rule "uploads-to-bucket" {
  endpoint  = aws.account
  priority  = 120
  condition = "aws.service == 's3' && aws.bucket == 'bucket' && aws.action in ['PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload']"
  verdict   = "allow"
}
`;

/** Options for {@linkcode withAwsGateway}. */
export interface AwsFixtureOptions {
  /** Vault rows. @default {the real key in slots access_key_id and secret_access_key} */
  secrets?: Secrets;
  /** Lines added to `credential "aws_credential" "aws_prod" { … }`. */
  credentialSettings?: string;
  /** Set on the fake before the gateway starts. */
  roleLifetimeS?: number;
}

/** Runs `fn` against a fresh fake AWS and gateway; tears both down after. */
export async function withAwsGateway(
  options: AwsFixtureOptions,
  fn: (fx: AwsFixture) => Promise<void>,
): Promise<void> {
  const aws = await startFakeAws();
  if (options.roleLifetimeS !== undefined) aws.roleLifetimeS = options.roleLifetimeS;
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_aws_" });
  try {
    await Deno.writeTextFile(join(dir, "aws-ca.pem"), aws.caPem);
    const pack = await Deno.readTextFile(join(REPO, "rules", "aws.hcl"));
    const text = `${gatewayHeader()}
endpoint "aws" "account" {
  hosts    = ["*.amazonaws.com"]
  upstream = "127.0.0.1:${aws.port}"
  ca_cert  = "<<file:aws-ca.pem>>"
}
credential "aws_credential" "aws_prod" {
  endpoint = aws.account
${options.credentialSettings ?? ""}
}
profile "bots" {
  credentials = [aws_credential.aws_prod]
}
${TEST_RULES}
${pack}
`;
    const secrets = options.secrets ?? [
      ["aws_prod", "access_key_id", REAL_KEY.accessKeyId],
      ["aws_prod", "secret_access_key", REAL_KEY.secretAccessKey],
    ];
    const { gateway, log, token } = await startTestGateway(dir, text, secrets, {
      name: "bot",
      profile: "bots",
    });
    try {
      const config = await loadConfig(join(dir, "gateway.hcl"), { protocols: PROTOCOLS });
      const proxy = `http://bot:${token}@127.0.0.1:${gateway.proxyAddress.port}`;
      const home = join(dir, "home");
      await Deno.mkdir(home);
      const env: Record<string, string> = {
        ...Object.fromEntries(placeholderVariables(config, config.profiles.get("bots")!, [])),
        HTTPS_PROXY: proxy,
        AWS_CA_BUNDLE: join(dir, "state", CA_CERT_FILE),
        AWS_DEFAULT_REGION: "us-east-1",
        // Nothing from the developer's own AWS setup.
        AWS_CONFIG_FILE: join(home, "config"),
        AWS_SHARED_CREDENTIALS_FILE: join(home, "credentials"),
        AWS_MAX_ATTEMPTS: "1",
        AWS_EC2_METADATA_DISABLED: "true",
        AWS_PAGER: "",
      };
      const fx: AwsFixture = {
        dir,
        aws,
        gateway,
        log,
        env,
        run: async (args, extra = {}) => {
          const out = await new Deno.Command("aws", {
            args,
            clearEnv: true,
            env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: home, ...env, ...extra },
            cwd: home,
            stdin: "null",
            stdout: "piped",
            stderr: "piped",
            signal: AbortSignal.timeout(60_000),
          }).output();
          const decode = (b: Uint8Array) => new TextDecoder().decode(b);
          return { code: out.code, output: decode(out.stdout) + decode(out.stderr) };
        },
        receipts: async () => {
          await gateway.settled();
          return queryReceipts(join(dir, "state", "receipts.db"));
        },
      };
      await fn(fx);
    } finally {
      await gateway.stop();
    }
  } finally {
    await aws.close();
    await Deno.remove(dir, { recursive: true });
  }
}
