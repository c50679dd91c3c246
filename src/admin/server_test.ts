import { deepEqual, equal, match } from "node:assert/strict";
import { adminHandler } from "./server.ts";

const handler = adminHandler({
  version: "9.9.9",
  metrics: () => ({
    clawpatrol_rules: 7,
    clawpatrol_config_reloads_total: 2,
  }),
  status: () => ({ mode: "observe", rules: 7 }),
});

const get = (path: string, method = "GET") =>
  handler(new Request(`http://127.0.0.1${path}`, { method }));

Deno.test("admin /healthz answers 200 JSON with status ok and the version", async () => {
  const res = get("/healthz");
  equal(res.status, 200);
  match(res.headers.get("content-type") ?? "", /^application\/json/);
  deepEqual(await res.json(), { status: "ok", version: "9.9.9" });
});

Deno.test("admin /status returns the gateway's view as JSON", async () => {
  const res = get("/status");
  equal(res.status, 200);
  deepEqual(await res.json(), { mode: "observe", rules: 7 });
});

Deno.test("admin /metrics renders Prometheus text with counter and gauge types", async () => {
  const res = get("/metrics");
  equal(res.status, 200);
  match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  equal(
    await res.text(),
    [
      "# TYPE clawpatrol_rules gauge",
      "clawpatrol_rules 7",
      "# TYPE clawpatrol_config_reloads_total counter",
      "clawpatrol_config_reloads_total 2",
      "",
    ].join("\n"),
  );
});

Deno.test("admin answers 404 JSON for an unknown path", async () => {
  const res = get("/nope");
  equal(res.status, 404);
  deepEqual(await res.json(), { error: "not found" });
});

Deno.test("admin answers 405 to POST, even on a known path", async () => {
  for (const path of ["/healthz", "/metrics", "/nope"]) {
    const res = get(path, "POST");
    equal(res.status, 405, path);
    deepEqual(await res.json(), { error: "method not allowed" });
  }
  equal(get("/healthz", "DELETE").status, 405);
});

Deno.test("admin answers HEAD like GET", async () => {
  const res = get("/healthz", "HEAD");
  equal(res.status, 200);
  await res.body?.cancel();
});
