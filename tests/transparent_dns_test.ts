// The gateway's DNS responder (gateway.transparent), asked by a real resolver client (`dig`):
// endpoint names get stable virtual IPs from the range, other names are refused with a receipt,
// zone transfers and ANY are refused, a reload keeps the addresses of names that stay, and a
// flood of random names neither stops the answers nor floods the receipts.
import { deepEqual, equal, match, notEqual, ok } from "node:assert/strict";
import dgram from "node:dgram";
import { join } from "node:path";
import { queryReceipts } from "../src/audit/mod.ts";
import type { Gateway } from "../src/gateway/mod.ts";
import { eventually, withTempDir } from "./_helpers.ts";
import { startTestGateway } from "./_gateway.ts";
import { seededRandom } from "./_rng.ts";

const CONFIG = `schema_version = 1
gateway {
  state_dir    = "./state"
  proxy_listen = "127.0.0.1:0"
  admin_listen = "127.0.0.1:0"
  transparent {
    vip_range  = "10.79.0.0/16"
    dns_listen = "127.0.0.1:0"
  }
}
endpoint "https" "github" {
  hosts = ["api.github.com", "*.githubusercontent.com"]
}
endpoint "postgres" "db" {
  host   = "db.internal:5432"
  listen = "127.0.0.1:0"
}
profile "bots" {
  endpoints = [https.github, postgres.db]
}
`;

/** `dig` answers: the status and the A records. */
async function dig(port: number, name: string, ...extra: string[]) {
  const out = await new Deno.Command("dig", {
    args: ["@127.0.0.1", "-p", String(port), "+tries=1", "+time=5", name, ...extra],
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const status = text.match(/status: (\w+)/)?.[1];
  const answers = [...text.matchAll(/\sIN\s+A\s+(\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]);
  return { status, answers, text };
}

/** The responder's port, as `/status` reports it. */
async function dnsPort(gateway: Gateway): Promise<number> {
  const { hostname, port } = gateway.adminAddress;
  const status = await (await fetch(`http://${hostname}:${port}/status`)).json();
  const dns = status.transparent.dns as string;
  return Number(dns.slice(dns.lastIndexOf(":") + 1));
}

/** The committed receipts of DNS decisions. */
function dnsReceipts(dir: string) {
  return queryReceipts(join(dir, "state", "receipts.db")).filter((r) => r.protocol === "dns");
}

Deno.test("dig gets virtual IPs for endpoint names and NXDOMAIN, with a receipt, for the rest", async () => {
  await withTempDir(async (dir) => {
    const { gateway, log } = await startTestGateway(dir, CONFIG, {}, {
      name: "bot",
      profile: "bots",
    });
    try {
      const port = await dnsPort(gateway);
      const github = await dig(port, "api.github.com");
      equal(github.status, "NOERROR", github.text);
      equal(github.answers.length, 1);
      match(github.answers[0], /^10\.79\.\d+\.\d+$/);
      notEqual(github.answers[0], "10.79.0.1", "the gateway's own address is never a VIP");
      deepEqual((await dig(port, "API.GitHub.com.")).answers, github.answers, "stable, any case");
      const db = await dig(port, "db.internal", "+tcp");
      equal(db.status, "NOERROR", db.text);
      notEqual(db.answers[0], github.answers[0]);
      const raw = await dig(port, "raw.githubusercontent.com");
      equal(raw.answers.length, 1, "a wildcard's names get addresses too");

      const evil = await dig(port, "exfil.evil.test");
      equal(evil.status, "NXDOMAIN", evil.text);
      equal((await dig(port, "api.github.com", "ANY")).status, "REFUSED");
      const axfr = await dig(port, "github.com", "AXFR");
      ok(!/\sIN\s+SOA\s/.test(axfr.text), `no zone is transferred: ${axfr.text}`);

      // A reload adds a name: the existing ones keep their addresses.
      const text = await Deno.readTextFile(join(dir, "gateway.hcl"));
      await Deno.writeTextFile(
        join(dir, "gateway.hcl"),
        text.replace(
          'hosts = ["api.github.com"',
          'hosts = ["uploads.github.com", "api.github.com"',
        ),
      );
      ok(await gateway.reload());
      deepEqual((await dig(port, "api.github.com")).answers, github.answers);
      equal((await dig(port, "uploads.github.com")).status, "NOERROR");

      const refused = await eventually("the refusal's receipt", () => {
        const found = dnsReceipts(dir).filter((r) => r.summary.startsWith("DNS exfil.evil.test"));
        return found.length > 0 ? found : undefined;
      });
      equal(refused[0].verdict, "deny");
      match(refused[0].summary, /from 127\.0\.0\.1$/);
      deepEqual(log.messages("error"), []);
    } finally {
      await gateway.stop();
    }
  });
});

Deno.test("a flood of random names is answered and its receipts are capped per address", async () => {
  await withTempDir(async (dir) => {
    const { gateway } = await startTestGateway(dir, CONFIG, {}, { name: "bot", profile: "bots" });
    const socket = dgram.createSocket("udp4");
    try {
      const port = await dnsPort(gateway);
      const random = seededRandom(19);
      let answered = 0;
      socket.on("message", () => answered++);
      await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
      // 2,000 distinct random names, sent in bursts the server may shed (clients retry). Each
      // burst waits (a bounded while) for its answers: on a busy machine a burst sent on top of
      // unread ones would overflow the socket's buffer, which is the kernel shedding, not us.
      for (let i = 0; i < 2_000; i++) {
        const name = `${Math.floor(random() * 1e12).toString(36)}.flood.test`;
        socket.send(query(i, name), port, "127.0.0.1");
        if (i % 100 === 99) {
          for (let wait = 0; wait < 100 && answered <= i; wait++) {
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
        }
      }
      // The responder still answers a real question after the flood.
      const after = await dig(port, "api.github.com");
      equal(after.status, "NOERROR", after.text);
      ok(answered > 1_000, `answered ${answered} of 2000`);
      const dns = await eventually("the flood notice", () => {
        const found = dnsReceipts(dir);
        return found.some((r) => /more than 100 names refused/.test(r.reason)) ? found : undefined;
      });
      ok(dns.length <= 101, `${dns.length} receipts: at most 100 names and one flood notice`);
    } finally {
      socket.close();
      await gateway.stop();
    }
  });
});

/** A minimal DNS query for `name` (A, recursion desired). */
function query(id: number, name: string): Uint8Array {
  const labels = name.split(".").flatMap((l) => [l.length, ...new TextEncoder().encode(l)]);
  return new Uint8Array([
    id >> 8 & 255,
    id & 255,
    1,
    0,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    ...labels,
    0,
    0,
    1,
    0,
    1,
  ]);
}
