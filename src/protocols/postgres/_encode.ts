/**
 * PostgreSQL wire protocol 3.0: encoders for the client messages the gateway itself sends
 * upstream, and the byte plumbing the rest of the codec shares: {@linkcode Writer} (used by the
 * backend encoders too) and {@linkcode ByteQueue} (the input buffer of both decoders).
 *
 * Strings the gateway sends as C strings must not contain NUL: one would end the field early and
 * let the rest be read as further fields (a startup parameter value could add parameters), so
 * {@linkcode Writer.cstring} refuses them instead of truncating.
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * Builds one message: the type byte (if any) and the length word are reserved up front and the
 * length is filled in by {@linkcode Writer.finish}.
 */
export class Writer {
  #buf: Uint8Array;
  #pos: number;
  readonly #lengthAt: number;

  /** @param type message type byte; omit for startup-phase packets, which have none. */
  constructor(type?: string, capacity = 64) {
    this.#buf = new Uint8Array(Math.max(capacity, 8));
    if (type === undefined) this.#lengthAt = 0;
    else {
      this.#buf[0] = type.charCodeAt(0);
      this.#lengthAt = 1;
    }
    this.#pos = this.#lengthAt + 4;
  }

  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    const grown = new Uint8Array(Math.max(this.#buf.length * 2, this.#pos + n));
    grown.set(this.#buf.subarray(0, this.#pos));
    this.#buf = grown;
  }

  /** Appends one byte. */
  byte(v: number): this {
    this.#ensure(1);
    this.#buf[this.#pos++] = v;
    return this;
  }

  /** Appends a big-endian 16-bit integer. */
  int16(v: number): this {
    this.#ensure(2);
    const b = this.#buf;
    b[this.#pos++] = v >>> 8;
    b[this.#pos++] = v;
    return this;
  }

  /** Appends a big-endian 32-bit integer (signed or unsigned). */
  int32(v: number): this {
    this.#ensure(4);
    const b = this.#buf;
    b[this.#pos++] = v >>> 24;
    b[this.#pos++] = v >>> 16;
    b[this.#pos++] = v >>> 8;
    b[this.#pos++] = v;
    return this;
  }

  /** Appends raw bytes. */
  bytes(v: Uint8Array): this {
    this.#ensure(v.length);
    this.#buf.set(v, this.#pos);
    this.#pos += v.length;
    return this;
  }

  /** Appends `s` as UTF-8 followed by NUL. Throws RangeError if `s` contains NUL. */
  cstring(s: string): this {
    if (s.includes("\0")) throw new RangeError("string sent to PostgreSQL contains a NUL byte");
    this.#ensure(s.length * 3 + 1); // UTF-8 needs at most 3 bytes per UTF-16 unit
    this.#pos += encoder.encodeInto(s, this.#buf.subarray(this.#pos)).written;
    this.#buf[this.#pos++] = 0;
    return this;
  }

  /** Writes the length word and returns the message (a view of the writer's buffer). */
  finish(): Uint8Array {
    const b = this.#buf;
    const at = this.#lengthAt;
    const len = this.#pos - at;
    b[at] = len >>> 24;
    b[at + 1] = len >>> 16;
    b[at + 2] = len >>> 8;
    b[at + 3] = len;
    return b.subarray(0, this.#pos);
  }
}

// Coalescing: chunks at least this big are queued by reference (no copy). Smaller chunks that
// extend a pending message are copied into a queue-owned buffer, so a peer trickling bytes can
// neither grow the chunk list per byte nor pin one large read buffer per byte it sends.
const SMALL_CHUNK = 4096;
const OWNED_MIN = 8192;
const OWNED_MAX = 1 << 20;

/**
 * FIFO of pushed bytes. Returned views never alias bytes written later: pushed chunks are never
 * written to, and the owned buffer is only appended to past what was already handed out. Callers
 * must not modify a chunk after pushing it.
 */
export class ByteQueue {
  #chunks: Uint8Array[] = [];
  #offset = 0; // read position in #chunks[0]
  #length = 0;
  #tail: Uint8Array | null = null; // owned buffer holding the last chunk, with room after it
  #tailStart = 0;
  #tailEnd = 0;

  /** Unread bytes. */
  get length(): number {
    return this.#length;
  }

  /** Appends `chunk` (kept by reference unless small and extending pending bytes). */
  push(chunk: Uint8Array): void {
    const n = chunk.length;
    if (n === 0) return;
    if (this.#length === 0 || n >= SMALL_CHUNK) {
      this.#chunks.push(chunk);
      this.#tail = null;
    } else {
      let tail = this.#tail;
      if (tail === null || tail.length - this.#tailEnd < n) {
        const size = Math.max(n, Math.min(OWNED_MAX, Math.max(OWNED_MIN, this.#length)));
        tail = this.#tail = new Uint8Array(size);
        this.#tailStart = this.#tailEnd = 0;
        this.#chunks.push(tail);
      }
      tail.set(chunk, this.#tailEnd);
      this.#tailEnd += n;
      // A new view of the grown region; views handed out earlier keep their own bounds.
      this.#chunks[this.#chunks.length - 1] = tail.subarray(this.#tailStart, this.#tailEnd);
    }
    this.#length += n;
  }

  /** The byte at `i` (0 = next unread); `i` must be below `length`. */
  byteAt(i: number): number {
    const chunks = this.#chunks;
    let p = this.#offset + i;
    let k = 0;
    while (p >= chunks[k].length) p -= chunks[k++].length;
    return chunks[k][p];
  }

  /** Big-endian unsigned 32-bit integer at `i`; `i + 4` must not exceed `length`. */
  uint32At(i: number): number {
    const c = this.#chunks[0];
    const p = this.#offset + i;
    if (p + 4 <= c.length) {
      return ((c[p] << 24) | (c[p + 1] << 16) | (c[p + 2] << 8) | c[p + 3]) >>> 0;
    }
    return ((this.byteAt(i) << 24) | (this.byteAt(i + 1) << 16) | (this.byteAt(i + 2) << 8) |
      this.byteAt(i + 3)) >>> 0;
  }

  /** Removes and returns the next `n` bytes (`n` ≤ `length`): a view, copied only if split. */
  take(n: number): Uint8Array {
    const chunks = this.#chunks;
    const first = chunks[0];
    const start = this.#offset;
    let out: Uint8Array;
    if (start + n <= first.length) {
      out = first.subarray(start, start + n);
      this.#offset = start + n;
      if (this.#offset === first.length) {
        chunks.shift();
        this.#offset = 0;
      }
    } else {
      out = new Uint8Array(n);
      let copied = 0;
      let k = 0;
      let off = start;
      while (copied < n) {
        const c = chunks[k];
        const m = Math.min(c.length - off, n - copied);
        out.set(c.subarray(off, off + m), copied);
        copied += m;
        off += m;
        if (off === c.length) {
          k++;
          off = 0;
        }
      }
      chunks.splice(0, k); // once per message, so trickled input stays linear
      this.#offset = off;
    }
    this.#length -= n;
    if (this.#length === 0) {
      chunks.length = 0;
      this.#offset = 0;
      this.#tail = null;
    }
    return out;
  }
}

const PROTOCOL_3_0 = 196608;
const SSL_REQUEST = 80877103;
const CANCEL_REQUEST = 80877102;

/**
 * StartupMessage for protocol 3.0 with `params` in order. Names must be non-empty: an empty name
 * would end the list early.
 */
export function startupMessage(params: [string, string][]): Uint8Array {
  const w = new Writer(undefined, 128).int32(PROTOCOL_3_0);
  for (const [name, value] of params) {
    if (name === "") throw new RangeError("startup parameter name is empty");
    w.cstring(name).cstring(value);
  }
  return w.byte(0).finish();
}

/** SSLRequest. */
export function sslRequest(): Uint8Array {
  return new Writer(undefined, 8).int32(SSL_REQUEST).finish();
}

/** CancelRequest for `pid`; `secret` is the BackendKeyData key (4 bytes in 3.0, up to 256). */
export function cancelRequest(pid: number, secret: Uint8Array): Uint8Array {
  return new Writer(undefined, 12 + secret.length).int32(CANCEL_REQUEST).int32(pid).bytes(secret)
    .finish();
}

/** PasswordMessage with a cleartext (or md5-hashed) password. */
export function passwordMessage(password: string): Uint8Array {
  return new Writer("p").cstring(password).finish();
}

/** SASLInitialResponse: the chosen mechanism and its client-first message. */
export function saslInitialResponse(mechanism: string, data: Uint8Array): Uint8Array {
  return new Writer("p", 16 + mechanism.length + data.length).cstring(mechanism).int32(data.length)
    .bytes(data).finish();
}

/** SASLResponse: a further client message of the SASL exchange. */
export function saslResponse(data: Uint8Array): Uint8Array {
  return new Writer("p", 5 + data.length).bytes(data).finish();
}

/** Describe of prepared statement `name` ("" = unnamed). */
export function describeStatement(name: string): Uint8Array {
  return new Writer("D").byte(0x53).cstring(name).finish();
}

/** Sync. */
export function sync(): Uint8Array {
  return new Writer("S", 5).finish();
}

/** Terminate. */
export function terminate(): Uint8Array {
  return new Writer("X", 5).finish();
}

/** Simple Query. */
export function query(sql: string): Uint8Array {
  return new Writer("Q", 6 + sql.length * 3).cstring(sql).finish();
}
