import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { ipv4Bytes, ipv6Bytes, isHostName, presentName, readName } from "./_wire.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("readName() follows a pointer back to an earlier name", () => {
  // 12 bytes of header, "com" at 12, then "api" + pointer to 12 at 17.
  const buf = new Uint8Array([
    ...new Array(12).fill(0),
    3,
    ...enc("com"),
    0,
    3,
    ...enc("api"),
    0xc0,
    12,
  ]);
  const name = readName(buf, 17, 12);
  assertEquals(name.ok && [presentName(name.labels), name.end], ["api.com", 23]);
});

Deno.test("readName() refuses a pointer below minPointer (the header), allowed when minPointer permits", () => {
  const buf = new Uint8Array([...new Array(12).fill(0), 0xc0, 12]);
  assertEquals(readName(buf, 12, 12).ok, false);
  const header = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 4]);
  assertEquals(readName(header, 12, 0).ok, true, "with minPointer 0 the header may be named");
});

Deno.test("presentName() escapes dots, backslashes and unprintable bytes, and lower-cases", () => {
  const labels = [enc("A.b"), new Uint8Array([0x5c, 0x00, 0x20, 0x7f, 0x41]), enc("COM")];
  assertEquals(presentName(labels), "a\\.b.\\\\\\000\\032\\127a.com");
  assertEquals(presentName([]), ".");
});

Deno.test("isHostName() accepts letters, digits, '-' and '_' only", () => {
  assertEquals(["pypi.org", "_dmarc.example.com", "a-b.c"].map(isHostName), [true, true, true]);
  assertEquals(["a\\.b.com", "-a.com", "a..b", ".", "a b", "x".repeat(64)].map(isHostName), [
    false,
    false,
    false,
    false,
    false,
    false,
  ]);
});

Deno.test("ipv4Bytes() and ipv6Bytes() parse addresses and refuse the rest", () => {
  assertEquals(ipv4Bytes("192.0.2.1"), new Uint8Array([192, 0, 2, 1]));
  assertEquals(ipv4Bytes("192.0.2.256"), null);
  const v6 = (s: string) => ipv6Bytes(s) && [...ipv6Bytes(s)!].map((b) => b.toString(16)).join(",");
  assertEquals(v6("::1"), "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1");
  assertEquals(v6("2001:db8::"), "20,1,d,b8,0,0,0,0,0,0,0,0,0,0,0,0");
  assertEquals(v6("::ffff:192.0.2.1"), "0,0,0,0,0,0,0,0,0,0,ff,ff,c0,0,2,1");
  assertEquals(v6("1:2:3:4:5:6:7:8"), "0,1,0,2,0,3,0,4,0,5,0,6,0,7,0,8");
  for (
    const bad of ["1::2::3", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1.2.3.4::", "g::1", "::1:"]
  ) {
    assertEquals(ipv6Bytes(bad), null, bad);
  }
  assertEquals(ipv6Bytes("1:2:3:4:5:6:7:8::"), null, "'::' must stand for at least one group");
});
