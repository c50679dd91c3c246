import { deepEqual, equal, match, rejects } from "node:assert/strict";
import net from "node:net";
import { errorResponse, readyForQuery } from "./_backend.ts";
import { Writer } from "./_encode.ts";
import { probeRefusal, probeSession } from "./_session_probe.ts";

const enc = new TextEncoder();

function dataRow(values: (string | null)[]): Uint8Array {
  const w = new Writer("D").int16(values.length);
  for (const v of values) {
    if (v === null) w.int32(-1);
    else {
      const b = enc.encode(v);
      w.int32(b.length).bytes(b);
    }
  }
  return w.finish();
}

/**
 * A loopback "server" that answers the probe's Query with `reply` (or hangs up when null), and a
 * client socket connected to it, paused with no listener as the probe expects.
 */
async function withServer(
  reply: Uint8Array[] | null,
  fn: (socket: net.Socket) => Promise<void>,
): Promise<void> {
  const server = net.createServer((s) => {
    s.once("data", () => {
      if (reply === null) s.destroy();
      else s.write(Buffer.concat(reply));
    });
    s.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as net.AddressInfo;
  const socket = net.connect({ port, host: "127.0.0.1" });
  socket.on("error", () => {});
  await new Promise<void>((r) => socket.once("connect", r));
  socket.pause();
  try {
    await fn(socket);
  } finally {
    socket.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

Deno.test("probeSession() reads the row and hands back bytes read past ReadyForQuery", async () => {
  const after = readyForQuery("I"); // e.g. an unsolicited message that followed
  const row = dataRow(['"$user", public', "agent", "agent", '["lower","="]']);
  await withServer([row, readyForQuery("I"), after], async (socket) => {
    const { probe, pending } = await probeSession(socket, new Uint8Array(0), 5000);
    equal(probe.searchPath, '"$user", public');
    deepEqual([...probe.shadowing], ["lower", "="]);
    deepEqual([...pending], [...after]);
    equal(probeRefusal(probe), null);
  });
});

Deno.test("probeSession() treats no shadowing names (SQL NULL) as none", async () => {
  await withServer([dataRow(["public", "a", "a", null]), readyForQuery("I")], async (socket) => {
    const { probe } = await probeSession(socket, new Uint8Array(0), 5000);
    equal(probe.shadowing.size, 0);
  });
});

Deno.test("probeSession() rejects on a server error, a hang-up, no row, or a timeout", async () => {
  const error = errorResponse({ severity: "ERROR", code: "42501", message: "permission denied" });
  await withServer([error, readyForQuery("I")], async (socket) => {
    await rejects(probeSession(socket, new Uint8Array(0), 5000), /probe failed: permission denied/);
  });
  await withServer(null, async (socket) => {
    await rejects(probeSession(socket, new Uint8Array(0), 5000), /closed the connection/);
  });
  await withServer([readyForQuery("I")], async (socket) => {
    await rejects(probeSession(socket, new Uint8Array(0), 5000), /got no row/);
  });
  await withServer([dataRow(["p", "a", "a", "{not json"]), readyForQuery("I")], async (socket) => {
    await rejects(probeSession(socket, new Uint8Array(0), 5000), /unreadable function list/);
  });
  await withServer([], async (socket) => {
    await rejects(probeSession(socket, new Uint8Array(0), 50), /timed out/);
  });
});

Deno.test("probeRefusal() refuses a session that runs as another role, naming both", () => {
  match(
    probeRefusal({
      searchPath: "public",
      shadowing: new Set(),
      currentUser: "admin",
      sessionUser: "agent_ro",
    }) ?? "",
    /runs this session as role 'admin', not as the credential's user 'agent_ro'/,
  );
});
