/**
 * The load generator of `bench/tunnel.ts`, run inside the agent host's network namespace:
 * keep-alive HTTPS GETs on `connections` connections for `seconds`, then one JSON line with the
 * request count, the elapsed time and the p50/p99 latency in milliseconds.
 *
 *     deno run -A bench/_tunnel_client.ts URL SERVERNAME CA_FILE SECONDS CONNECTIONS
 *
 * @module
 */

import https from "node:https";

const [url, servername, caFile, seconds, connections] = Deno.args;
const ca = Deno.readTextFileSync(caFile);
const agent = new https.Agent({ keepAlive: true, maxSockets: Number(connections), ca, servername });
const target = new URL(url);

function get(): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: target.hostname,
      port: target.port || 443,
      path: target.pathname,
      agent,
      servername,
      headers: { host: servername },
    }, (res) => {
      res.on("data", () => {});
      res.on(
        "end",
        () => res.statusCode === 200 ? resolve() : reject(new Error(`${res.statusCode}`)),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

const latencies: number[] = [];
const deadline = performance.now() + Number(seconds) * 1000;
const started = performance.now();
await Promise.all(Array.from({ length: Number(connections) }, async () => {
  while (performance.now() < deadline) {
    const t = performance.now();
    await get();
    latencies.push(performance.now() - t);
  }
}));
const elapsed = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const at = (q: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
console.log(JSON.stringify({
  requests: latencies.length,
  seconds: elapsed,
  p50: at(0.5),
  p99: at(0.99),
}));
agent.destroy();
