/**
 * The floor under every gateway protocol on this machine: a bare TCP relay (no parsing, no
 * decisions) between ping-pong clients and an echo server, written with `node:net` (what the
 * Postgres session and the HTTP proxy use) and with `Deno.Conn`, side by side with direct.
 *
 *     deno run -A bench/relay_floor.ts [--seconds=3] [--connections=8] [--bytes=100]
 *
 * Each role runs in its own process so none shares an event loop. Reports round trips per
 * second and the relay's CPU per round trip (from /proc).
 *
 * @module
 */

import net from "node:net";

const ROLE = Deno.env.get("RELAY_FLOOR_ROLE");

if (ROLE === "echo") {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log((listener.addr as Deno.NetAddr).port);
  for await (const conn of listener) void copy(conn, conn);
} else if (ROLE === "node" || ROLE === "deno") {
  const upstream = Number(Deno.env.get("RELAY_FLOOR_UPSTREAM"));
  if (ROLE === "node") {
    const server = net.createServer({ noDelay: true }, (agent) => {
      const up = net.connect({ host: "127.0.0.1", port: upstream, noDelay: true });
      agent.on("data", (d) => up.write(d));
      up.on("data", (d) => agent.write(d));
      for (const s of [agent, up]) s.on("error", () => {});
      agent.on("close", () => up.destroy());
      up.on("close", () => agent.destroy());
    });
    server.listen(0, "127.0.0.1", () => console.log((server.address() as net.AddressInfo).port));
  } else {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    console.log((listener.addr as Deno.NetAddr).port);
    for await (const agent of listener) {
      void (async () => {
        const up = await Deno.connect({ hostname: "127.0.0.1", port: upstream });
        agent.setNoDelay(true);
        up.setNoDelay(true);
        await Promise.race([copy(agent, up), copy(up, agent)]);
        for (const c of [agent, up]) {
          try {
            c.close();
          } catch {
            // Already closed by the other direction.
          }
        }
      })();
    }
  }
} else {
  await main();
}

async function copy(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await from.read(buf);
      if (n === null) return;
      await to.write(buf.subarray(0, n));
    }
  } catch {
    // The other side went away: the round ends.
  }
}

function option(name: string, fallback: number): number {
  const arg = Deno.args.find((a) => a.startsWith(`--${name}=`));
  return arg ? Number(arg.slice(name.length + 3)) : fallback;
}

async function start(role: string, upstream?: number) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname],
    env: { RELAY_FLOOR_ROLE: role, RELAY_FLOOR_UPSTREAM: String(upstream ?? "") },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  return { child, port: Number(value!.trim()) };
}

function cpuMs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function pingPong(port: number, seconds: number, connections: number, bytes: number) {
  let total = 0;
  const end = Date.now() + seconds * 1000;
  await Promise.all(Array.from({ length: connections }, async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    const message = new Uint8Array(bytes).fill(65);
    const buf = new Uint8Array(bytes * 4);
    while (Date.now() < end) {
      await conn.write(message);
      let got = 0;
      while (got < bytes) {
        const n = await conn.read(buf);
        if (n === null) return;
        got += n;
      }
      total++;
    }
    conn.close();
  }));
  return total / seconds;
}

async function main(): Promise<void> {
  const seconds = option("seconds", 3);
  const connections = option("connections", 8);
  const bytes = option("bytes", 100);
  const echo = await start("echo");
  const relays = {
    "node:net": await start("node", echo.port),
    "Deno.Conn": await start("deno", echo.port),
  };
  const rows: Record<
    string,
    { "round trips/s": number; "× direct": string; "relay CPU µs/rt": string }
  > = {};
  try {
    for (let round = 1; round <= 2; round++) {
      const direct = await pingPong(echo.port, seconds, connections, bytes);
      rows[`direct (round ${round})`] = {
        "round trips/s": Math.round(direct),
        "× direct": "1.00",
        "relay CPU µs/rt": "-",
      };
      for (const [name, relay] of Object.entries(relays)) {
        const before = cpuMs(relay.child.pid);
        const rate = await pingPong(relay.port, seconds, connections, bytes);
        const cpu = (cpuMs(relay.child.pid) - before) * 1000 / (rate * seconds);
        rows[`${name} relay (round ${round})`] = {
          "round trips/s": Math.round(rate),
          "× direct": (rate / direct).toFixed(2),
          "relay CPU µs/rt": cpu.toFixed(1),
        };
      }
    }
  } finally {
    for (const p of [echo, ...Object.values(relays)]) p.child.kill();
  }
  console.log(`${connections} ping-pong connections, ${bytes}-byte messages, ${seconds} s each:`);
  console.table(rows);
}
