import { deepEqual, equal, match, ok, throws } from "node:assert/strict";
import { join } from "node:path";
import { SourceRegistry, SOURCES_FILE } from "./sources.ts";

async function withDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_sources_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function* pairs(): Generator<{ peer: string; address: string }> {
  for (let i = 0; i < 4; i++) yield { peer: `10.77.0.${2 * i}`, address: `10.77.0.${2 * i + 1}` };
}

Deno.test("leases take the first free pair and another process sees them at once", async () => {
  await withDir((dir) => {
    const writer = SourceRegistry.open(dir);
    // A reader that would not look at the file again for a minute on its own.
    const reader = SourceRegistry.open(dir, { refreshIntervalMs: 60_000 });
    const first = writer.lease("bot", "isolate", pairs(), 42)!;
    deepEqual([first.peer, first.address, first.holder], ["10.77.0.0", "10.77.0.1", 42]);
    const second = writer.lease("other", "isolate", pairs(), 43)!;
    equal(second.address, "10.77.0.3", "a taken pair is skipped");
    equal(reader.agentAt("10.77.0.1"), "bot", "an unknown address is looked up in the file");
    equal(reader.agentAt("::ffff:10.77.0.3"), "other", "IPv4-mapped form is the same address");
    equal(reader.agentAt("10.77.0.0"), null, "the gateway side names no agent");
    ok(writer.release("10.77.0.1"));
    equal(writer.release("10.77.0.1"), false);
    equal(writer.lease("third", "isolate", pairs(), null)!.address, "10.77.0.1", "freed: reused");
  });
});

Deno.test("leasing fails cleanly when every pair is taken, and registering a taken address throws", async () => {
  await withDir((dir) => {
    const sources = SourceRegistry.open(dir);
    for (let i = 0; i < 4; i++) ok(sources.lease("bot", "isolate", pairs(), null));
    equal(sources.lease("bot", "isolate", pairs(), null), null);
    throws(() => sources.register("10.77.0.2", "x", "wireguard"), /already stands for agent 'bot'/);
    throws(() => sources.register("10.9.0.1", "Not:A:Name", "static"), /Invalid agent name/);
    equal(sources.list().length, 4);
  });
});

Deno.test("a corrupt file is reported, and what was read before stays in force", async () => {
  await withDir(async (dir) => {
    const errors: string[] = [];
    const sources = SourceRegistry.open(dir, {
      refreshIntervalMs: 0,
      onError: (e) => errors.push(e.message),
    });
    sources.register("10.78.0.2", "bot", "wireguard");
    await Deno.writeTextFile(join(dir, SOURCES_FILE), "{ not json");
    equal(sources.agentAt("10.78.0.2"), "bot");
    equal(errors.length, 1);
    match(errors[0], /Cannot parse sources file/);
    equal(sources.agentAt("10.78.0.2"), "bot");
    equal(errors.length, 1, "reported once, not at every lookup");
    throws(() => sources.register("10.78.0.3", "x", "static"), /Cannot parse sources file/);
  });
});

Deno.test("the file is written 0600", async () => {
  await withDir(async (dir) => {
    SourceRegistry.open(dir).register("10.78.0.2", "bot", "wireguard");
    equal((await Deno.stat(join(dir, SOURCES_FILE))).mode! & 0o777, 0o600);
  });
});

Deno.test("a lease its holder left behind is reclaimed when the caller says it is stale", async () => {
  await withDir((dir) => {
    const sources = SourceRegistry.open(dir);
    sources.lease("bot", "isolate", pairs(), 111);
    sources.lease("bot", "isolate", pairs(), 222);
    const reused = sources.lease("other", "isolate", pairs(), 333, (l) => l.holder === 111)!;
    equal(reused.address, "10.77.0.1", "the stale lease's pair");
    deepEqual(sources.list().map((l) => l.holder).sort(), [222, 333]);
  });
});
