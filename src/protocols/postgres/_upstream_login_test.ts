import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import {
  authenticate,
  type LoginIo,
  type Message,
  startupMessage,
  UpstreamError,
  type UpstreamErrorKind,
} from "./_upstream_login.ts";
import { joinBytes } from "../../core/mod.ts";

const concat = (...parts: Uint8Array[]) => joinBytes(parts);
const int32s = (v: number) => {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setInt32(0, v);
  return out;
};

const LOGIN = { user: "agent_ro", password: "hunter2-secret", database: "app", params: [] };

function msg(type: string, ...parts: (string | number | Uint8Array)[]): Message {
  const body = concat(
    ...parts.map((p) =>
      typeof p === "string" ? new TextEncoder().encode(p) : typeof p === "number" ? int32s(p) : p
    ),
  );
  const raw = concat(new TextEncoder().encode(type), int32s(body.length + 4), body);
  return { type, body: raw.subarray(5), raw };
}

/** A LoginIo that replays `messages` and records what the client sends. */
function scripted(messages: Message[]): LoginIo & { sent: Uint8Array[] } {
  const queue = [...messages];
  const sent: Uint8Array[] = [];
  return {
    sent,
    read: () => {
      const next = queue.shift();
      return next ? Promise.resolve(next) : Promise.reject(new Error("script exhausted"));
    },
    send: (bytes) => void sent.push(bytes),
    until: (promise) => promise,
  };
}

async function loginFails(messages: Message[], kind: UpstreamErrorKind, sqlstate: string) {
  let caught: unknown;
  await rejects(
    authenticate(scripted(messages), LOGIN).catch((err) => {
      caught = err;
      throw err;
    }),
  );
  ok(caught instanceof UpstreamError, String(caught));
  equal(caught.kind, kind, caught.message);
  equal(caught.sqlstate, sqlstate, caught.message);
  ok(!caught.message.includes(LOGIN.password) && !caught.message.includes(LOGIN.user));
  return caught;
}

const OK = msg("R", 0);
const READY = msg("Z", "I");

Deno.test("startupMessage() puts the credential's user and database first and drops overrides", () => {
  const bytes = startupMessage({
    ...LOGIN,
    params: [["user", "postgres"], ["database", "other"], ["replication", "true"], [
      "TimeZone",
      "UTC",
    ]],
  });
  equal(new DataView(bytes.buffer).getInt32(0), bytes.length);
  equal(new DataView(bytes.buffer).getInt32(4), 196608);
  equal(
    new TextDecoder().decode(bytes.subarray(8)),
    "user\0agent_ro\0database\0app\0TimeZone\0UTC\0\0",
  );
});

Deno.test("startupMessage() refuses parameters that would break the framing", () => {
  for (const params of [[["a\0user", "x"]], [["", "x"]], [["options", "x\0user\0postgres"]]]) {
    try {
      startupMessage({ ...LOGIN, params: params as [string, string][] });
      ok(false, "accepted");
    } catch (err) {
      ok(err instanceof UpstreamError && err.kind === "protocol");
    }
  }
});

Deno.test("authenticate() sends the md5 response and collects parameters, key and status", async () => {
  const io = scripted([
    msg("R", 5, new Uint8Array([1, 2, 3, 4])),
    OK,
    msg("S", "TimeZone\0UTC\0"),
    msg("K", 99, new Uint8Array([9, 9, 9, 9])),
    msg("Z", "T"),
  ]);
  const result = await authenticate(io, LOGIN);
  equal(io.sent.length, 1);
  equal(String.fromCharCode(io.sent[0][0]), "p");
  ok(new TextDecoder().decode(io.sent[0]).endsWith("\0") && io.sent[0].length === 5 + 36);
  deepEqual(result.parameters, [["TimeZone", "UTC"]]);
  deepEqual(result.backendKey, { pid: 99, secret: new Uint8Array([9, 9, 9, 9]) });
  equal(result.status, "T");
});

Deno.test("authenticate() accepts a trust login without sending the password", async () => {
  const io = scripted([OK, READY]);
  await authenticate(io, LOGIN);
  equal(io.sent.length, 0);
});

Deno.test("authenticate() reduces a login ErrorResponse to its SQLSTATE", async () => {
  const text = `password authentication failed for user "${LOGIN.user}"`;
  const auth = await loginFails([msg("E", `SFATAL\0C28P01\0M${text}\0\0`)], "auth", "28P01");
  equal(auth.message, "upstream rejected the login (SQLSTATE 28P01: authentication failed)");
  await loginFails([OK, msg("E", "SFATAL\0C53300\0Mtoo many\0\0")], "rejected", "53300");
  await loginFails([msg("E", "SFATAL\0Cbad code\0\0")], "rejected", "08P01");
});

Deno.test("authenticate() treats out-of-order or unknown messages as protocol errors", async () => {
  await loginFails([msg("S", "a\0b\0")], "protocol", "08P01"); // parameters before AuthenticationOk
  await loginFails([READY], "protocol", "08P01"); // ready before authentication
  await loginFails([OK, OK], "protocol", "08P01");
  await loginFails([msg("R", 11, "r=x")], "protocol", "08P01"); // SASLContinue without SASL
  await loginFails([msg("R", 42)], "protocol", "08P01");
  await loginFails([msg("H", "TTP/1.1 400 Bad Request")], "protocol", "08P01");
});

Deno.test("authenticate() refuses to answer a password request without a usable password", async () => {
  for (const password of ["", "with\0nul"]) {
    const io = scripted([msg("R", 3)]);
    await rejects(authenticate(io, { ...LOGIN, password }), UpstreamError);
    equal(io.sent.length, 0);
  }
});
