/**
 * SHA-256 and HMAC-SHA256 in the shape `@smithy/signature-v4` takes (its `Checksum`
 * constructor: with a secret it is an HMAC), over `node:crypto`, which hashes bodies natively.
 *
 * @module
 */

import { createHash, createHmac, type Hash, type Hmac } from "node:crypto";

type SourceData = string | ArrayBuffer | ArrayBufferView;

function bytes(data: SourceData): Uint8Array | string {
  if (typeof data === "string") return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** SHA-256, or HMAC-SHA256 keyed with `secret`. */
export class Sha256 {
  readonly #secret: SourceData | undefined;
  #state: Hash | Hmac;

  constructor(secret?: SourceData) {
    this.#secret = secret;
    this.#state = this.#fresh();
  }

  update(data: Uint8Array): void {
    this.#state.update(bytes(data));
  }

  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.#state.digest()));
  }

  reset(): void {
    this.#state = this.#fresh();
  }

  #fresh(): Hash | Hmac {
    return this.#secret === undefined
      ? createHash("sha256")
      : createHmac("sha256", bytes(this.#secret));
  }
}

/** Lower-case hex SHA-256 of `data`. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}
