import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { StreamClosed } from "./_stream.ts";
import { UpstreamError } from "./_upstream.ts";
import {
  classifyUpstreamFailure,
  describeUpstreamFailure,
  isIdempotent,
} from "./_upstream_failure.ts";

function coded(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

Deno.test("classifyUpstreamFailure() names the cause of each way a connection fails", () => {
  const cases: [unknown, string][] = [
    [new Deno.errors.ConnectionRefused("Connection refused (os error 111)"), "refused"],
    [new Deno.errors.ConnectionReset("Connection reset by peer (os error 104)"), "reset"],
    [new Deno.errors.BrokenPipe("Broken pipe (os error 32)"), "reset"],
    [new Deno.errors.ConnectionAborted("aborted"), "reset"],
    [new Deno.errors.NotConnected("not connected"), "reset"],
    // What rustls says when the peer closes TCP without close_notify: an idle keep-alive close.
    [
      new Deno.errors.UnexpectedEof("peer closed connection without sending TLS close_notify"),
      "eof",
    ],
    [new StreamClosed("upstream closed the connection before responding"), "eof"],
    [new Deno.errors.TimedOut("timed out"), "timeout"],
    [new Error("failed to lookup address information: Name or service not known"), "dns"],
    [new Deno.errors.InvalidData("invalid peer certificate: UnknownIssuer (TLS)"), "tls"],
    [coded("read ECONNRESET", "ECONNRESET"), "reset"],
    [coded("write EPIPE", "EPIPE"), "reset"],
    [coded("connect ECONNREFUSED", "ECONNREFUSED"), "refused"],
    [coded("getaddrinfo ENOTFOUND x.test", "ENOTFOUND"), "dns"],
    [coded("connect ETIMEDOUT", "ETIMEDOUT"), "timeout"],
    [new Error("something else"), "other"],
    ["not an error", "other"],
  ];
  for (const [err, cause] of cases) {
    assertEquals(classifyUpstreamFailure(err), cause, String(err));
  }
});

Deno.test("classifyUpstreamFailure() reads the gateway's own errors by kind, then by cause", () => {
  const cases: [UpstreamError, string][] = [
    [new UpstreamError("timeout", "upstream did not answer in time"), "timeout"],
    [new UpstreamError("tls", "TLS with upstream x failed: handshake failed"), "tls"],
    [
      new UpstreamError("connect", "cannot connect to upstream x", {
        cause: new Deno.errors.ConnectionRefused("refused"),
      }),
      "refused",
    ],
    [
      new UpstreamError("connect", "cannot connect to upstream x", {
        cause: new Error("failed to lookup address information: Name or service not known"),
      }),
      "dns",
    ],
    [
      new UpstreamError("protocol", "upstream closed mid-response", { cause: new StreamClosed() }),
      "eof",
    ],
    [new UpstreamError("protocol", "malformed upstream response: bad status line"), "other"],
  ];
  for (const [err, cause] of cases) assertEquals(classifyUpstreamFailure(err), cause, err.message);
});

Deno.test("describeUpstreamFailure() keeps the gateway's words and never echoes a raw error", () => {
  assertEquals(
    describeUpstreamFailure(new UpstreamError("timeout", "upstream did not answer in time")),
    "upstream did not answer in time",
  );
  assertEquals(
    describeUpstreamFailure(new Deno.errors.ConnectionReset("reset by peer 10.0.0.7:443")),
    "upstream reset the connection",
  );
  assertEquals(
    describeUpstreamFailure(new StreamClosed("upstream closed the connection before responding")),
    "upstream closed the connection before responding",
  );
  assertEquals(describeUpstreamFailure(new Error("secret detail")), "upstream failed");
});

Deno.test("isIdempotent() holds for the RFC 9110 idempotent methods unless overridden to another", () => {
  for (const m of ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]) {
    assertEquals(isIdempotent(m, m.toLowerCase()), true, m);
  }
  for (const m of ["POST", "PATCH", "CONNECT", "PROPFIND"]) {
    assertEquals(isIdempotent(m, m.toLowerCase()), false, m);
  }
  // X-HTTP-Method-Override: POST on a GET makes it a POST to the upstream's application.
  assertEquals(isIdempotent("GET", "post"), false);
  assertEquals(isIdempotent("POST", "get"), false);
});
