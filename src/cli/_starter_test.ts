import { equal, match } from "node:assert/strict";
import { loadConfigText } from "../config/mod.ts";
import { readPacks, STARTER_PACKS, starterConfig } from "./_starter.ts";
import { PROTOCOLS } from "../protocols/registry.ts";

Deno.test("starterConfig() listens on 127.0.0.1:13128 and :13129 unless told otherwise", async () => {
  const packs = await readPacks(STARTER_PACKS);
  const standard = await loadConfigText("gateway.hcl", starterConfig(packs), {
    protocols: PROTOCOLS,
    baseDir: "rules",
  });
  // Not 8080: kubectl's fallback server when it has no kubeconfig.
  equal(standard.gateway.proxyListen, "127.0.0.1:13128");
  equal(standard.gateway.adminListen, "127.0.0.1:13129");
  equal(standard.gateway.stateDir, "./state");

  const text = starterConfig(packs, { proxyListen: "[::1]:9080", adminListen: "127.0.0.1:0" });
  match(text, /^ {2}proxy_listen = "\[::1\]:9080"$/m);
  const moved = await loadConfigText("gateway.hcl", text, {
    protocols: PROTOCOLS,
    baseDir: "rules",
  });
  equal(moved.gateway.proxyListen, "[::1]:9080");
  equal(moved.gateway.adminListen, "127.0.0.1:0");
});
