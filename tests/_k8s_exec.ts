/**
 * `pods/exec` for the fake API server over a WebSocket upgrade on HTTP/1.1, the transport
 * kubectl 1.32 tries first (it falls back to SPDY, which is not served). Framing per RFC 6455;
 * the payload is the Kubernetes channel protocol (`v5.channel.k8s.io`, `v4.channel.k8s.io`): each
 * binary message starts with a channel byte, 0 stdin, 1 stdout, 2 stderr, 3 error (a JSON
 * `Status` that ends the command), 4 resize; v5 adds 255, "close this channel" (stdin EOF).
 *
 * What the fake "runs": `echo ARGS…` prints its arguments, `false` exits 1, `cat` with stdin
 * echoes stdin until EOF (v5 only: v4 cannot signal EOF, so there it ends after 5 s), anything
 * else prints its command line.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { Duplex } from "node:stream";
import { concatBytes } from "../src/core/mod.ts";
import type { KubeObject } from "./_k8s_objects.ts";

/** Subprotocols served, preferred first. */
export const EXEC_PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"; // RFC 6455 §1.3
const STDIN = 0, STDOUT = 1, ERROR = 3, CLOSE_SIGNAL = 255;
/** A client that never answers our close frame is cut off after this. */
const CLOSE_GRACE_MS = 1000;
/** An interactive command whose stdin never ends is ended after this, so tests cannot hang. */
const STDIN_LIMIT_MS = 5000;

/** Writes a complete non-101 HTTP/1.1 response (a `Status` body) on an upgrade socket. */
export function rejectUpgrade(socket: Duplex, body: KubeObject): void {
  const json = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${body.code} ${body.reason}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${
        new TextEncoder().encode(json).length
      }\r\nConnection: close\r\n\r\n${json}`,
  );
}

/**
 * Completes the WebSocket handshake for an exec request and runs the fake command. Returns
 * false, having written nothing, when the client offers no channel protocol we speak.
 */
export function serveExec(
  headers: Record<string, string | string[] | undefined>,
  params: URLSearchParams,
  socket: Duplex,
  head: Uint8Array,
): boolean {
  const offered = String(headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim());
  const protocol = EXEC_PROTOCOLS.find((p) => offered.includes(p));
  const key = headers["sec-websocket-key"];
  if (!protocol || typeof key !== "string") return false;
  const accept = createHash("sha1").update(key + WS_GUID).digest("base64");
  socket.write(
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`,
  );

  const command = params.getAll("command");
  // Only `cat` reads stdin; every other fake command ends at once, as `echo` would.
  const cat = command[0] === "cat" && ["true", "1"].includes(params.get("stdin") ?? "");
  const timers: ReturnType<typeof setTimeout>[] = [];
  let finished = false;
  const finish = (exitCode: number) => {
    if (finished) return;
    finished = true;
    socket.write(frame(2, channel(ERROR, JSON.stringify(exitStatus(command, exitCode)))));
    socket.write(frame(8, new Uint8Array([0x03, 0xe8]))); // close, 1000 normal closure
    timers.push(setTimeout(() => socket.destroy(), CLOSE_GRACE_MS));
  };
  if (cat) timers.push(setTimeout(() => finish(0), STDIN_LIMIT_MS));

  let buffered: Uint8Array = head;
  const onData = (chunk: Uint8Array) => {
    buffered = concatBytes([buffered, chunk]);
    for (let f = parseFrame(buffered); f; f = parseFrame(buffered)) {
      buffered = buffered.subarray(f.size);
      if (f.opcode === 8) { // close: answer it, then hang up
        if (!finished) finish(0);
        socket.end();
      } else if (f.opcode === 9) {
        socket.write(frame(10, f.payload));
      } else if (f.opcode === 2 && f.payload[0] === STDIN && cat) {
        socket.write(frame(2, concatBytes([new Uint8Array([STDOUT]), f.payload.subarray(1)])));
      } else if (f.opcode === 2 && f.payload[0] === CLOSE_SIGNAL && f.payload[1] === STDIN) {
        finish(0);
      }
    }
  };
  socket.on("data", onData);
  socket.on("error", () => socket.destroy());
  socket.on("close", () => timers.forEach(clearTimeout));

  if (!cat) {
    const [name, ...args] = command;
    const out = name === "echo" ? args.join(" ") : command.join(" ");
    if (name !== "false") socket.write(frame(2, channel(STDOUT, `${out}\n`)));
    finish(name === "false" ? 1 : 0);
  }
  if (head.length > 0) onData(new Uint8Array());
  return true;
}

/**
 * The error-channel `Status`: Success, or the NonZeroExitCode failure from which kubectl takes
 * its own exit code (`details.causes[].reason == "ExitCode"`).
 */
function exitStatus(command: string[], code: number): KubeObject {
  if (code === 0) return { metadata: {}, status: "Success" };
  return {
    metadata: {},
    status: "Failure",
    message: `command terminated with non-zero exit code: error executing command ` +
      `[${command.join(" ")}], exit code ${code}`,
    reason: "NonZeroExitCode",
    details: { causes: [{ reason: "ExitCode", message: String(code) }] },
  };
}

function channel(id: number, text: string): Uint8Array {
  return concatBytes([new Uint8Array([id]), new TextEncoder().encode(text)]);
}

/** An unmasked, final server frame (RFC 6455 §5.2). */
function frame(opcode: number, payload: Uint8Array): Uint8Array {
  const n = payload.length;
  const head = n < 126 ? [0x80 | opcode, n] : n < 65536 ? [0x80 | opcode, 126, n >> 8, n & 0xff] : [
    0x80 | opcode,
    127,
    0,
    0,
    0,
    0,
    (n >>> 24) & 0xff,
    (n >> 16) & 0xff,
    (n >> 8) & 0xff,
    n & 0xff,
  ];
  return concatBytes([new Uint8Array(head), payload]);
}

/** One client frame from the front of `buf` (unmasked), or undefined until it is complete. */
function parseFrame(
  buf: Uint8Array,
): { opcode: number; payload: Uint8Array; size: number } | undefined {
  if (buf.length < 2) return undefined;
  const masked = (buf[1] & 0x80) !== 0;
  let len = buf[1] & 0x7f;
  let at = 2;
  if (len === 126) {
    if (buf.length < 4) return undefined;
    len = (buf[2] << 8) | buf[3];
    at = 4;
  } else if (len === 127) {
    if (buf.length < 10) return undefined;
    len = new DataView(buf.buffer, buf.byteOffset + 2, 8).getUint32(4);
    at = 10;
  }
  const mask = masked ? buf.subarray(at, at + 4) : undefined;
  if (masked) at += 4;
  if (buf.length < at + len) return undefined;
  const payload = buf.slice(at, at + len);
  if (mask) { for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3]; }
  return { opcode: buf[0] & 0x0f, payload, size: at + len };
}
