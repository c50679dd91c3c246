// `clawpatrol kubeconfig`, and the KUBECONFIG that `env` and `run` set, end to end as real
// subprocesses against an init'ed directory; kubectl itself reads the files it writes.
import { deepEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import { cli, withTempDir } from "./_helpers.ts";
import {
  addAgent,
  exists,
  hasKubectl,
  kubectl,
  lines,
  modeOf,
  readKubeconfig,
  setUp,
} from "./_kubeconfig_fixture.ts";

Deno.test("kubeconfig writes a 0600 file with a context per kubernetes endpoint the profile reaches", async () => {
  await withTempDir(async (dir) => {
    const state = await setUp(dir);
    const token = await addAgent(dir, "kb", "kube");
    const r = await cli(["kubeconfig", "--agent", "kb"], {
      cwd: dir,
      env: { CLAWPATROL_AGENT_TOKEN: token },
    });
    equal(r.code, 0, r.stderr);
    equal(r.stderr, "");
    const path = join(state, "kubeconfig-kb.yaml");
    equal(lines(r.stdout).at(-1), path, "the path is the last line of stdout");
    equal(await modeOf(path), 0o600);

    const kc = await readKubeconfig(path);
    const caData = btoa(await Deno.readTextFile(join(state, "ca.pem")));
    // The profile's own endpoints first, then its credentials'; k8s-other is in neither.
    deepEqual(kc.clusters, [
      {
        name: "clawpatrol-k8s-dev",
        cluster: {
          server: "https://k8s-dev.internal:6443",
          "certificate-authority-data": caData,
          "proxy-url": `http://kb:${token}@127.0.0.1:18080`,
        },
      },
      {
        name: "clawpatrol-k8s-prod",
        cluster: { server: "https://127.0.0.1:16443", "certificate-authority-data": caData },
      },
    ]);
    deepEqual(kc.users, [
      { name: "clawpatrol-k8s-dev", user: { token } },
      { name: "clawpatrol-k8s-prod", user: { token } },
    ]);
    deepEqual(kc.contexts.map((c) => [c.name, c.context.cluster, c.context.user]), [
      ["clawpatrol-k8s-dev", "clawpatrol-k8s-dev", "clawpatrol-k8s-dev"],
      ["clawpatrol-k8s-prod", "clawpatrol-k8s-prod", "clawpatrol-k8s-prod"],
    ]);
    equal(kc["current-context"], "clawpatrol-k8s-dev");

    if (hasKubectl) {
      const view = await kubectl([
        "config",
        "view",
        "--kubeconfig",
        path,
        "--raw",
        "-o",
        "jsonpath={.clusters[0].cluster.server}",
      ]);
      equal(view.code, 0, view.stderr);
      equal(view.stdout, "https://k8s-dev.internal:6443");
      const current = await kubectl(["config", "current-context", "--kubeconfig", path]);
      equal(current.stdout.trim(), "clawpatrol-k8s-dev");
    }
  });
});

Deno.test("kubeconfig --endpoint --output --token-stdin writes one context and narrows an existing file to 0600", async () => {
  await withTempDir(async (dir) => {
    const state = await setUp(dir);
    const token = await addAgent(dir, "kb", "kube");
    const out = join(await Deno.realPath(dir), "kb.yaml");
    await Deno.writeTextFile(out, "old and world-readable\n", { mode: 0o644 });
    await Deno.chmod(out, 0o644);
    const r = await cli(
      [
        "kubeconfig",
        "--agent",
        "kb",
        "--endpoint",
        "k8s-prod",
        "--output",
        "kb.yaml",
        "--token-stdin",
      ],
      // stdin is the explicit choice: a stale variable does not override it.
      { cwd: dir, input: `${token}\n`, env: { CLAWPATROL_AGENT_TOKEN: "cpat_stale" } },
    );
    equal(r.code, 0, r.stderr);
    equal(lines(r.stdout).at(-1), out);
    equal(await modeOf(out), 0o600);
    const kc = await readKubeconfig(out);
    deepEqual(kc.clusters.map((c) => [c.name, c.cluster.server]), [
      ["clawpatrol-k8s-prod", "https://127.0.0.1:16443"],
    ]);
    equal(kc.clusters[0].cluster["proxy-url"], undefined);
    equal(kc.users[0].user.token, token);
    equal(kc["current-context"], "clawpatrol-k8s-prod");
    equal(await exists(join(state, "kubeconfig-kb.yaml")), false, "nothing at the default path");
  });
});

Deno.test("kubeconfig with a wrong token exits 1, writes no file and never echoes the token", async () => {
  await withTempDir(async (dir) => {
    const state = await setUp(dir);
    const token = await addAgent(dir, "kb", "kube");
    const wrong = "cpat_" + "W".repeat(43);
    const viaEnv = await cli(["kubeconfig", "--agent", "kb"], {
      cwd: dir,
      env: { CLAWPATROL_AGENT_TOKEN: wrong },
    });
    equal(viaEnv.code, 1);
    deepEqual(lines(viaEnv.stderr), ["Error: Token does not match agent 'kb'"]);
    equal(viaEnv.stdout, "");
    const viaStdin = await cli(["kubeconfig", "--agent", "kb", "--token-stdin"], {
      cwd: dir,
      input: `${token.slice(0, -1)}\n`,
    });
    equal(viaStdin.code, 1);
    equal(viaStdin.stderr.includes(token.slice(0, -1)), false);
    equal(await exists(join(state, "kubeconfig-kb.yaml")), false);

    // Never on argv: it would show in ps.
    const argv = await cli(["kubeconfig", "--agent", "kb", "--token", token], { cwd: dir });
    equal(argv.code, 2);
    match(argv.stderr, /^Usage error: kubeconfig takes no --token/);
    equal(argv.stderr.includes(token), false);
    const none = await cli(["kubeconfig", "--agent", "kb"], { cwd: dir }); // stdin: /dev/null
    equal(none.code, 2);
    match(none.stderr, /no token for agent 'kb': set CLAWPATROL_AGENT_TOKEN or pass --token-stdin/);
    equal(await exists(join(state, "kubeconfig-kb.yaml")), false);
  });
});

Deno.test("kubeconfig exits 2 with one line for an endpoint that is unknown, not kubernetes or outside the profile", async () => {
  await withTempDir(async (dir) => {
    const state = await setUp(dir);
    const token = await addAgent(dir, "kb", "kube");
    const plainToken = await addAgent(dir, "plain", "default");
    const env = { CLAWPATROL_AGENT_TOKEN: token };
    const cases: [string[], RegExp][] = [
      [
        ["--endpoint", "nope"],
        /^Usage error: unknown endpoint 'nope': the config's kubernetes endpoints are 'k8s-prod', 'k8s-dev', 'k8s-other', 'k8s-lan'$/,
      ],
      [["--endpoint", "github"], /^Usage error: endpoint 'github' is https, not kubernetes$/],
      [
        ["--endpoint", "k8s-other"],
        /^Usage error: endpoint 'k8s-other' is not reachable by agent 'kb': profile 'kube' does not include it$/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await cli(["kubeconfig", "--agent", "kb", ...args], { cwd: dir, env });
      equal(r.code, 2, args.join(" "));
      equal(lines(r.stderr).length, 1, r.stderr);
      match(lines(r.stderr)[0], message);
      equal(r.stderr.includes(token), false);
      equal(r.stdout, "");
    }
    const noneReached = await cli(["kubeconfig", "--agent", "plain"], {
      cwd: dir,
      env: { CLAWPATROL_AGENT_TOKEN: plainToken },
    });
    equal(noneReached.code, 2);
    deepEqual(lines(noneReached.stderr), [
      "Usage error: agent 'plain' reaches no kubernetes endpoint: profile 'default' includes none",
    ]);
    equal(await exists(join(state, "kubeconfig-kb.yaml")), false);
    equal(await exists(join(state, "kubeconfig-plain.yaml")), false);
    const noAgent = await cli(["kubeconfig"], { cwd: dir, env });
    equal(noAgent.code, 2);
    match(noAgent.stderr, /kubeconfig needs --agent NAME/);
  });
});
