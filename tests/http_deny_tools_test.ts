/**
 * Real developer tools through the forward proxy, denied by a rule: each must show the deny
 * reason (and the receipt, where it shows a body at all) in its own output. git, npm, pip and the
 * AWS CLI each read a different part of an error response (src/protocols/http/_client_reply.ts).
 * Every tool is pointed at the local gateway only (proxy, registry, index and endpoint URLs), with
 * HOME and caches in a temp dir, so nothing leaves loopback.
 *
 * @module
 */

import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { type ProxyFixture, withProxy } from "./_proxy_fixture.ts";

/** The reason of the test's deny rule: distinctive, and with characters XML must escape. */
const REASON = "tool fetches are blocked here <&> ask an operator";

const DENY_ALL = `
rule "tools-deny" {
  endpoint  = https.api
  condition = "true"
  verdict   = "deny"
  reason    = "${REASON}"
}
`;

/** A tool's exit code and its stdout and stderr together. */
interface ToolRun {
  code: number;
  output: string;
}

/**
 * Runs a tool with only PATH, a temp HOME and `env` (no proxy or CA settings from the developer's
 * shell); killed after 60 s.
 */
async function tool(
  fx: ProxyFixture,
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<ToolRun> {
  const home = join(fx.dir, "home");
  await Deno.mkdir(home, { recursive: true });
  const out = await new Deno.Command(cmd, {
    args,
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: home, ...env },
    cwd: home,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, output: decode(out.stdout) + decode(out.stderr) };
}

/** The receipt id the tool showed, which must be a committed deny by `tools-deny`. */
async function assertDenyReceipt(fx: ProxyFixture, output: string): Promise<void> {
  const id = output.match(/rcpt_[A-Za-z0-9_-]+/)?.[0];
  ok(id, `no receipt id in: ${output}`);
  const receipt = (await fx.receipts()).find((r) => r.id === id);
  ok(receipt, `no receipt ${id}`);
  equal(receipt.verdict, "deny");
  equal(receipt.rule, "tools-deny");
}

function awsEnv(fx: ProxyFixture): Record<string, string> {
  const home = join(fx.dir, "home");
  return {
    AWS_CA_BUNDLE: fx.caFile,
    HTTPS_PROXY: fx.proxyUrl,
    // Fake credentials: the request is signed, then denied before it could go anywhere.
    AWS_ACCESS_KEY_ID: "AKIAIOSFODNN7EXAMPLE",
    AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    AWS_DEFAULT_REGION: "us-east-1",
    AWS_CONFIG_FILE: join(home, "aws-config"),
    AWS_SHARED_CREDENTIALS_FILE: join(home, "aws-credentials"),
    AWS_MAX_ATTEMPTS: "1",
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_PAGER: "",
  };
}

Deno.test("git ls-remote shows a denied request's reason and receipt as remote: lines", async () => {
  await withProxy({ rules: DENY_ALL }, async (fx) => {
    const run = await tool(fx, "git", ["ls-remote", "https://api.test/repo.git"], {
      GIT_SSL_CAINFO: fx.caFile,
      https_proxy: fx.proxyUrl,
      GIT_TERMINAL_PROMPT: "0",
      GIT_CONFIG_NOSYSTEM: "1",
    });
    equal(run.code, 128, run.output);
    ok(run.output.includes(`remote: denied by clawpatrol: ${REASON}\n`), run.output);
    ok(run.output.includes("remote: rule: tools-deny\n"), run.output);
    match(run.output, /remote: receipt: rcpt_/);
    await assertDenyReceipt(fx, run.output);
  });
});

Deno.test("npm view shows a denied request's reason, receipt and rule in its E403 line", async () => {
  await withProxy({ rules: DENY_ALL }, async (fx) => {
    const home = join(fx.dir, "home");
    const run = await tool(fx, "npm", [
      ...["view", "left-pad", "--registry", "https://api.test/"],
      ...["--proxy", fx.proxyUrl, "--https-proxy", fx.proxyUrl, "--cafile", fx.caFile],
      ...["--cache", join(home, "npm-cache"), "--userconfig", join(home, "npmrc")],
      ...["--fetch-retries=0", "--no-update-notifier"],
    ]);
    equal(run.code, 1, run.output);
    match(
      run.output,
      new RegExp(
        `npm error 403 403 Forbidden - GET https://api\\.test/left-pad - denied by clawpatrol: ` +
          `${REASON} \\(receipt rcpt_[\\w-]+, rule tools-deny\\)`,
      ),
    );
    await assertDenyReceipt(fx, run.output);
  });
});

/** pip's options that keep it on the local gateway, without cache, config or retries. */
function pipArgs(fx: ProxyFixture): string[] {
  return [
    ...["--no-deps", "--proxy", fx.proxyUrl, "--cert", fx.caFile, "--no-cache-dir"],
    ...["--disable-pip-version-check", "--retries", "0", "-d", join(fx.dir, "home", "dl")],
  ];
}

Deno.test("pip download of a denied file shows the reason and receipt from the status line", async () => {
  await withProxy({ rules: DENY_ALL }, async (fx) => {
    const run = await tool(
      fx,
      "pip",
      ["download", "https://api.test/files/left_pad-1.0.tar.gz", ...pipArgs(fx)],
      { PIP_CONFIG_FILE: "/dev/null" },
    );
    equal(run.code, 1, run.output);
    ok(
      run.output.includes(`403 Client Error: denied by clawpatrol: ${REASON} (receipt`),
      run.output,
    );
    await assertDenyReceipt(fx, run.output);
  });
});

Deno.test("pip download -vv shows why a denied index page was skipped", async () => {
  await withProxy({ rules: DENY_ALL }, async (fx) => {
    const run = await tool(
      fx,
      "pip",
      ["download", "left-pad", "--index-url", "https://api.test/simple/", "-vv", ...pipArgs(fx)],
      { PIP_CONFIG_FILE: "/dev/null" },
    );
    equal(run.code, 1, run.output);
    ok(
      run.output.includes(`403 Client Error: denied by clawpatrol: ${REASON} (receipt`),
      run.output,
    );
    await assertDenyReceipt(fx, run.output);
  });
});

Deno.test("aws s3 ls shows AccessDenied with the reason and receipt (REST-XML error)", async () => {
  await withProxy({ rules: DENY_ALL }, async (fx) => {
    const run = await tool(
      fx,
      "aws",
      ["s3", "ls", "s3://bucket", "--endpoint-url", "https://api.test"],
      awsEnv(fx),
    );
    equal(run.code, 255, run.output);
    match(
      run.output,
      new RegExp(
        `An error occurred \\(AccessDenied\\) when calling the ListObjectsV2 operation: ` +
          `denied by clawpatrol: ${REASON} \\(receipt rcpt_[\\w-]+, rule tools-deny\\)`,
      ),
    );
    await assertDenyReceipt(fx, run.output);
  });
});

Deno.test("aws sts get-caller-identity shows AccessDenied with the reason (query error)", async () => {
  await withProxy({ rules: DENY_ALL }, async (fx) => {
    const run = await tool(
      fx,
      "aws",
      ["sts", "get-caller-identity", "--endpoint-url", "https://api.test"],
      awsEnv(fx),
    );
    equal(run.code, 255, run.output);
    ok(
      run.output.includes(
        `An error occurred (AccessDenied) when calling the GetCallerIdentity operation: ` +
          `denied by clawpatrol: ${REASON}`,
      ),
      run.output,
    );
    await assertDenyReceipt(fx, run.output);
  });
});

Deno.test("aws dynamodb list-tables shows AccessDeniedException with the reason (JSON error)", async () => {
  await withProxy({ rules: DENY_ALL }, async (fx) => {
    const run = await tool(
      fx,
      "aws",
      ["dynamodb", "list-tables", "--endpoint-url", "https://api.test", "--region", "us-east-1"],
      awsEnv(fx),
    );
    equal(run.code, 255, run.output);
    match(
      run.output,
      new RegExp(
        `An error occurred \\(AccessDeniedException\\) when calling the ListTables operation: ` +
          `denied by clawpatrol: ${REASON} \\(receipt rcpt_[\\w-]+, rule tools-deny\\)`,
      ),
    );
    await assertDenyReceipt(fx, run.output);
  });
});
