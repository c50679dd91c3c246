/**
 * Decision time (facts → verdict) for growing rule sets.
 *
 * Run: `deno task bench`. Prints p50/p99 per decision for 10, 100, 1,000 and 10,000 rules spread
 * over 100 endpoints, and for 100 rules on one endpoint; plus the growth ratio 100 → 10,000.
 * Targets (issue 2): p50 ≤ 5 µs at 100 rules on one endpoint; growth ≤ 2×.
 *
 * Rule `i` takes shape `⌊i / endpoints⌋ mod 5`, so over 100 endpoints the 100-rule set is one rule
 * of one shape per endpoint, and the 10,000-rule set a hundred of each of five shapes: that growth
 * line compares rule mixes (one indexed fact per endpoint against three, and deeper prefix trees)
 * as much as rule counts. The second growth line spreads the same rules over 20 endpoints, where
 * 100 rules already hold all five shapes on every endpoint and only the count grows.
 *
 * Each sample times a batch of decisions and divides, because one decision is shorter than the
 * timer's resolution.
 */

import type { Action } from "../src/core/mod.ts";
import { loadConfigText } from "../src/config/mod.ts";
import { compilePolicy, completeFacts, type Policy } from "../src/policy/mod.ts";
import { protocolOf, PROTOCOLS } from "../src/protocols/registry.ts";

const METHODS = ["get", "post", "put", "patch", "delete"];

function ruleFor(i: number, template: number): string {
  // A realistic mix: method + path prefixes, header tests, agent tests, host/query tests.
  switch (template % 5) {
    case 0:
      return `http.method == 'post' && http.path.startsWith('/repos/org-${i}/')`;
    case 1:
      return `http.method in ['put', 'patch', 'delete'] && http.path.matches('^/orgs/o${i}/[a-z]+$')`;
    case 2:
      return `http.method == 'get' && http.path.startsWith('/api/v${i}/') && 'x-debug' in http.headers`;
    case 3:
      return `agent.profile == 'p${i}' && http.method == 'get'`;
    default:
      return `http.query.exists(k, k == 'token${i}') && http.host.endsWith('.h${i}.example.com')`;
  }
}

function configText(rules: number, endpoints: number): string {
  const parts = ["schema_version = 1"];
  for (let e = 0; e < endpoints; e++) {
    parts.push(`endpoint "https" "e${e}" {\n  hosts = ["h${e}.example.com"]\n}`);
  }
  for (let i = 0; i < rules; i++) {
    parts.push(
      `rule "r${i}" {\n  endpoint = https.e${i % endpoints}\n  priority = ${i % 7}\n` +
        `  condition = "${ruleFor(i, Math.floor(i / endpoints))}"\n  verdict = "${
          i % 2 ? "allow" : "deny"
        }"\n}`,
    );
  }
  return parts.join("\n");
}

function actions(endpoints: number): Action[] {
  const out: Action[] = [];
  for (let k = 0; k < 64; k++) {
    const e = k % endpoints;
    out.push({
      protocol: "https",
      endpoint: `e${e}`,
      agent: { name: "bot", profile: `p${k}` },
      facts: completeFacts(protocolOf("https")!, {
        http: {
          method: METHODS[k % METHODS.length],
          scheme: "https",
          host: `h${e}.example.com`,
          port: 443,
          path: `/repos/org-${k * 3}/pulls`,
          headers: { "user-agent": ["bench"], accept: ["application/json"] },
          query: { page: ["2"] },
        },
      }),
      summary: "bench",
    });
  }
  return out;
}

function measure(policy: Policy, acts: Action[]): { p50: number; p99: number } {
  const batch = 2000;
  const samples: number[] = [];
  for (let i = 0; i < batch * 5; i++) policy.decide(acts[i % acts.length]); // warm up
  for (let s = 0; s < 200; s++) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) policy.decide(acts[(s * batch + i) % acts.length]);
    samples.push(((performance.now() - t0) * 1000) / batch);
  }
  samples.sort((a, b) => a - b);
  return { p50: samples[100], p99: samples[197] };
}

async function scenario(rules: number, endpoints: number) {
  const config = await loadConfigText("bench.hcl", configText(rules, endpoints), {
    protocols: PROTOCOLS,
  });
  const policy = compilePolicy(config, { protocols: PROTOCOLS });
  return { rules, endpoints, ...measure(policy, actions(endpoints)) };
}

if (import.meta.main) {
  const rows = [];
  for (const rules of [10, 100, 1000, 10_000]) rows.push(await scenario(rules, 100));
  const single = await scenario(100, 1);
  console.log("rules   endpoints  p50 µs  p99 µs");
  for (const r of [...rows, single]) {
    console.log(
      `${String(r.rules).padEnd(7)} ${String(r.endpoints).padEnd(10)} ${
        r.p50.toFixed(2).padStart(6)
      }  ${r.p99.toFixed(2).padStart(6)}`,
    );
  }
  const growth = rows[3].p50 / rows[1].p50;
  console.log(
    `growth 100 → 10,000 rules (100 endpoints): ${growth.toFixed(2)}× (target ≤ 2×) ` +
      (growth <= 2 ? "PASS" : "MISS"),
  );
  const [mixed100, mixed10k] = [await scenario(100, 20), await scenario(10_000, 20)];
  console.log(
    `growth 100 → 10,000 rules, all five rule shapes on every endpoint (20 endpoints): ` +
      `${mixed100.p50.toFixed(2)} → ${mixed10k.p50.toFixed(2)} µs, ` +
      `${(mixed10k.p50 / mixed100.p50).toFixed(2)}×`,
  );
  console.log(
    `100 rules on one endpoint: p50 ${single.p50.toFixed(2)} µs (target ≤ 5 µs) ` +
      (single.p50 <= 5 ? "PASS" : "MISS"),
  );
}
