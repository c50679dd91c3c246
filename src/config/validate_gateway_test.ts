// The gateway and defaults blocks: what an empty config means, durations, sizes, limits and
// listen addresses.

import { deepStrictEqual, equal } from "node:assert/strict";
import { loadConfigText } from "./load.ts";
import { defaultDefaults, defaultGateway } from "./validate.ts";
import { assertProblem, HEAD, lineOf, problemsOf } from "./_testing.ts";
import { PROTOCOLS } from "../protocols/registry.ts";

Deno.test("loadConfigText() without gateway or defaults blocks fails closed", async () => {
  const config = await loadConfigText("t.hcl", HEAD, { protocols: PROTOCOLS });
  equal(config.defaults.noMatch, "deny");
  equal(config.defaults.unknownHost, "deny");
  equal(config.defaults.humanOnTimeout, "deny");
  equal(config.defaults.llmFailMode, "closed");
  equal(config.defaults.misplacedPlaceholder, "deny");
  equal(config.gateway.mode, "enforce");
  deepStrictEqual(config.defaults, defaultDefaults());
  deepStrictEqual(config.gateway, defaultGateway());
  equal(config.rules.length, 0);
  equal(config.endpoints.size, 0);
});

Deno.test("loadConfigText() keeps defaults for fields an empty block leaves out", async () => {
  const config = await loadConfigText("t.hcl", `${HEAD}gateway {\n}\ndefaults {\n}\n`, {
    protocols: PROTOCOLS,
  });
  deepStrictEqual(config.defaults, defaultDefaults());
  deepStrictEqual(config.gateway, defaultGateway());
});

Deno.test("loadConfigText() reads durations as seconds or with ms/s/m/h units", async () => {
  const cases: [string, number][] = [
    ["30", 30_000],
    ['"30s"', 30_000],
    ['"10m"', 600_000],
    ['"500ms"', 500],
    ['"1h"', 3_600_000],
    ["0.5", 500],
  ];
  for (const [written, ms] of cases) {
    const config = await loadConfigText(
      "t.hcl",
      `${HEAD}defaults {\n  human_timeout = ${written}\n  llm_cache_ttl = ${written}\n}\n`,
      { protocols: PROTOCOLS },
    );
    equal(config.defaults.humanTimeoutMs, ms, written);
    equal(config.defaults.llmCacheTtlMs, ms, written);
  }
});

Deno.test("loadConfigText() rejects malformed durations on their line", async () => {
  for (const bad of ['"ten minutes"', '"-5s"', "-1", '"1w"', "true", '"10 m s"', "[30]"]) {
    const text = `${HEAD}defaults {\n  llm_cache_ttl = ${bad}\n}\n`;
    assertProblem(await problemsOf(text), 3, /'llm_cache_ttl' must be a duration/);
  }
});

Deno.test("loadConfigText() reads sizes as bytes or with KiB/MiB units", async () => {
  const cases: [string, number][] = [
    ["1048576", 1_048_576],
    ['"1MiB"', 1_048_576],
    ['"64KiB"', 65_536],
    ['"2MB"', 2_000_000],
  ];
  for (const [written, bytes] of cases) {
    const config = await loadConfigText(
      "t.hcl",
      `${HEAD}gateway {\n  limits {\n    body_buffer = ${written}\n  }\n}\n`,
      { protocols: PROTOCOLS },
    );
    equal(config.gateway.limits.bodyBufferBytes, bytes, written);
  }
});

Deno.test("loadConfigText() rejects malformed sizes on their line", async () => {
  for (const bad of ['"lots"', '"1.5MiB"', "-1", "1.5", '"1 parsec"']) {
    const text = `${HEAD}gateway {\n  limits {\n    body_buffer = ${bad}\n  }\n}\n`;
    assertProblem(await problemsOf(text), 4, /'body_buffer' must be a size/);
  }
});

Deno.test("loadConfigText() reads gateway limits and keeps defaults for those left out", async () => {
  const config = await loadConfigText(
    "t.hcl",
    `${HEAD}gateway {\n  limits {\n    receipt_queue  = 5\n    header_timeout = "2s"\n    idle_timeout = "1m"\n    receipt_commit_interval = "5ms"\n    receipt_durability = "all"\n    max_connections_per_agent = 3\n    max_unauthenticated_connections = 4\n    handshake_timeout = "3s"\n  }\n}\n`,
    { protocols: PROTOCOLS },
  );
  deepStrictEqual(config.gateway.limits, {
    bodyBufferBytes: defaultGateway().limits.bodyBufferBytes,
    receiptQueue: 5,
    receiptCommitIntervalMs: 5,
    receiptDurability: "all",
    maxConnectionsPerAgent: 3,
    maxUnauthenticatedConnections: 4,
    handshakeTimeoutMs: 3000,
    headerTimeoutMs: 2000,
    idleTimeoutMs: 60_000,
    upstreamTimeoutMs: defaultGateway().limits.upstreamTimeoutMs,
  });
});

Deno.test("loadConfigText() refuses bad durability and connection limits on their lines", async () => {
  const text = (field: string, value: string) =>
    `${HEAD}gateway {\n  limits {\n    ${field} = ${value}\n  }\n}\n`;
  assertProblem(
    await problemsOf(text("receipt_durability", '"some"')),
    4,
    /receipt_durability/,
  );
  assertProblem(
    await problemsOf(text("max_connections_per_agent", "0")),
    4,
    /'max_connections_per_agent' must be at least 1/,
  );
  assertProblem(
    await problemsOf(text("max_unauthenticated_connections", "0")),
    4,
    /'max_unauthenticated_connections' must be at least 1/,
  );
});

Deno.test("loadConfigText() accepts host:port listen addresses and rejects others", async () => {
  for (const good of ["127.0.0.1:8080", "localhost:1", "[::1]:8443", "0.0.0.0:65535"]) {
    const config = await loadConfigText(
      "t.hcl",
      `${HEAD}gateway {\n  proxy_listen = "${good}"\n}\n`,
      { protocols: PROTOCOLS },
    );
    equal(config.gateway.proxyListen, good);
  }
  for (const bad of ["8080", ":8080", "127.0.0.1", "127.0.0.1:65536", "host:port", "a b:1"]) {
    const text = `${HEAD}gateway {\n  proxy_listen = "${bad}"\n}\n`;
    assertProblem(await problemsOf(text), 3, /'proxy_listen' must be host:port/);
  }
});

Deno.test("loadConfigText() reports a second gateway block against its own line", async () => {
  const text = `${HEAD}gateway {\n}\n\ngateway {\n}\n`;
  assertProblem(await problemsOf(text), 5, /gateway: defined more than once \(first at t\.hcl:2\)/);
});

Deno.test("loadConfigText() reports a repeated limits block, a receipt queue below 1 and a long commit interval", async () => {
  const text = `${HEAD}gateway {
  limits {
    receipt_queue = 0
    receipt_commit_interval = "2s"
  }
  limits {
    body_buffer = "lots"
  }
}
`;
  const problems = await problemsOf(text);
  assertProblem(problems, lineOf(text, "receipt_queue"), /'receipt_queue' must be at least 1/);
  assertProblem(
    problems,
    lineOf(text, "receipt_commit_interval"),
    /'receipt_commit_interval' must be at most 1s/,
  );
  assertProblem(problems, lineOf(text, "limits {", 1), /^gateway\.limits: defined more than once/);
  // The second block's own mistakes point into the second block.
  assertProblem(problems, lineOf(text, "body_buffer"), /'body_buffer' must be a size/);
});
