import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import {
  generateWireguardKeys,
  isWireguardKey,
  peerAddresses,
  wgQuickConfig,
  wireguardPublicKey,
} from "./wireguard.ts";

/** What `wg pubkey` says of `privateKey`, when wg is installed. */
async function wgPubkey(privateKey: string): Promise<string | null> {
  try {
    const child = new Deno.Command("wg", { args: ["pubkey"], stdin: "piped", stdout: "piped" })
      .spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(privateKey + "\n"));
    await writer.close();
    return new TextDecoder().decode((await child.output()).stdout).trim();
  } catch {
    return null;
  }
}

Deno.test("keys are WireGuard's: wg pubkey derives the same public key", async () => {
  const keys = await generateWireguardKeys();
  ok(isWireguardKey(keys.privateKey) && isWireguardKey(keys.publicKey));
  notSame(keys.privateKey, keys.publicKey);
  const raw = Uint8Array.from(atob(keys.privateKey), (c) => c.charCodeAt(0));
  equal(raw[0] & 7, 0, "clamped low bits");
  equal(raw[31] & 0xc0, 0x40, "clamped high bits");
  equal(await wireguardPublicKey(keys.privateKey), keys.publicKey);
  const wg = await wgPubkey(keys.privateKey);
  if (wg !== null) equal(wg, keys.publicKey);
});

function notSame(a: string, b: string) {
  ok(a !== b);
}

Deno.test("a known vector: RFC 7748 §6.1 Alice's key pair", async () => {
  const hex = (h: string) =>
    btoa(String.fromCharCode(...h.match(/../g)!.map((b) => parseInt(b, 16))));
  const alice = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  equal(
    await wireguardPublicKey(alice),
    hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"),
  );
});

Deno.test("text that is not a key is refused", async () => {
  for (const bad of ["", "abc", "x".repeat(44), btoa("short"), "A".repeat(43) + "B"]) {
    equal(isWireguardKey(bad), false, bad);
  }
  await rejects(wireguardPublicKey("not a key"), TypeError);
});

Deno.test("peer addresses are the network's hosts but the gateway's own", () => {
  deepEqual([...peerAddresses("10.78.0.1/29")], [
    "10.78.0.2",
    "10.78.0.3",
    "10.78.0.4",
    "10.78.0.5",
    "10.78.0.6",
  ]);
  deepEqual([...peerAddresses("10.78.0.6/29")].slice(0, 2), ["10.78.0.1", "10.78.0.2"]);
});

Deno.test("the wg-quick file leads only to the gateway unless told otherwise", () => {
  const text = wgQuickConfig({
    privateKey: "p".repeat(43) + "=",
    address: "10.78.0.2",
    dns: "10.79.0.1",
    gatewayPublicKey: "g".repeat(43) + "=",
    endpoint: "gw.example.com:51820",
    allowedIps: ["10.78.0.1/32", "10.79.0.0/16"],
  });
  match(text, /^Address = 10\.78\.0\.2\/32$/m);
  match(text, /^DNS = 10\.79\.0\.1$/m);
  match(text, /^AllowedIPs = 10\.78\.0\.1\/32, 10\.79\.0\.0\/16$/m);
  match(text, /^Endpoint = gw\.example\.com:51820$/m);
  const own = wgQuickConfig({
    address: "10.78.0.2",
    dns: "10.79.0.1",
    gatewayPublicKey: "g".repeat(43) + "=",
    endpoint: "gw.example.com:51820",
    allowedIps: ["0.0.0.0/0"],
  });
  match(own, /^# PrivateKey = /m);
  ok(!/^PrivateKey/m.test(own));
});
