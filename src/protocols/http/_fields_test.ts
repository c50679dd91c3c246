import { deepEqual, equal } from "node:assert/strict";
import { headerValues, lowerName, stripHopByHop, wantsClose } from "./_fields.ts";

Deno.test("stripHopByHop() removes hop-by-hop fields and those Connection names, any case", () => {
  const headers: [string, string][] = [
    ["Host", "h"],
    ["CONNECTION", "X-Secret , keep-alive,, x-Other"],
    ["connection", "X-Third"],
    ["x-secret", "1"],
    ["X-OTHER", "2"],
    ["x-third", "3"],
    ["Keep-Alive", "timeout=5"],
    ["Proxy-Connection", "keep-alive"],
    ["Proxy-Authorization", "Basic Zm9v"],
    ["Proxy-Authenticate", "Basic"],
    ["TE", "trailers"],
    ["Trailer", "X-T"],
    ["Transfer-Encoding", "chunked"],
    ["Upgrade", "websocket"],
    ["Accept", "*/*"],
  ];
  const copy = structuredClone(headers);
  deepEqual(stripHopByHop(headers), [["Host", "h"], ["Accept", "*/*"]]);
  deepEqual(headers, copy, "input unchanged");
});

Deno.test("stripHopByHop() keeps the names it is told to keep", () => {
  const headers: [string, string][] = [
    ["Connection", "Upgrade"],
    ["Upgrade", "websocket"],
    ["Sec-WebSocket-Key", "k"],
  ];
  deepEqual(stripHopByHop(headers, ["upgrade"]), [["Upgrade", "websocket"], [
    "Sec-WebSocket-Key",
    "k",
  ]]);
});

Deno.test("stripHopByHop(): what one message's Connection or keep list changes, the next does not see", () => {
  const named: [string, string][] = [["Connection", "X-Once"], ["X-Once", "1"], ["Upgrade", "h2c"]];
  deepEqual(stripHopByHop(named, ["upgrade"]), [["Upgrade", "h2c"]]);
  const plain: [string, string][] = [["X-Once", "2"], ["Upgrade", "websocket"], ["TE", "x"]];
  deepEqual(stripHopByHop(plain), [["X-Once", "2"]]);
  deepEqual(stripHopByHop([["Connection", "keep-alive"], ["Keep-Alive", "5"], ["A", "b"]]), [[
    "A",
    "b",
  ]]);
});

Deno.test("stripHopByHop() drops every standard name in any case when Connection names no other", () => {
  const standard = [
    "Connection",
    "Keep-Alive",
    "Proxy-Connection",
    "Proxy-Authorization",
    "Proxy-Authenticate",
    "TE",
    "Trailer",
    "Transfer-Encoding",
    "Upgrade",
  ];
  // Names as long as a standard one, and longer than the length table, are kept.
  const kept: [string, string][] = [
    ["Tx", "1"],
    ["Trailex", "2"],
    ["Keep-Alivx", "3"],
    ["Transfer-Encodinx", "4"],
    ["X".repeat(40), "5"],
    ["UPGRADE-LATER", "6"],
  ];
  for (const name of standard) {
    for (const form of [name, name.toUpperCase(), name.toLowerCase()]) {
      const value = form.toLowerCase() === "connection" ? "keep-alive" : "v";
      deepEqual(stripHopByHop([[form, value], ...kept]), kept, form);
    }
  }
});

Deno.test("lowerName() is toLowerCase, for repeated, long and ever new names", () => {
  const names = ["Content-Type", "content-type", "X-ÀB", "A".repeat(64), "B".repeat(63), "İ"];
  for (let round = 0; round < 2; round++) {
    for (const name of names) equal(lowerName(name), name.toLowerCase(), name);
  }
  // More names than the table holds: each is still right when it comes back.
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 1_500; i++) equal(lowerName(`X-Name-${i}`), `x-name-${i}`);
  }
});

Deno.test("headerValues() returns every field's value in order, matching names in any case", () => {
  const headers: [string, string][] = [["Accept", "a"], ["X", "x"], ["ACCEPT", "b, c"]];
  deepEqual(headerValues(headers, "accept"), ["a", "b, c"]);
  deepEqual(headerValues(headers, "Accept-Encoding"), []);
});

Deno.test("wantsClose() follows Connection and the HTTP/1.0 default", () => {
  const cases: [string, [string, string][], boolean][] = [
    ["HTTP/1.1", [], false],
    ["HTTP/1.1", [["Connection", "keep-alive"]], false],
    ["HTTP/1.1", [["Connection", "Close"]], true],
    ["HTTP/1.1", [["connection", "upgrade, close"]], true],
    ["HTTP/1.1", [["Connection", "closed"]], false],
    ["HTTP/1.0", [], true],
    ["HTTP/1.0", [["Connection", "Keep-Alive"]], false],
    ["HTTP/1.0", [["Connection", "keep-alive, close"]], true],
  ];
  for (const [version, headers, close] of cases) {
    equal(wantsClose(version, headers), close, `${version} ${JSON.stringify(headers)}`);
  }
});
