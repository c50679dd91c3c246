// connectUpstream() against fake servers that misbehave in ways a real PostgreSQL will not.

import { AssertionError, deepEqual, equal, ok } from "node:assert/strict";
import { concatBytes } from "../../core/mod.ts";
import { cancelUpstream, connectUpstream } from "./_upstream.ts";
import { assertUpstreamError, close, login, PASSWORD, target, USER } from "./_upstream_testing.ts";

/** A one-connection fake PostgreSQL server with its own minimal framing. */
interface FakeIo {
  read(n: number): Promise<Uint8Array>;
  /** A frontend message after startup: type byte, int32 length, body. */
  message(): Promise<{ type: string; body: Uint8Array }>;
  send(type: string, ...parts: (string | Uint8Array | number)[]): Promise<void>;
  raw(bytes: Uint8Array): Promise<void>;
}

async function fakeServer(
  script: (io: FakeIo) => Promise<void>,
  fn: (port: number) => Promise<void>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let failure: unknown;
  let accepted: Deno.Conn | undefined;
  const served = (async () => {
    const conn = accepted = await listener.accept();
    let buf = new Uint8Array(0);
    const io: FakeIo = {
      async read(n) {
        while (buf.length < n) {
          const chunk = new Uint8Array(4096);
          const got = await conn.read(chunk);
          if (got === null) throw new Error("client closed");
          buf = concatBytes([buf, chunk.subarray(0, got)]);
        }
        const out = buf.slice(0, n);
        buf = buf.subarray(n);
        return out;
      },
      async message() {
        const head = await io.read(5);
        const length = new DataView(head.buffer).getInt32(1);
        return { type: String.fromCharCode(head[0]), body: await io.read(length - 4) };
      },
      async send(type, ...parts) {
        const bytes = parts.map((p) =>
          typeof p === "string"
            ? new TextEncoder().encode(p)
            : typeof p === "number"
            ? new Uint8Array(new Int32Array([p]).buffer).reverse()
            : p
        );
        const body = concatBytes(bytes);
        const msg = new Uint8Array(5 + body.length);
        msg[0] = type.charCodeAt(0);
        new DataView(msg.buffer).setInt32(1, 4 + body.length);
        msg.set(body, 5);
        await io.raw(msg);
      },
      async raw(bytes) {
        await conn.write(bytes);
      },
    };
    try {
      await script(io);
      await io.read(1 << 20).catch(() => {}); // hold the connection until the client goes
    } catch (err) {
      // The client hanging up mid-script is what most of these tests expect; a failed assertion
      // about what the client sent is not.
      if (err instanceof AssertionError) failure = err;
    } finally {
      conn.close();
    }
  })();
  let clientFailure: unknown;
  try {
    await fn((listener.addr as Deno.NetAddr).port);
  } catch (err) {
    clientFailure = err ?? new Error("client failed");
    // A client that failed may never hang up: end the server's hold so the test ends too.
    try {
      accepted?.close();
    } catch {
      // Already closed by the script.
    }
  } finally {
    listener.close();
    await served;
  }
  // The server's assertion explains more than the client's reaction to it.
  if (failure ?? clientFailure) throw failure ?? clientFailure;
}

/** Reads the StartupMessage (no type byte) and returns its parameters. */
async function startup(io: FakeIo): Promise<Map<string, string>> {
  const head = await io.read(4);
  const body = await io.read(new DataView(head.buffer).getInt32(0) - 4);
  const fields = new TextDecoder().decode(body.subarray(4)).split("\0");
  const params = new Map<string, string>();
  for (let i = 0; fields[i]; i += 2) params.set(fields[i], fields[i + 1]);
  return params;
}

Deno.test("connectUpstream() reports nothing listening as unavailable", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await assertUpstreamError(connectUpstream(target({ port }), login()), "unavailable", "08001");
});

Deno.test("connectUpstream() times out on a server that never answers", async () => {
  await fakeServer(async (io) => void await startup(io), async (port) => {
    const started = Date.now();
    await assertUpstreamError(
      connectUpstream(target({ port }, { connectTimeoutMs: 300 }), login()),
      "timeout",
      "08001",
      /within 300 ms/,
    );
    const elapsed = Date.now() - started;
    ok(elapsed >= 290 && elapsed < 2000, `timed out after ${elapsed} ms`);
  });
});

Deno.test("connectUpstream() refuses a SCRAM server that cannot prove the password", async () => {
  const script = async (io: FakeIo) => {
    await startup(io);
    await io.send("R", 10, "SCRAM-SHA-256\0\0");
    const first = new TextDecoder().decode((await io.message()).body);
    const nonce = first.match(/r=([^,]+)/)![1];
    await io.send("R", 11, `r=${nonce}fake,s=${btoa("0123456789abcdef")},i=4096`);
    await io.message(); // client-final with a proof a real server would check
    await io.send("R", 12, `v=${btoa("x".repeat(32))}`);
    await io.send("R", 0);
    await io.send("Z", "I");
  };
  await fakeServer(script, async (port) => {
    const err = await assertUpstreamError(
      connectUpstream(target({ port }), login()),
      "auth",
      "28000",
    );
    ok(/signature/.test(err.message) && !err.message.includes(PASSWORD), err.message);
  });
});

Deno.test("connectUpstream() refuses a server that skips SCRAM's final step", async () => {
  const script = async (io: FakeIo) => {
    await startup(io);
    await io.send("R", 10, "SCRAM-SHA-256\0\0");
    const nonce = new TextDecoder().decode((await io.message()).body).match(/r=([^,]+)/)![1];
    await io.send("R", 11, `r=${nonce}fake,s=${btoa("salt")},i=4096`);
    await io.message();
    await io.send("R", 0);
    await io.send("Z", "I");
  };
  await fakeServer(script, async (port) => {
    await assertUpstreamError(
      connectUpstream(target({ port }), login()),
      "auth",
      "28000",
      /without proving/,
    );
  });
});

Deno.test("connectUpstream() refuses bytes that arrive between 'S' and the TLS handshake", async () => {
  const script = async (io: FakeIo) => {
    await io.read(8); // SSLRequest
    // CVE-2021-23222: a man in the middle appends a plaintext answer to the 'S'.
    await io.raw(new Uint8Array([0x53, 0x52, 0, 0, 0, 8, 0, 0, 0, 0]));
  };
  await fakeServer(script, async (port) => {
    await assertUpstreamError(
      connectUpstream(target({ port }, { sslmode: "require" }), login()),
      "protocol",
      "08P01",
      /before the TLS handshake/,
    );
  });
});

Deno.test("connectUpstream() keeps bytes that follow the first ReadyForQuery", async () => {
  const script = async (io: FakeIo) => {
    const params = await startup(io);
    equal(params.get("user"), USER);
    equal(params.get("database"), "postgres");
    equal(params.get("application_name"), "x");
    equal(params.has("replication"), false);
    await io.send("R", 3); // cleartext
    equal(new TextDecoder().decode((await io.message()).body), `${PASSWORD}\0`);
    await io.send("R", 0);
    await io.send("S", "server_version\x0015.0\0");
    await io.send("K", 4242, new Uint8Array([1, 2, 3, 4]));
    await io.send("N", "SWARNING\0Mhello\0\0");
    await io.raw(new Uint8Array([0x5a, 0, 0, 0, 5, 0x49, 0x4e, 0, 0, 0, 4])); // Z, then a NoData
    await handedOver.promise;
    await io.send("A", 7, "chan\0payload\0"); // NotificationResponse while the session sits paused
  };
  // The notification is sent only once the client holds the session: never part of `pending`.
  const handedOver = Promise.withResolvers<void>();
  await fakeServer(script, async (port) => {
    const params: [string, string][] = [["application_name", "x"], ["replication", "database"]];
    const session = await connectUpstream(target({ port }), { ...login(), params });
    deepEqual(session.parameters, [["server_version", "15.0"]]);
    deepEqual(session.backendKey, { pid: 4242, secret: new Uint8Array([1, 2, 3, 4]) });
    equal(session.notices.length, 1);
    equal(session.notices[0][0], 0x4e);
    deepEqual(session.pending, new Uint8Array([0x4e, 0, 0, 0, 4]));
    // Bytes that arrive after the hand-over wait in the paused socket for the new owner.
    handedOver.resolve();
    for (let i = 0; session.socket.readableLength === 0 && i < 500; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const later = new Promise<Uint8Array>((resolve) => session.socket.once("data", resolve));
    session.socket.resume();
    equal(new TextDecoder().decode((await later).subarray(9)), "chan\0payload\0");
    await close(session.socket);
  });
});

for (
  const [name, request, pattern] of [
    ["GSSAPI", [7], /unsupported authentication method/],
    ["SCRAM-SHA-256-PLUS only", [10, "SCRAM-SHA-256-PLUS\0\0"], /no supported SASL mechanism/],
  ] as const
) {
  Deno.test(`connectUpstream() refuses ${name} authentication`, async () => {
    await fakeServer(async (io) => {
      await startup(io);
      await io.send("R", ...request);
    }, async (port) => {
      await assertUpstreamError(
        connectUpstream(target({ port }), login()),
        "auth",
        "28000",
        pattern,
      );
    });
  });
}

Deno.test("connectUpstream() reports the SQLSTATE of an error sent just before the server hangs up", async () => {
  await fakeServer(async (io) => {
    await startup(io);
    await io.send("E", `SFATAL\0C28P01\0Mpassword authentication failed for user "${USER}"\0\0`);
    throw new Error("hang up at once");
  }, async (port) => {
    const err = await assertUpstreamError(
      connectUpstream(target({ port }), login()),
      "auth",
      "28P01",
    );
    ok(!err.message.includes(USER), err.message);
  });
});

Deno.test("connectUpstream() refuses an oversized message during login", async () => {
  await fakeServer(async (io) => {
    await startup(io);
    await io.raw(new Uint8Array([0x52, 0x40, 0, 0, 0])); // 'R' claiming 1 GiB
  }, async (port) => {
    await assertUpstreamError(connectUpstream(target({ port }), login()), "protocol", "08P01");
  });
});

Deno.test("cancelUpstream() never throws", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const key = { pid: 1, secret: new Uint8Array(4) };
  await cancelUpstream(target({ port }), key);
  await cancelUpstream(target({ port: 0 }), key);
  await cancelUpstream(target({ port }, { sslmode: "verify-full" }), key);
});
