/**
 * What the upstream and the agent see of a substituted credential: the agent's own
 * Authorization is replaced, a value changed in the vault applies from the next request, and a
 * streamed response is scrubbed event by event.
 *
 * @module
 */

import { equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { DEFAULT_SLOT, openVault } from "../src/credentials/mod.ts";
import { withProxy } from "./_proxy_fixture.ts";
import { API_TOKEN, fetchVia, options } from "./_credentials_fixture.ts";

Deno.test("the agent's own Authorization for a bound endpoint is replaced, never forwarded", async () => {
  await withProxy(options(), async (fx) => {
    const res = await fetchVia(fx, "https://api.test/own", {
      headers: { authorization: "Bearer agent-held-token" },
    });
    equal(res.status, 200);
    const seen = fx.seen.at(-1)!;
    equal(seen.headers.get("authorization"), null);
    ok(!JSON.stringify([...seen.headers]).includes("agent-held-token"));
  });
});

Deno.test("a value changed with the vault while the gateway runs is used from the next request on", async () => {
  await withProxy(options(), async (fx) => {
    const headers = { authorization: "Bearer {{api_token}}" };
    equal((await fetchVia(fx, "https://api.test/one", { headers })).status, 200);
    equal(fx.seen.at(-1)!.headers.get("authorization"), `Bearer ${API_TOKEN}`);

    // What `clawpatrol vault set` does: another connection to the same vault file.
    const rotated = "ghp_ROTATEDsecret_fedcba9876543210";
    const vault = await openVault(join(fx.dir, "state"));
    try {
      await vault.set("api_token", DEFAULT_SLOT, rotated);
    } finally {
      vault.close();
    }
    await new Promise((r) => setTimeout(r, 400)); // The gateway checks for changes every 250 ms.
    const res = await fetchVia(fx, "https://api.test/two", { headers });
    equal(res.status, 200);
    equal(fx.seen.at(-1)!.headers.get("authorization"), `Bearer ${rotated}`);
    ok(!res.body.includes(rotated), "the rotated value was echoed back unscrubbed");
  });
});

Deno.test("a streamed response from a credential-bound endpoint reaches the agent event by event, scrubbed", async () => {
  let firstSeen!: () => void;
  const seenByAgent = new Promise<void>((resolve) => firstSeen = resolve);
  const stream = () =>
    new Response(
      new ReadableStream({
        async start(controller) {
          const enc = new TextEncoder();
          controller.enqueue(enc.encode(`data: {"token":"${API_TOKEN}"}\n\n`));
          // The second event is sent only once the agent holds the first: a gateway that
          // buffered (or held back a fixed tail) would leave the agent waiting here.
          const waited = await Promise.race([
            seenByAgent.then(() => "ok"),
            new Promise((r) => setTimeout(() => r("timeout"), 5_000)),
          ]);
          controller.enqueue(enc.encode(`data: ${waited}\n\n`));
          controller.close();
        },
      }),
      { headers: { "content-type": "text/event-stream" } },
    );
  await withProxy(options({ handler: stream }), async (fx) => {
    const client = Deno.createHttpClient({
      proxy: {
        url: `http://127.0.0.1:${fx.proxyPort}`,
        basicAuth: { username: fx.agent, password: fx.token },
      },
      caCerts: [await Deno.readTextFile(fx.caFile)],
    });
    try {
      const res = await fetch("https://api.test/stream", {
        headers: { authorization: "Bearer {{api_token}}" },
        client,
      });
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!text.includes("\n\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      equal(text, 'data: {"token":"{{api_token}}"}\n\n');
      firstSeen();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      equal(text, 'data: {"token":"{{api_token}}"}\n\ndata: ok\n\n');
    } finally {
      client.close();
    }
  });
});
