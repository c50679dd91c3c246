// `gateway { receipts { … } }`: defaults, and every problem at its line.

import { deepStrictEqual } from "node:assert/strict";
import { loadConfigText } from "./load.ts";
import { assertProblem, HEAD, lineOf, problemsOf } from "./_testing.ts";
import { PROTOCOLS } from "../protocols/registry.ts";

Deno.test("receipts keep a body sample, and are kept forever, unless told", async () => {
  const config = await loadConfigText("t.hcl", HEAD, { protocols: PROTOCOLS });
  deepStrictEqual(config.gateway.receipts, {
    bodies: "sample",
    sampleBytes: 4096,
    keepMs: null,
    anchorEveryMs: 600_000,
    anchorFile: null,
    anchorUrl: null,
  });
  const told = await loadConfigText(
    "t.hcl",
    `${HEAD}gateway {\n  receipts {\n    bodies = "none"\n    keep   = "90d"\n` +
      `    anchor_every = "off"\n    anchor_url = "https://audit.example/a"\n  }\n}\n`,
    { protocols: PROTOCOLS },
  );
  deepStrictEqual(told.gateway.receipts, {
    bodies: "none",
    sampleBytes: 4096,
    keepMs: 90 * 86_400_000,
    anchorEveryMs: null,
    anchorFile: null,
    anchorUrl: "https://audit.example/a",
  });
});

Deno.test("receipts settings that make no sense are reported at their lines", async () => {
  const text = `${HEAD}gateway {
  receipts {
    bodies       = "some"
    sample_bytes = 0
    keep         = "30m"
    colour       = "blue"
    anchor_every = "2s"
    anchor_file  = "anchors.jsonl"
    anchor_url   = "http://audit.example/a"
  }
}
`;
  const problems = await problemsOf(text);
  assertProblem(problems, lineOf(text, "bodies"), /bodies/);
  assertProblem(problems, lineOf(text, "sample_bytes"), /at least 1/);
  assertProblem(problems, lineOf(text, "keep"), /at least 1h/);
  assertProblem(problems, lineOf(text, "colour"), /colour/);
  assertProblem(problems, lineOf(text, "anchor_every"), /at least 10s/);
  assertProblem(problems, lineOf(text, "anchor_file"), /absolute path outside state_dir/);
  assertProblem(problems, lineOf(text, "anchor_url"), /https:\/\/ URL/);
});

Deno.test("an export block is read, and its mistakes reported at their lines", async () => {
  const good = await loadConfigText(
    "t.hcl",
    `${HEAD}gateway {\n  export {\n    jsonl = "-"\n    otlp_url = "http://127.0.0.1:4318/v1/logs"\n  }\n}\n`,
    { protocols: PROTOCOLS },
  );
  deepStrictEqual(good.gateway.export, {
    jsonl: "-",
    jsonlMaxBytes: 100 * 1024 * 1024,
    jsonlKeep: 5,
    otlpUrl: "http://127.0.0.1:4318/v1/logs",
  });
  const text = `${HEAD}gateway {
  export {
    jsonl          = "receipts.jsonl"
    jsonl_max_size = "10KiB"
    jsonl_keep     = 0
    otlp_url       = "ftp://collector"
  }
}
`;
  const problems = await problemsOf(text);
  assertProblem(problems, lineOf(text, "jsonl "), /absolute path, or "-"/);
  assertProblem(problems, lineOf(text, "jsonl_max_size"), /at least 1MiB/);
  assertProblem(problems, lineOf(text, "jsonl_keep"), /between 1 and 100/);
  assertProblem(problems, lineOf(text, "otlp_url"), /http\(s\):\/\/ URL/);
});
