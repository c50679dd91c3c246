/**
 * A V8 CPU profile of a process listening for a debugger, summarised by function: where the
 * gateway's main thread spends its time under a bench's load.
 *
 *     CLAWPATROL_BENCH_INSPECT=9339 deno run -A bench/stages.ts --only=https --seconds=15 &
 *     deno run -A bench/cpu_profile.ts --port=9339 --seconds=5 [--out=/tmp/gateway.cpuprofile]
 *                                      [--top=40] [--under=src/]
 *
 * Prints the top functions by self time and by inclusive time (only frames whose location
 * contains `--under`), as shares of all samples (idle included). The saved profile opens in
 * Chrome DevTools. Sampling is wall-clock on the main thread: read shares, not µs.
 *
 * @module
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
}

function option(name: string, fallback: string): string {
  return Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
}

/** Starts the profiler over the inspector protocol, waits, and returns the profile. */
async function capture(port: number, seconds: number): Promise<Profile> {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const socket = new WebSocket(targets[0].webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  let next = 0;
  const pending = new Map<number, (result: Record<string, unknown>) => void>();
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    pending.get(message.id)?.(message.result);
    pending.delete(message.id);
  };
  const call = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const id = ++next;
      pending.set(id, resolve);
      socket.send(JSON.stringify({ id, method, params }));
    });
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: 200 });
  await call("Profiler.start");
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const { profile } = await call("Profiler.stop");
  socket.close();
  return profile as unknown as Profile;
}

/** Self and inclusive sample counts per function (name, file, line). */
function summarise(profile: Profile, under: string, top: number): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const c of node.children ?? []) parentOf.set(c, node.id);
  const label = ({ callFrame: f }: ProfileNode) =>
    `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*?\/(src|bench)\//, "$1/")}:${
      f.lineNumber + 1
    }`;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const sample of profile.samples) {
    let node = byId.get(sample);
    if (!node) continue;
    self.set(label(node), (self.get(label(node)) ?? 0) + 1);
    const counted = new Set<string>();
    for (; node; node = byId.get(parentOf.get(node.id) ?? -1)) {
      const name = label(node);
      if (counted.has(name) || !node.callFrame.url.includes(under)) continue;
      counted.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + 1);
    }
  }
  const total = profile.samples.length;
  const list = (counts: Map<string, number>) =>
    [...counts].sort((a, b) => b[1] - a[1]).slice(0, top)
      .map(([name, n]) => `${(100 * n / total).toFixed(1).padStart(5)}%  ${name}`).join("\n");
  return `${total} samples\n\nself:\n${list(self)}\n\ninclusive (${under}):\n${list(inclusive)}`;
}

if (import.meta.main) {
  const profile = await capture(Number(option("port", "9339")), Number(option("seconds", "5")));
  const out = option("out", "/tmp/gateway.cpuprofile");
  await Deno.writeTextFile(out, JSON.stringify(profile));
  console.log(`saved ${out}\n`);
  console.log(summarise(profile, option("under", "src/"), Number(option("top", "40"))));
}
