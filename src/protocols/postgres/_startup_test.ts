import { deepEqual, equal, match, ok } from "node:assert/strict";
import net from "node:net";
import { createHash, createHmac, pbkdf2Sync } from "node:crypto";
import type { GatewayEvent } from "../../core/mod.ts";
import type { PostgresContext, PostgresLogLevel, PostgresScramVerifiers } from "./context.ts";
import { FrontendDecoder } from "./_frontend.ts";
import { passwordMessage, saslInitialResponse, saslResponse, startupMessage } from "./_encode.ts";
import { parseErrorFields } from "./_backend.ts";
import { startupDeadline } from "./_reader.ts";
import { startup, wrongToken } from "./_startup.ts";
import { startupFailed } from "./_login_refusal.ts";
import { ScramClient } from "./_scram.ts";
import { SCRAM } from "./_scram_server.ts";
import { RawPg } from "../../../tests/_pg_raw.ts";

const TOKEN = "cpat_the-right-token";
const WRONG = "cpat_WRONG-secret-never-echoed";
const AGENT = { name: "bot", profile: "bots" };

/** The one agent's SCRAM keys (RFC 5802 §3), as the registry hands them to the listener. */
function verifiers(): PostgresScramVerifiers {
  const salt = new TextEncoder().encode("test-salt");
  const salted = pbkdf2Sync(TOKEN, salt, 4096, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = new Uint8Array(createHash("sha256").update(clientKey).digest());
  const serverKey = new Uint8Array(createHmac("sha256", salted).update("Server Key").digest());
  return { salt, iterations: 4096, keys: [{ agent: AGENT, storedKey, serverKey }] };
}

interface Logged {
  level: PostgresLogLevel;
  message: string;
  fields?: Record<string, unknown>;
}

/**
 * A loopback server that runs the listener's startup and, when it fails, its refusal: what the
 * operator's log and the receipts saw is returned with the client.
 */
async function gatewayStartup(scram: boolean) {
  const logs: Logged[] = [];
  const refusals: GatewayEvent[] = [];
  const ctx = {
    authenticate: (password: string) => password === TOKEN ? AGENT : null,
    scramVerifiers: () => scram ? verifiers() : null,
    log: (level: PostgresLogLevel, message: string, fields?: Record<string, unknown>) =>
      logs.push({ level, message, fields }),
  } as unknown as PostgresContext;
  const route = {
    name: "pg",
    upstreamHost: "127.0.0.1",
    upstreamPort: 1,
    sslmode: "disable",
    listenTls: false,
  } as const;
  const scope = {
    endpoint: "pg",
    actions: {
      refuse: (event: GatewayEvent) => {
        refusals.push(event);
        return "rcpt_test";
      },
    },
    log: ctx.log,
  };
  const done = Promise.withResolvers<void>();
  const server = net.createServer(async (socket) => {
    const state = { socket, decoder: new FrontendDecoder({ maxMessageBytes: 1 << 20 }) };
    const { deadline, cancel } = startupDeadline(10_000);
    try {
      await startup(state, route, ctx, deadline);
      socket.destroy();
    } catch (err) {
      startupFailed(scope, state.socket, err);
    } finally {
      cancel();
      done.resolve();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  const client = await RawPg.open(port);
  const close = async () => {
    client.close();
    await done.promise;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { client, logs, refusals, close };
}

async function assertWrongTokenRefused(
  gw: Awaited<ReturnType<typeof gatewayStartup>>,
  auth: "scram" | "cleartext",
): Promise<void> {
  const [error] = await gw.client.untilClosed();
  equal(error.type, "E");
  const fields = parseErrorFields(error.frame.body);
  equal(fields.get("S"), "FATAL");
  equal(fields.get("C"), "28P01");
  equal(
    fields.get("M"),
    'password authentication failed for user "agent_ro": the password is your agent token (clawpatrol agent add / rotate)',
  );
  equal(fields.get("D"), "receipt rcpt_test");
  await gw.close();
  // The operator hears of it once, at warn, with who it claimed to be and from where.
  const warned = gw.logs.filter((l) => l.level === "warn");
  equal(warned.length, 1, JSON.stringify(gw.logs));
  equal(warned[0].message, "postgres login refused: the password is not an agent token");
  const { client, ...rest } = warned[0].fields ?? {};
  deepEqual(rest, { endpoint: "pg", user: "agent_ro", auth });
  match(String(client), /^127\.0\.0\.1:\d+$/);
  equal(gw.refusals.length, 1);
  equal(gw.refusals[0].summary, "login as agent_ro");
  equal(gw.refusals[0].agent, null);
  // What was sent is in neither the answer, the log nor the receipt.
  const everything = JSON.stringify([[...fields], gw.logs, gw.refusals]);
  ok(!everything.includes("WRONG"), everything);
}

Deno.test("a wrong token in a cleartext login gets 28P01 naming the agent token, a warn line and a receipt", async () => {
  const gw = await gatewayStartup(false);
  await gw.client.send(startupMessage([["user", "agent_ro"], ["database", "app"]]));
  const ask = await gw.client.next();
  equal(ask.type, "R");
  equal(new DataView(ask.frame.body.buffer, ask.frame.body.byteOffset).getInt32(0), 3);
  await gw.client.send(passwordMessage(WRONG));
  await assertWrongTokenRefused(gw, "cleartext");
});

Deno.test("a wrong token in a SCRAM login gets 28P01 naming the agent token, a warn line and a receipt", async () => {
  const gw = await gatewayStartup(true);
  await gw.client.send(startupMessage([["user", "agent_ro"], ["database", "app"]]));
  const ask = await gw.client.next();
  equal(ask.type, "R");
  equal(new DataView(ask.frame.body.buffer, ask.frame.body.byteOffset).getInt32(0), 10);
  const scram = new ScramClient(WRONG);
  await gw.client.send(saslInitialResponse(SCRAM, new TextEncoder().encode(scram.clientFirst())));
  const serverFirst = await gw.client.next();
  const body = serverFirst.frame.body;
  equal(new DataView(body.buffer, body.byteOffset).getInt32(0), 11);
  const final = await scram.clientFinal(new TextDecoder().decode(body.subarray(4)));
  await gw.client.send(saslResponse(new TextEncoder().encode(final)));
  await assertWrongTokenRefused(gw, "scram");
});

Deno.test("wrongToken() keeps PostgreSQL's wording first, for clients that match on it", () => {
  match(wrongToken("u"), /^password authentication failed for user "u": /);
});
