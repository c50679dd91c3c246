import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { Buffer } from "node:buffer";
// @deno-types="npm:@types/dns-packet@5.6.5"
// Test-only, named here rather than in deno.json, so installs never fetch it.
// deno-lint-ignore no-import-prefix
import * as dnsPacket from "npm:dns-packet@5.6.1";
import { SeededRng } from "../../tests/_rng.ts";
import { type DnsContext, type DnsResult, respond, respondResolving } from "./dns.ts";
import { parseVipRange, type VipClaim, VipTable } from "./vip.ts";

const CLAIMS: VipClaim[] = [
  { host: "api.github.com", endpoint: "github" },
  { host: "*.githubusercontent.com", endpoint: "github" },
];

function context(unknownHost: "deny" | "passthrough" = "deny", table = newTable()): DnsContext {
  return { claimant: (n) => table.claimant(n), assign: (n) => table.assign(n), unknownHost };
}

function newTable(): VipTable {
  return new VipTable(parseVipRange("10.79.0.0/16"), CLAIMS);
}

/** A query built by dns-packet's encoder, RD set as a stub resolver sends it. */
function query(
  name: string,
  type: dnsPacket.RecordType = "A",
  id = 0x1234,
  flags = dnsPacket.RECURSION_DESIRED,
) {
  return new Uint8Array(
    dnsPacket.encode({ type: "query", id, flags, questions: [{ type, name, class: "IN" }] }),
  );
}

/** What dns-packet decodes; its types omit the fields it adds for rcode and opcode. */
type Decoded = dnsPacket.DecodedPacket & { rcode: string; opcode: string };

function decode(reply: Uint8Array | null): Decoded {
  assert(reply, "expected a reply");
  return dnsPacket.decode(Buffer.from(reply)) as Decoded;
}

/** A header (ID 0xbeef, RD) with `qdcount`, then `body`. */
function raw(body: number[], qdcount = 1, flags = 0x0100): Uint8Array {
  return new Uint8Array([
    0xbe,
    0xef,
    flags >> 8,
    flags & 0xff,
    0,
    qdcount,
    0,
    0,
    0,
    0,
    0,
    0,
    ...body,
  ]);
}

function rcodeOf(result: DnsResult): string | undefined {
  return decode(result.reply).rcode;
}

Deno.test("respond() answers a claimed name's A query with its VIP, authoritatively", () => {
  const table = newTable();
  const result = respond(query("api.github.com"), context("deny", table));
  const reply = decode(result.reply);
  assertEquals(reply.id, 0x1234);
  assertEquals(reply.type, "response");
  assertEquals(reply.rcode, "NOERROR");
  assert(reply.flag_aa && reply.flag_rd && !reply.flag_ra);
  assertEquals(reply.questions, [{ name: "api.github.com", type: "A", class: "IN" }]);
  assertEquals(reply.answers?.length, 1);
  const [a] = reply.answers as dnsPacket.StringAnswer[];
  assertEquals([a.name, a.type, a.ttl, a.data], [
    "api.github.com",
    "A",
    60,
    table.assign("api.github.com")!.vip,
  ]);
  assertEquals(result.event, undefined);
});

Deno.test("respond() gives each wildcard subdomain its own VIP and echoes the question's case", () => {
  const table = newTable();
  const ctx = context("deny", table);
  const raw1 = decode(respond(query("RaW.GitHubUserContent.com"), ctx).reply);
  assertEquals(raw1.questions?.[0].name, "RaW.GitHubUserContent.com");
  const avatars = decode(respond(query("avatars.githubusercontent.com"), ctx).reply);
  const vip = (p: dnsPacket.Packet) => (p.answers?.[0] as dnsPacket.StringAnswer).data;
  assert(vip(raw1) !== vip(avatars));
  assertEquals(table.lookup(vip(raw1))?.name, "raw.githubusercontent.com");
});

Deno.test("respond() answers AAAA and other types for claimed names with NOERROR and no data", () => {
  for (const type of ["AAAA", "MX", "TXT", "HTTPS"] as dnsPacket.RecordType[]) {
    const reply = decode(respond(query("api.github.com", type), context()).reply);
    assertEquals([reply.rcode, reply.answers?.length, reply.flag_aa], ["NOERROR", 0, true], type);
  }
});

Deno.test("respond() denies an unclaimed name with NXDOMAIN and a refusal", () => {
  const result = respond(query("evil.example"), context("deny"));
  assertEquals(rcodeOf(result), "NXDOMAIN");
  assertEquals(decode(result.reply).questions?.[0].name, "evil.example");
  assertEquals(result.event, {
    kind: "refused",
    name: "evil.example",
    reason: "no endpoint claims this host",
  });
});

Deno.test("respond() hands a passthrough name to the caller to resolve, and records it", () => {
  const result = respond(query("pypi.org"), context("passthrough"));
  assertEquals(result.reply, null);
  assertEquals(result.event, { kind: "passthrough", name: "pypi.org" });
  const pending = result.passthrough!;
  assertEquals([pending.name, pending.type], ["pypi.org", "A"]);
  const reply = decode(pending.answer(["151.101.0.223", "::1", "bogus", "151.101.64.223"]));
  assertEquals(reply.id, 0x1234);
  assertEquals((reply.answers as dnsPacket.StringAnswer[]).map((a) => a.data), [
    "151.101.0.223",
    "151.101.64.223",
  ]);
  assert(!reply.flag_aa, "a passthrough answer is not ours to vouch for");
  assertEquals(decode(pending.fail("NXDOMAIN")).rcode, "NXDOMAIN");
  assertEquals(decode(pending.fail("SERVFAIL")).rcode, "SERVFAIL");
});

Deno.test("respondResolving() runs a passthrough through the injected resolver", async () => {
  const asked: string[] = [];
  const resolve = (name: string, type: "A" | "AAAA") => {
    asked.push(`${type} ${name}`);
    if (name === "gone.example") return Promise.resolve("NXDOMAIN" as const);
    if (name === "down.example") return Promise.reject(new Error("timeout"));
    return Promise.resolve(type === "A" ? ["192.0.2.1"] : ["2001:db8::1", "::ffff:192.0.2.1"]);
  };
  const ctx = context("passthrough");
  const six = await respondResolving(query("pypi.org", "AAAA"), ctx, resolve);
  assertEquals((decode(six.reply).answers as dnsPacket.StringAnswer[]).map((a) => a.data), [
    "2001:db8::1",
    "::ffff:c000:201",
  ]);
  assertEquals(rcodeOf(await respondResolving(query("gone.example"), ctx, resolve)), "NXDOMAIN");
  assertEquals(rcodeOf(await respondResolving(query("down.example"), ctx, resolve)), "SERVFAIL");
  // A claimed name never reaches the resolver.
  const claimed = await respondResolving(query("api.github.com"), ctx, resolve);
  assertEquals(decode(claimed.reply).answers?.length, 1);
  assertEquals(asked, ["AAAA pypi.org", "A gone.example", "A down.example"]);
});

Deno.test("respond() under passthrough resolves only host names' addresses", () => {
  const ctx = context("passthrough");
  const mx = respond(query("pypi.org", "MX"), ctx);
  assertEquals([rcodeOf(mx), decode(mx.reply).answers?.length, mx.passthrough], [
    "NOERROR",
    0,
    undefined,
  ]);
  const odd = respond(raw([3, 0x61, 0x2e, 0x62, 3, 0x63, 0x6f, 0x6d, 0, 0, 1, 0, 1]), ctx);
  assertEquals(rcodeOf(odd), "NXDOMAIN");
  assertEquals(odd.event, { kind: "refused", name: "a\\.b.com", reason: "not a host name" });
});

Deno.test("respond() refuses ANY, AXFR and IXFR, and classes other than IN", () => {
  for (const type of ["ANY", "AXFR", "IXFR"] as dnsPacket.RecordType[]) {
    const result = respond(query("api.github.com", type), context());
    assertEquals(rcodeOf(result), "REFUSED");
    assertEquals(result.event?.kind, "refused");
  }
  const chaos = dnsPacket.encode({
    type: "query",
    id: 7,
    questions: [{ type: "TXT", name: "version.bind", class: "CH" }],
  });
  const result = respond(new Uint8Array(chaos), context());
  assertEquals(rcodeOf(result), "REFUSED");
  assertEquals(result.event, {
    kind: "refused",
    name: "version.bind",
    reason: "class 3 not served",
  });
});

Deno.test("respond() answers opcodes other than QUERY with NOTIMP, echoing the question", () => {
  const notify = query("api.github.com", "A", 9, 4 << 11);
  const reply = decode(respond(notify, context()).reply);
  assertEquals([reply.id, reply.rcode, reply.opcode], [9, "NOTIMP", "NOTIFY"]);
  assertEquals(reply.questions?.[0].name, "api.github.com");
});

Deno.test("respond() answers QDCOUNT 0 and 2 with FORMERR", () => {
  const empty = respond(raw([], 0), context());
  assertEquals([decode(empty.reply).id, rcodeOf(empty)], [0xbeef, "FORMERR"]);
  assertEquals(empty.event?.kind, "malformed");
  const q = [3, 0x63, 0x6f, 0x6d, 0, 0, 1, 0, 1];
  assertEquals(rcodeOf(respond(raw([...q, ...q], 2), context())), "FORMERR");
});

Deno.test("respond() sends nothing for a response or a packet shorter than a header", () => {
  const response = new Uint8Array(dnsPacket.encode({
    type: "response",
    id: 1,
    questions: [{ type: "A", name: "api.github.com", class: "IN" }],
  }));
  assertEquals(respond(response, context()), { reply: null });
  assertEquals(respond(new Uint8Array(11), context()), { reply: null });
  assertEquals(respond(new Uint8Array(0), context()), { reply: null });
});

Deno.test("respond() answers hostile names with FORMERR, without hanging", () => {
  const c3 = [3, 0x63, 0x6f, 0x6d]; // "com"
  const cases: [string, number[]][] = [
    ["pointer to itself", [0xc0, 12, 0, 1, 0, 1]],
    ["pointers pointing at each other", [0xc0, 14, 0xc0, 12, 0, 1, 0, 1]],
    ["label then pointer back to its start", [...c3, 0xc0, 12, 0, 1, 0, 1]],
    ["pointer past the end", [0xc3, 0xff, 0, 1, 0, 1]],
    ["pointer forward", [0xc0, 20, 0, 1, 0, 1, 0, 0, 3, 0x63, 0x6f, 0x6d, 0]],
    ["pointer into the header", [0xc0, 2, 0, 1, 0, 1]],
    ["pointer cut short", [0xc0]],
    ["label length past the end", [40, 0x61, 0x62]],
    ["label type 0x40 (a 64-byte label)", [0x40, ...new Array(64).fill(0x61), 0, 0, 1, 0, 1]],
    ["label type 0x80", [0x80, 0, 0, 1, 0, 1]],
    ["no terminating zero", c3],
    ["type and class missing", [...c3, 0, 0, 1]],
    ["256-byte name", [...nameOfWireLength(256), 0, 1, 0, 1]],
  ];
  for (const [what, body] of cases) {
    const result = respond(raw(body), context());
    const reply = decode(result.reply);
    assertEquals([reply.id, reply.rcode, reply.questions?.length], [0xbeef, "FORMERR", 0], what);
  }
  assertEquals(
    rcodeOf(respond(raw([...nameOfWireLength(255), 0, 1, 0, 1]), context())),
    "NXDOMAIN",
  );
});

/** A name whose wire form (length bytes and root included) is `n` bytes. */
function nameOfWireLength(n: number): number[] {
  const out: number[] = [];
  let left = n - 1;
  while (left > 0) {
    const len = Math.min(63, left - 1);
    out.push(len, ...new Array(len).fill(0x61));
    left -= len + 1;
  }
  return [...out, 0];
}

Deno.test("respond() never lets a dot inside a label match a claimed name", () => {
  const label = [...new TextEncoder().encode("api.github")];
  const result = respond(
    raw([label.length, ...label, 3, 0x63, 0x6f, 0x6d, 0, 0, 1, 0, 1]),
    context(),
  );
  assertEquals(rcodeOf(result), "NXDOMAIN");
  assertEquals(result.event, {
    kind: "refused",
    name: "api\\.github.com",
    reason: "no endpoint claims this host",
  });
});

Deno.test("respond() fails closed: SERVFAIL when the context throws or no VIP is free", () => {
  const throwing: DnsContext = {
    claimant: () => {
      throw new Error("boom");
    },
    assign: () => null,
    unknownHost: "passthrough",
  };
  assertEquals(rcodeOf(respond(query("api.github.com"), throwing)), "SERVFAIL");
  const full: DnsContext = { claimant: () => "github", assign: () => null, unknownHost: "deny" };
  const result = respond(query("x.githubusercontent.com"), full);
  assertEquals(rcodeOf(result), "SERVFAIL");
  assertEquals(result.event?.kind, "refused");
});

Deno.test("respond() on 10k random packets never throws; every reply decodes and echoes the ID", () => {
  const rng = new SeededRng(0xd45);
  const seeds = [
    query("api.github.com"),
    query("x.githubusercontent.com", "AAAA"),
    query("evil.test"),
  ];
  const rcodes = new Map<string, number>();
  for (let i = 0; i < 10_000; i++) {
    const packet = i % 2 === 0 ? randomBytes(rng) : mutate(rng, rng.pick(seeds));
    const { reply } = respond(packet, context(i % 3 === 0 ? "passthrough" : "deny"));
    if (!reply) continue;
    const decoded = decode(reply);
    assertEquals(decoded.id, (packet[0] << 8) | packet[1], `packet ${i}`);
    rcodes.set(decoded.rcode, (rcodes.get(decoded.rcode) ?? 0) + 1);
  }
  // The fuzz reached past the header checks: answers and refusals both happened.
  for (const rcode of ["NOERROR", "NXDOMAIN", "FORMERR", "NOTIMP"]) {
    assert(rcodes.get(rcode), rcode);
  }
});

function randomBytes(rng: SeededRng): Uint8Array {
  const out = new Uint8Array(rng.int(80));
  for (let i = 0; i < out.length; i++) out[i] = rng.int(256);
  // Mostly queries, so the name walker sees most of them.
  if (out.length > 3 && rng.chance(0.8)) out[2] &= 0x7f;
  if (out.length > 5 && rng.chance(0.8)) [out[4], out[5]] = [0, 1];
  return out;
}

function mutate(rng: SeededRng, seed: Uint8Array): Uint8Array {
  const out = seed.slice(0, rng.chance(0.2) ? rng.int(seed.length + 1) : seed.length);
  for (let n = rng.int(4); n > 0 && out.length > 12; n--) {
    out[12 + rng.int(out.length - 12)] = rng.int(256);
  }
  if (out.length > 3 && rng.chance(0.2)) out[2] = rng.int(256) & 0x7f;
  return out;
}

Deno.test("dns-packet's own decoder throws on pointer loops rather than hanging", () => {
  // Recorded so a dependency update that changes this is noticed; respond() never relies on it.
  for (const body of [[0xc0, 12, 0, 1, 0, 1], [0xc0, 14, 0xc0, 12, 0, 1, 0, 1], [0xc3, 0xff]]) {
    let threw = false;
    try {
      dnsPacket.decode(Buffer.from(raw(body)));
    } catch {
      threw = true;
    }
    assert(threw);
  }
});
