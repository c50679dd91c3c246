/**
 * `pods/exec` for the fake API server over SPDY/3.1, kubectl's fallback when a server refuses
 * the WebSocket upgrade (API servers before 1.30 did). Just enough of SPDY/3 for kubectl's
 * `v4.channel.k8s.io` streams (draft-mbelshe-httpbis-spdy-00 §2.2, §2.6): every SYN_STREAM gets
 * a SYN_REPLY; once the streams the query asks for exist, the fake command's output goes on the
 * stdout stream and the outcome on the error stream, each ended with FIN.
 *
 * Streams are told apart by the order kubectl opens them (error, stdin, stdout, stderr, resize;
 * client-go remotecommand `createStreams`), so the client's zlib-compressed header blocks need
 * not be inflated. The fake's own header blocks are zlib *stored* blocks, which need no shared
 * dictionary: the stream starts with a header without FDICT, and each block is byte-aligned.
 *
 * @module
 */

import type { Duplex } from "node:stream";
import { concatBytes } from "../src/core/mod.ts";

/** The channel protocol the fake speaks over SPDY. */
export const SPDY_EXEC_PROTOCOL = "v4.channel.k8s.io";

const SYN_STREAM = 1, SYN_REPLY = 2, PING = 6, FLAG_FIN = 0x01;
/** A client that never hangs up after the command is cut off after this. */
const CLOSE_GRACE_MS = 1000;

/**
 * Switches the connection to SPDY/3.1 and runs the fake command (`echo ARGS…` prints its
 * arguments, `false` exits 1, anything else prints its command line). Returns false, having
 * written nothing, when the request is not a SPDY/3.1 upgrade offering v4.channel.k8s.io.
 */
export function serveSpdyExec(
  headers: Record<string, string | string[] | undefined>,
  params: URLSearchParams,
  socket: Duplex,
  head: Uint8Array,
): boolean {
  const upgrade = String(headers["upgrade"] ?? "").toLowerCase();
  const offered = [headers["x-stream-protocol-version"] ?? []].flat().flatMap((v) => v.split(","))
    .map((v) => v.trim());
  if (upgrade !== "spdy/3.1" || !offered.includes(SPDY_EXEC_PROTOCOL)) return false;
  socket.write(
    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n" +
      `X-Stream-Protocol-Version: ${SPDY_EXEC_PROTOCOL}\r\n\r\n`,
  );

  const flag = (name: string) => ["true", "1"].includes(params.get(name) ?? "");
  const tty = flag("tty");
  const roles = ["error"];
  if (flag("stdin")) roles.push("stdin");
  if (flag("stdout")) roles.push("stdout");
  if (flag("stderr") && !tty) roles.push("stderr");
  if (tty) roles.push("resize");
  const streams = new Map<string, number>();
  let headerBlocks = 0;
  let done = false;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const run = () => {
    done = true;
    const command = params.getAll("command");
    const [name, ...args] = command;
    const out = streams.get("stdout");
    if (out !== undefined && name !== "false") {
      const text = name === "echo" ? args.join(" ") : command.join(" ");
      socket.write(data(out, new TextEncoder().encode(`${text}\n`), 0));
    }
    for (const role of ["stdout", "stderr"]) {
      const id = streams.get(role);
      if (id !== undefined) socket.write(data(id, new Uint8Array(0), FLAG_FIN));
    }
    // v4: an empty error stream is success; a Status carries a non-zero exit code.
    const failure = name === "false"
      ? JSON.stringify({
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: `command terminated with non-zero exit code: exit code 1`,
        reason: "NonZeroExitCode",
        details: { causes: [{ reason: "ExitCode", message: "1" }] },
      })
      : "";
    const errorId = streams.get("error")!;
    socket.write(data(errorId, new TextEncoder().encode(failure), FLAG_FIN));
    timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
  };

  let buffered: Uint8Array = head;
  const onData = (chunk: Uint8Array) => {
    buffered = concatBytes([buffered, chunk]);
    while (buffered.length >= 8) {
      const length = (buffered[5] << 16) | (buffered[6] << 8) | buffered[7];
      if (buffered.length < 8 + length) break;
      const frame = buffered.subarray(0, 8 + length);
      buffered = buffered.subarray(8 + length);
      if ((frame[0] & 0x80) === 0) continue; // data (stdin): the fake commands read none
      const type = (frame[2] << 8) | frame[3];
      if (type === SYN_STREAM) {
        const id = new DataView(frame.buffer, frame.byteOffset + 8, 4).getUint32(0) & 0x7fffffff;
        const role = roles[streams.size];
        if (role) streams.set(role, id);
        socket.write(
          control(SYN_REPLY, 0, concatBytes([u32(id), headerBlock(headerBlocks++ === 0)])),
        );
        if (!done && streams.size === roles.length) run();
      } else if (type === PING) {
        socket.write(frame); // §2.6.5: the receiver echoes a PING as is
      }
    }
  };
  socket.on("data", onData);
  socket.on("end", () => socket.end());
  socket.on("error", () => socket.destroy());
  socket.on("close", () => clearTimeout(timer));
  if (head.length > 0) onData(new Uint8Array());
  return true;
}

/** An empty header block (zero name/value pairs) as a zlib stored block; the first opens the stream. */
function headerBlock(first: boolean): Uint8Array {
  // 0x78 0x01: deflate, 32K window, no preset dictionary ((0x78 * 256 + 0x01) % 31 == 0).
  const stored = [0x00, 0x04, 0x00, 0xfb, 0xff, 0, 0, 0, 0]; // not final, LEN 4, NLEN ~4
  // An empty stored block is a sync flush: Go's inflater emits a block's data only at the next
  // block header, and that header must be inside this frame's header block.
  const flush = [0x00, 0x00, 0x00, 0xff, 0xff];
  return new Uint8Array([...(first ? [0x78, 0x01] : []), ...stored, ...flush]);
}

function control(type: number, flags: number, payload: Uint8Array): Uint8Array {
  const n = payload.length;
  return concatBytes([
    new Uint8Array([0x80, 0x03, type >> 8, type & 0xff, flags, n >> 16, (n >> 8) & 0xff, n & 0xff]),
    payload,
  ]);
}

function data(id: number, payload: Uint8Array, flags: number): Uint8Array {
  const n = payload.length;
  return concatBytes([
    u32(id & 0x7fffffff),
    new Uint8Array([flags, n >> 16, (n >> 8) & 0xff, n & 0xff]),
    payload,
  ]);
}

function u32(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}
