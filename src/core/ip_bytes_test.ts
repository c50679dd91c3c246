import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { ipv4Bytes, ipv6Bytes } from "./ip_bytes.ts";

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
