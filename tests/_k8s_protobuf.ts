/**
 * Just enough of the Kubernetes protobuf encoding for the fake API server to accept what
 * kubectl's generator commands send: `kubectl create namespace|configmap|secret|deployment`
 * POST `application/vnd.kubernetes.protobuf`, not JSON (unlike `create -f` and `apply`).
 *
 * The body is the magic `k8s\0` then a runtime.Unknown message (1 typeMeta {1 apiVersion,
 * 2 kind}, 2 raw); raw is the typed object, whose field 1 is always ObjectMeta (1 name,
 * 2 generateName, 3 namespace, 11 labels, 12 annotations). Of the rest only ConfigMap and Secret
 * `data` (field 2, a map) is decoded; other fields are dropped, which the fake can live with.
 *
 * @module
 */

import type { KubeObject } from "./_k8s_objects.ts";

const MAGIC = [0x6b, 0x38, 0x73, 0x00]; // "k8s\0"

type Field = { no: number; bytes?: Uint8Array; varint?: number };

/** Splits a protobuf message into its fields (wire types 0, 1, 2 and 5). */
function fields(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let at = 0;
  const varint = () => {
    let value = 0;
    for (let shift = 0;; shift += 7) {
      if (at >= buf.length) throw new SyntaxError("Cannot parse protobuf: truncated varint");
      const b = buf[at++];
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
  };
  while (at < buf.length) {
    const key = varint();
    const [no, wire] = [Math.floor(key / 8), key & 7];
    if (wire === 0) out.push({ no, varint: varint() });
    else if (wire === 1 || wire === 5) at += wire === 1 ? 8 : 4;
    else if (wire === 2) {
      const len = varint();
      if (at + len > buf.length) throw new SyntaxError("Cannot parse protobuf: truncated field");
      out.push({ no, bytes: buf.subarray(at, at + len) });
      at += len;
    } else throw new SyntaxError(`Cannot parse protobuf: wire type ${wire}`);
  }
  return out;
}

const text = (b?: Uint8Array) => new TextDecoder().decode(b);

function map(fs: Field[], no: number, value: (b?: Uint8Array) => string): Record<string, string> {
  const entries = fs.filter((f) => f.no === no && f.bytes).map((f) => {
    const kv = fields(f.bytes!);
    return [text(kv.find((x) => x.no === 1)?.bytes), value(kv.find((x) => x.no === 2)?.bytes)];
  });
  return Object.fromEntries(entries);
}

/**
 * Decodes a kubectl protobuf body into a JSON object with `metadata` (and `data` for ConfigMap
 * and Secret).
 *
 * @throws {SyntaxError} when the body is not a Kubernetes protobuf envelope.
 */
export function decodeProtobufObject(body: Uint8Array): KubeObject {
  if (!MAGIC.every((b, i) => body[i] === b)) {
    throw new SyntaxError("Cannot parse protobuf body: no 'k8s\\0' magic");
  }
  const unknown = fields(body.subarray(4));
  const typeMeta = fields(unknown.find((f) => f.no === 1)?.bytes ?? new Uint8Array());
  const kind = text(typeMeta.find((f) => f.no === 2)?.bytes);
  const raw = fields(unknown.find((f) => f.no === 2)?.bytes ?? new Uint8Array());
  const meta = fields(raw.find((f) => f.no === 1)?.bytes ?? new Uint8Array());
  const str = (no: number) => {
    const f = meta.find((x) => x.no === no);
    return f ? text(f.bytes) : undefined;
  };
  const metadata: KubeObject = { name: str(1), generateName: str(2), namespace: str(3) };
  const labels = map(meta, 11, text);
  const annotations = map(meta, 12, text);
  if (Object.keys(labels).length) metadata.labels = labels;
  if (Object.keys(annotations).length) metadata.annotations = annotations;
  // proto2 optional strings arrive present-but-empty (generateName "") where JSON omits them.
  for (const k of Object.keys(metadata)) if (!metadata[k]) delete metadata[k];
  const obj: KubeObject = {
    apiVersion: text(typeMeta.find((f) => f.no === 1)?.bytes),
    kind,
    metadata,
  };
  if (kind === "ConfigMap") obj.data = map(raw, 2, text);
  if (kind === "Secret") {
    obj.data = map(raw, 2, (b) => btoa(String.fromCharCode(...(b ?? []))));
    const type = raw.find((f) => f.no === 3);
    if (type) obj.type = text(type.bytes);
  }
  return obj;
}
