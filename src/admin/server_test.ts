import { deepEqual, equal, match } from "node:assert/strict";
import { Health } from "../core/mod.ts";
import { ApprovalQueue } from "../approvals/mod.ts";
import { Metrics } from "./metrics.ts";
import { adminHandler } from "./server.ts";
import { hashAdminToken } from "./token.ts";

const metrics = new Metrics();
metrics.gaugeFn("clawpatrol_rules", "Rules loaded.", () => 7);
const reloads = metrics.counter("clawpatrol_config_reloads_total", "Config reloads.");
let reloadsSoFar = 0;

const handler = adminHandler({
  version: "9.9.9",
  metrics,
  status: () => ({ mode: "observe", rules: 7 }),
  approvals: new ApprovalQueue(),
  adminTokenHash: hashAdminToken("cpadm_unused"),
});

const get = (path: string, method = "GET") =>
  handler(new Request(`http://127.0.0.1${path}`, { method }));

Deno.test("admin /healthz answers 200 JSON with status ok and the version", async () => {
  const res = await get("/healthz");
  equal(res.status, 200);
  match(res.headers.get("content-type") ?? "", /^application\/json/);
  deepEqual(await res.json(), { status: "ok", version: "9.9.9" });
});

Deno.test("admin /status returns the gateway's view as JSON", async () => {
  const res = await get("/status");
  equal(res.status, 200);
  deepEqual(await res.json(), { mode: "observe", rules: 7 });
});

Deno.test("admin /metrics renders the registry as Prometheus text 0.0.4", async () => {
  const res = await get("/metrics");
  equal(res.status, 200);
  equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  equal(
    await res.text(),
    [
      "# HELP clawpatrol_rules Rules loaded.",
      "# TYPE clawpatrol_rules gauge",
      "clawpatrol_rules 7",
      "# HELP clawpatrol_config_reloads_total Config reloads.",
      "# TYPE clawpatrol_config_reloads_total counter",
      `clawpatrol_config_reloads_total ${reloadsSoFar}`,
      "",
    ].join("\n"),
  );
});

Deno.test("admin /metrics shows a counter increment in the following scrape", async () => {
  const scrape = async () => {
    const text = await (await get("/metrics")).text();
    return Number(/^clawpatrol_config_reloads_total (\S+)$/m.exec(text)?.[1]);
  };
  const before = await scrape();
  reloads.inc();
  reloads.inc(undefined, 2);
  reloadsSoFar += 3;
  equal(await scrape(), before + 3);
  match(await (await get("/metrics")).text(), /^clawpatrol_rules 7$/m);
});

Deno.test("admin answers 404 JSON for an unknown path", async () => {
  const res = await get("/nope");
  equal(res.status, 404);
  deepEqual(await res.json(), { error: "not found" });
});

Deno.test("admin answers 405 to POST, even on a known path", async () => {
  for (const path of ["/healthz", "/metrics", "/nope"]) {
    const res = await get(path, "POST");
    equal(res.status, 405, path);
    deepEqual(await res.json(), { error: "method not allowed" });
  }
  equal((await get("/healthz", "DELETE")).status, 405);
});

Deno.test("admin answers HEAD like GET", async () => {
  const res = await get("/healthz", "HEAD");
  equal(res.status, 200);
  await res.body?.cancel();
});

Deno.test("admin /healthz reports problems: 503 while unhealthy, 200 while only degraded", async () => {
  const health = new Health();
  const handler = adminHandler({
    version: "9.9.9",
    metrics: new Metrics(),
    status: () => ({}),
    approvals: new ApprovalQueue(),
    adminTokenHash: new Uint8Array(32),
    health: () => health.report(),
  });
  const probe = async () => {
    const res = await handler(new Request("http://127.0.0.1/healthz"));
    return { code: res.status, body: await res.json() };
  };
  health.set("accept", "degraded", "too many open files");
  let r = await probe();
  equal(r.code, 200);
  equal(r.body.status, "degraded");
  equal(r.body.problems[0].cause, "too many open files");
  health.set("receipts", "unhealthy", "disk full");
  r = await probe();
  equal(r.code, 503);
  equal(r.body.status, "unhealthy");
  health.clear("receipts");
  health.clear("accept");
  deepEqual((await probe()).body, { status: "ok", version: "9.9.9" });
});
