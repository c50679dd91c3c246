import { deepEqual, equal } from "node:assert/strict";
import { headerValues, stripHopByHop, wantsClose } from "./_fields.ts";

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
