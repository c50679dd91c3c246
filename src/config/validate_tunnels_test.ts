// `tunnel "wireguard" NAME { … }`: defaults, and every problem at its line.

import { deepStrictEqual, equal } from "node:assert/strict";
import { loadConfigText } from "./load.ts";
import { assertProblem, HEAD, lineOf, problemsOf } from "./_testing.ts";
import { PROTOCOLS } from "../protocols/registry.ts";

const GATEWAY = `${HEAD}gateway {
  transparent {
    vip_range = "10.79.0.0/16"
  }
}
`;

Deno.test("a tunnel block reads with its defaults", async () => {
  const text = `${GATEWAY}tunnel "wireguard" "office" {
  address  = "10.78.0.1/24"
  endpoint = "gw.example.com:51820"
}
`;
  const config = await loadConfigText("t.hcl", text, { protocols: PROTOCOLS });
  const tunnel = config.tunnels.get("office")!;
  deepStrictEqual({ ...tunnel, source: undefined }, {
    kind: "wireguard",
    name: "office",
    source: undefined,
    listenPort: 51820,
    address: "10.78.0.1/24",
    interface: "cpwg-office",
    endpoint: "gw.example.com:51820",
  });
  equal(tunnel.source.line, lineOf(text, 'tunnel "wireguard"'));
});

Deno.test("tunnel problems are reported at their lines", async () => {
  const text = `${GATEWAY}tunnel "wireguard" "office" {
  address     = "10.79.3.1/24"
  listen_port = 70000
  color       = "blue"
}
tunnel "wireguard" "Bad_Name" {
  address     = "10.78.0.0/24"
}
tunnel "openvpn" "x" {
  address = "10.76.0.1/24"
}
tunnel "wireguard" "two" {
  address     = "10.75.0.1/29"
  listen_port = 70000
}
`;
  const problems = await problemsOf(text);
  assertProblem(problems, lineOf(text, '"10.79.3.1/24"'), /overlaps transparent\.vip_range/);
  assertProblem(problems, lineOf(text, "listen_port = 70000"), /is not a port/);
  assertProblem(problems, lineOf(text, "color"), /color/);
  assertProblem(problems, lineOf(text, '"Bad_Name"'), /1 to 10 lowercase letters/);
  assertProblem(problems, lineOf(text, '"10.78.0.0/24"'), /network's own or broadcast/);
  assertProblem(problems, lineOf(text, '"openvpn"'), /unknown tunnel kind "openvpn"/);
  assertProblem(problems, lineOf(text, '"10.75.0.1/29"'), /\/16 to \/28 prefix/);
  assertProblem(problems, lineOf(text, "listen_port = 70000", 1), /tunnel 'office''s too/);
});

Deno.test("a tunnel without transparent interception is refused", async () => {
  const text = `${HEAD}tunnel "wireguard" "office" {
  address = "10.78.0.1/24"
}
`;
  const problems = await problemsOf(text);
  assertProblem(problems, lineOf(text, 'tunnel "wireguard"'), /needs gateway \{ transparent/);
});
