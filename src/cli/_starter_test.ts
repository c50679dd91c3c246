import { equal, match } from "node:assert/strict";
import { loadConfigText } from "../config/mod.ts";
import { readPacks, STARTER_PACKS, starterConfig } from "./_starter.ts";
import { PROTOCOLS } from "../protocols/registry.ts";

Deno.test("starterConfig() listens on 127.0.0.1:8080 and :8081 unless told otherwise", async () => {
  const packs = await readPacks(STARTER_PACKS);
  const standard = await loadConfigText("gateway.hcl", starterConfig(packs), {
    protocols: PROTOCOLS,
    baseDir: "rules",
  });
  equal(standard.gateway.proxyListen, "127.0.0.1:8080");
  equal(standard.gateway.adminListen, "127.0.0.1:8081");

  const text = starterConfig(packs, { proxyListen: "[::1]:9080", adminListen: "127.0.0.1:0" });
  match(text, /^ {2}proxy_listen = "\[::1\]:9080"$/m);
  const moved = await loadConfigText("gateway.hcl", text, {
    protocols: PROTOCOLS,
    baseDir: "rules",
  });
  equal(moved.gateway.proxyListen, "[::1]:9080");
  equal(moved.gateway.adminListen, "127.0.0.1:0");
});
