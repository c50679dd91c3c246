/**
 * Per-request cost of credential injection: `plan()` runs on every request to an endpoint,
 * `apply()` on every allowed one. Run with `deno bench src/credentials/http_inject_bench.ts`.
 *
 * @module
 */

import { HttpInjector, type HttpRequestParts, type InjectableCredential } from "./http_inject.ts";
import { Scrubber, scrubForms } from "./scrub.ts";

function bearer(name: string, endpoint: string): InjectableCredential {
  return {
    ref: `bearer_token.${name}`,
    name,
    kind: "bearer_token",
    endpoints: [endpoint],
    placeholder: `{{${name}}}`,
    substituteIn: ["header"],
    inject: "placeholder",
  };
}

// A config with a handful of credentials over several endpoints, like a real gateway.
const credentials = [
  bearer("github_pat", "github"),
  bearer("openai_key", "openai"),
  bearer("anthropic_key", "anthropic"),
  { ...bearer("linear", "linear"), kind: "header_token" as const, header: "Authorization" },
  { ...bearer("maps", "maps"), kind: "query_token" as const, param: "key" },
  { ...bearer("jira", "jira"), kind: "basic_auth" as const, username: "svc" },
];
const injector = new HttpInjector(credentials);
const held = new Set(credentials.map((c) => c.ref));
const secrets = new Map([[
  "bearer_token.github_pat",
  "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB",
]]);

const get: HttpRequestParts = {
  headers: [
    ["User-Agent", "gh/2.62.0 (linux; amd64)"],
    ["Accept", "application/vnd.github+json"],
    ["Authorization", "Bearer {{github_pat}}"],
    ["X-GitHub-Api-Version", "2022-11-28"],
    ["Accept-Encoding", "gzip"],
    ["Time-Zone", "Europe/Berlin"],
  ],
  target: "/repos/acme/api/pulls?state=open&per_page=30",
  body: new Uint8Array(),
  bodyTruncated: false,
};

const post: HttpRequestParts = {
  ...get,
  target: "/repos/acme/api/pulls",
  body: new TextEncoder().encode(JSON.stringify({
    title: "Fix flaky test in {payments} module",
    head: "fix/flaky",
    base: "main",
    body: "Retries the {{connection}} setup; see #1234.\n".repeat(20),
  })),
  contentType: "application/json",
};

Deno.bench("plan+apply: GET with a bearer placeholder", { group: "inject", baseline: true }, () => {
  injector.plan("github", held, get).apply(secrets);
});

Deno.bench("plan only: GET with a bearer placeholder", { group: "inject" }, () => {
  injector.plan("github", held, get);
});

Deno.bench("plan+apply: POST with a 1 KB JSON body", { group: "inject" }, () => {
  injector.plan("github", held, post).apply(secrets);
});

Deno.bench("plan: endpoint without credentials", { group: "inject" }, () => {
  injector.plan("unknown", held, get);
});

const forms = scrubForms(credentials[0], secrets.get("bearer_token.github_pat")!);
const chunk = new TextEncoder().encode(
  JSON.stringify({ items: Array.from({ length: 200 }, (_, i) => ({ id: i, name: `repo-${i}` })) })
    .padEnd(16384, " "),
);

Deno.bench("Scrubber: 16 KB chunk, no secret", { group: "scrub" }, () => {
  const s = new Scrubber(forms);
  s.push(chunk);
  s.end();
});
