import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import { SeededRng } from "../../tests/_rng.ts";
import { formatIpv4, parseIpv4, parseVipRange, type VipClaim, VipTable } from "./vip.ts";

const GITHUB: VipClaim[] = [
  { host: "api.github.com", endpoint: "github" },
  { host: "*.githubusercontent.com", endpoint: "github" },
  { host: "api.openai.com", endpoint: "openai" },
];

Deno.test("parseVipRange() accepts IPv4 CIDR and reserves the first usable address", () => {
  const range = parseVipRange("10.79.0.0/16");
  assertEquals(range.prefix, 16);
  assertEquals(range.size, 65536);
  assertEquals(formatIpv4(range.base), "10.79.0.0");
  assertEquals(range.gateway, "10.79.0.1");
  assertEquals(parseVipRange(" 100.64.0.0/10 ").size, 2 ** 22);
});

Deno.test("parseVipRange() refuses what is not IPv4 CIDR, with the reason", () => {
  const cases: [string, RegExp][] = [
    ["10.79.0.0", /expected IPv4 CIDR/],
    ["fd00::/64", /expected IPv4 CIDR/],
    ["10.79.0/16", /expected IPv4 CIDR/],
    ["10.79.0.256/24", /expected IPv4 CIDR/],
    ["10.079.0.0/16", /expected IPv4 CIDR/],
    ["10.79.0.0/", /expected IPv4 CIDR/],
    ["", /expected IPv4 CIDR/],
  ];
  for (const [text, message] of cases) {
    throws(() => parseVipRange(text), (e) => e instanceof SyntaxError && message.test(e.message));
  }
  throws(
    () => parseVipRange("10.79.0.0/29"),
    (e) => e instanceof RangeError && /\/8 to \/28/.test(e.message),
  );
  throws(() => parseVipRange("10.79.0.0/32"), RangeError);
  throws(() => parseVipRange("0.0.0.0/0"), RangeError);
  throws(
    () => parseVipRange("10.79.1.0/16"),
    (e) =>
      e instanceof RangeError && e.message.includes("host bits set, did you mean '10.79.0.0/16'"),
  );
});

Deno.test("parseIpv4() is strict about octets", () => {
  assertEquals(parseIpv4("255.255.255.255"), 0xffffffff);
  assertEquals(parseIpv4("1.2.3"), null);
  assertEquals(parseIpv4("01.2.3.4"), null);
  assertEquals(parseIpv4("1.2.3.4.5"), null);
  assertEquals(parseIpv4("1.2.3.-4"), null);
});

Deno.test("VipTable gives the same addresses to the same claims in any order", () => {
  const range = parseVipRange("10.79.0.0/16");
  const a = new VipTable(range, GITHUB);
  const b = new VipTable(range, [...GITHUB].reverse());
  for (const name of ["api.github.com", "api.openai.com", "raw.githubusercontent.com"]) {
    assertEquals(a.assign(name), b.assign(name));
  }
});

Deno.test("VipTable keeps existing addresses when names are added", () => {
  const range = parseVipRange("10.79.0.0/16");
  const before = new VipTable(range, GITHUB);
  const extra = Array.from(
    { length: 50 },
    (_, i) => ({ host: `h${i}.example.com`, endpoint: "x" }),
  );
  const after = new VipTable(range, [...GITHUB, ...extra]);
  assertEquals(after.assign("api.github.com"), before.assign("api.github.com"));
  assertEquals(after.assign("api.openai.com"), before.assign("api.openai.com"));
});

Deno.test("VipTable resolves a collision by probing to the next free address", () => {
  // /28: 13 usable VIPs, so 13 names fill it and every slot is taken exactly once.
  const range = parseVipRange("10.0.0.0/28");
  const claims = Array.from({ length: 13 }, (_, i) => ({ host: `n${i}.test`, endpoint: "e" }));
  const table = new VipTable(range, claims);
  const vips = claims.map((c) => table.assign(c.host)!.vip);
  assertEquals(new Set(vips).size, 13);
  throws(
    () => new VipTable(range, [...claims, { host: "n13.test", endpoint: "e" }]),
    /Cannot fit 14 host names/,
  );
});

Deno.test("VipTable probing: of two colliding names, the one sorting first keeps the slot", () => {
  const range = parseVipRange("10.0.0.0/28");
  const home = (host: string) => new VipTable(range, [{ host, endpoint: "e" }]).assign(host)!.vip;
  const byHome = new Map<string, string[]>();
  for (let i = 0; i < 40; i++) {
    const host = `c${i}.test`;
    byHome.set(home(host), [...(byHome.get(home(host)) ?? []), host]);
  }
  const [vip, hosts] = [...byHome].find(([, hosts]) => hosts.length >= 2)!;
  const [first, second] = hosts.slice(0, 2).sort();
  const table = new VipTable(range, [{ host: second, endpoint: "e" }, {
    host: first,
    endpoint: "e",
  }]);
  assertEquals(table.assign(first)!.vip, vip);
  // The next address up, wrapping from the last VIP (.14) to the first (.2).
  const next = parseIpv4(vip)! === parseIpv4("10.0.0.14")
    ? "10.0.0.2"
    : formatIpv4(parseIpv4(vip)! + 1);
  assertEquals(table.assign(second)!.vip, next);
});

Deno.test("VipTable never hands out the network, gateway or broadcast address", () => {
  const range = parseVipRange("192.168.7.0/28");
  const claims = Array.from({ length: 6 }, (_, i) => ({ host: `e${i}.test`, endpoint: "e" }));
  const table = new VipTable(range, [...claims, { host: "*.wild.test", endpoint: "w" }], {
    maxWildcardNames: 100,
  });
  const seen = new Set<string>();
  for (const c of claims) seen.add(table.assign(c.host)!.vip);
  for (let i = 0; i < 200; i++) seen.add(table.assign(`x${i}.wild.test`)!.vip);
  assertEquals(table.wildcardCapacity, 7);
  assertEquals(seen.size, 13);
  for (const reserved of ["192.168.7.0", "192.168.7.1", "192.168.7.15"]) {
    assert(!seen.has(reserved), `${reserved} handed out`);
    assertEquals(table.lookup(reserved), null);
  }
});

Deno.test("VipTable maps a VIP back to its name and endpoint", () => {
  const table = new VipTable(parseVipRange("10.79.0.0/16"), GITHUB);
  const api = table.assign("API.GitHub.com.")!;
  assertEquals(table.lookup(api.vip), { name: "api.github.com", endpoint: "github", vip: api.vip });
  const raw = table.assign("raw.githubusercontent.com")!;
  assertEquals(table.lookup(raw.vip)?.name, "raw.githubusercontent.com");
  assertEquals(table.lookup("10.79.0.1"), null);
  assertEquals(table.lookup("not an address"), null);
});

Deno.test("VipTable claims: exact beats wildcard, a wildcard excludes its apex, names are checked", () => {
  const table = new VipTable(parseVipRange("10.79.0.0/16"), [
    { host: "*.example.com", endpoint: "wild" },
    { host: "*.deep.example.com", endpoint: "deeper" },
    { host: "exact.example.com", endpoint: "exact" },
  ]);
  assertEquals(table.claimant("exact.example.com"), "exact");
  assertEquals(table.claimant("a.b.example.com"), "wild");
  assertEquals(table.claimant("x.deep.example.com"), "deeper");
  assertEquals(table.claimant("example.com"), null);
  assertEquals(table.claimant("*.example.com"), null);
  assertEquals(table.claimant("a\\.b.example.com"), null);
  assertEquals(table.assign("unclaimed.test"), null);
  throws(
    () => new VipTable(parseVipRange("10.79.0.0/16"), [{ host: "a.*.b", endpoint: "e" }]),
    RangeError,
  );
});

Deno.test("VipTable gives each wildcard subdomain its own VIP", () => {
  const table = new VipTable(parseVipRange("10.79.0.0/16"), GITHUB);
  const names = ["raw", "avatars", "objects", "camo"].map((s) => `${s}.githubusercontent.com`);
  const vips = names.map((n) => table.assign(n)!.vip);
  assertEquals(new Set(vips).size, names.length);
  assertEquals(names.map((n) => table.assign(n)!.vip), vips, "a second ask changes nothing");
});

Deno.test("VipTable stays within its wildcard cap under 100k random subdomains", () => {
  const table = new VipTable(parseVipRange("10.79.0.0/16"), GITHUB, { maxWildcardNames: 1000 });
  const rng = new SeededRng(19);
  const keep = table.assign("raw.githubusercontent.com")!;
  for (let i = 0; i < 100_000; i++) {
    table.assign(`${rng.next().toString(36)}${i}.githubusercontent.com`);
    // A name in use (its VIP connected to) is refreshed and survives the flood.
    if (i % 500 === 0) assertEquals(table.lookup(keep.vip)?.name, keep.name);
  }
  assertEquals(table.wildcardNames, 1000);
  assertEquals(table.size, 1000 + 2);
  assertEquals(table.assign("raw.githubusercontent.com"), keep);
  assertEquals(table.assign("api.github.com")?.endpoint, "github", "exact names are never evicted");
});

Deno.test("VipTable re-places an evicted wildcard name and frees its old address", () => {
  const table = new VipTable(parseVipRange("10.0.0.0/28"), GITHUB, { maxWildcardNames: 2 });
  const a = table.assign("a.githubusercontent.com")!;
  table.assign("b.githubusercontent.com");
  table.assign("c.githubusercontent.com"); // evicts a
  assertEquals(table.wildcardNames, 2);
  assert(table.lookup(a.vip)?.name !== "a.githubusercontent.com");
  assertEquals(table.assign("a.githubusercontent.com")?.name, "a.githubusercontent.com");
});
