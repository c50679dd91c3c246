// Adding a protocol is its folder plus one registry line: `echo`, a line protocol declared only
// in tests/_echo_protocol.ts, runs through the real config loader, policy compiler, pipeline
// Guard, approval queue and receipt store with the registry PROTOCOLS + echo, and gets decide,
// approve and audit without a line of gateway code naming it.
import { deepStrictEqual as assertEquals, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { AgentRegistry } from "../src/agents/mod.ts";
import { queryReceipts } from "../src/audit/mod.ts";
import { createState, Gateway, MemoryLogger } from "../src/gateway/mod.ts";
import { PROTOCOLS } from "../src/protocols/registry.ts";
import { eventually, withTempDir } from "./_helpers.ts";
import { gatewayHeader } from "./_gateway.ts";
import { ECHO_PROTOCOL, linesOf, startEchoUpstream } from "./_echo_protocol.ts";

function config(upstreamPort: number): string {
  return `${gatewayHeader()}
endpoint "echo" "talk" {
  listen   = "127.0.0.1:0"
  upstream = "127.0.0.1:${upstreamPort}"
}
profile "default" {
  endpoints = [echo.talk]
}
approver "human_approver" "ops" {
  timeout = "30s"
}
rule "no-drops" {
  endpoint  = echo.talk
  priority  = 10
  condition = "echo.line.startsWith('drop')"
  verdict   = "deny"
  reason    = "drops are not allowed"
}
rule "asks-need-ops" {
  endpoint  = echo.talk
  priority  = 10
  condition = "echo.line.startsWith('ask')"
  approve   = [human_approver.ops]
  reason    = "asks need an operator"
}
rule "the-rest" {
  endpoint  = echo.talk
  condition = "true"
  verdict   = "allow"
}
`;
}

/** An agent's line connection to the echo listener, logged in with its token. */
async function connect(port: number, token: string) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const lines = linesOf(conn.readable);
  const send = async (line: string): Promise<string> => {
    await conn.write(new TextEncoder().encode(`${line}\n`));
    const answer = await lines.next();
    return answer.done ? "" : answer.value;
  };
  return { send, login: () => send(token), close: () => conn.close() };
}

Deno.test("a protocol declared only in a test gets decide, approve and audit from the registry", async () => {
  const upstream = startEchoUpstream();
  await withTempDir(async (dir) => {
    const path = join(dir, "gateway.hcl");
    await Deno.writeTextFile(path, config(upstream.port));
    const stateDir = join(dir, "state");
    await createState(stateDir, false);
    const token = AgentRegistry.open(stateDir).add("bot", "default");
    const log = new MemoryLogger();
    const gateway = await Gateway.start(path, {
      log,
      version: "test",
      watch: false,
      protocols: [...PROTOCOLS, ECHO_PROTOCOL],
    });
    try {
      const address = gateway.listenerAddresses("echo").get("talk");
      ok(address, "the echo endpoint has its own listener");
      match(log.messages("info").join("\n"), /serving: .*, echo talk on 127\.0\.0\.1:\d+/);
      const agent = await connect(address.port, token);
      try {
        equal(await agent.login(), "OK");
        equal(await agent.send("hello"), "echo: hello");
        const denied = await agent.send("drop table");
        match(denied, /^DENIED drops are not allowed \S+$/);

        const answer = agent.send("ask nicely");
        const pending = await eventually("the held line in the approval queue", () => {
          const list = gateway.approvalQueue.list();
          return list.length === 1 ? list[0] : undefined;
        });
        equal(pending.request.protocol, "echo");
        equal(pending.request.summary, "ask nicely");
        assertEquals(upstream.seen, ["hello"], "a held line waits before the upstream");
        equal(gateway.approvalQueue.decide(pending.request.id, "allow", "cli:ops"), "decided");
        equal(await answer, "echo: ask nicely");
        assertEquals(upstream.seen, ["hello", "ask nicely"], "a denied line never reaches it");

        await gateway.settled();
        const receipts = await queryReceipts(join(stateDir, "receipts.db"));
        const echo = receipts.filter((r) => r.protocol === "echo");
        assertEquals(
          echo.map((r) => [r.summary, r.verdict, r.rule]).sort(),
          [
            ["ask nicely", "allow", "asks-need-ops"],
            ["drop table", "deny", "no-drops"],
            ["hello", "allow", "the-rest"],
          ],
          "exactly one receipt per line",
        );
        const held = echo.find((r) => r.rule === "asks-need-ops")!;
        assertEquals(held.approvals.map((a) => a.who), ["cli:ops"]);
        ok(
          denied.endsWith(echo.find((r) => r.rule === "no-drops")!.id),
          "DENIED names its receipt",
        );
      } finally {
        agent.close();
      }
    } finally {
      await gateway.stop();
      await upstream.close();
    }
  });
});
