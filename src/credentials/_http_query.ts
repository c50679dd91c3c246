/**
 * The query side of HTTP injection: the parameter a usable query_token owns.
 *
 * @module
 */

import type { CompiledCredential, QuerySegment } from "./_http_render.ts";
import type { PlaceholderMatch } from "./_placeholders.ts";

/**
 * Splits the query into `&`-separated segments and decides each usable query_token's parameter:
 * kept when it carries a placeholder to substitute, else dropped (the agent's own value never
 * goes out), or replaced in place by the gateway's value with `inject = "always"`.
 */
export function planQuery(
  query: string,
  edits: PlaceholderMatch[],
  tokens: CompiledCredential[],
  always: CompiledCredential[],
): QuerySegment[] {
  const segments: QuerySegment[] = [];
  if (query !== "") {
    let start = 0;
    for (;;) {
      let amp = query.indexOf("&", start);
      if (amp < 0) amp = query.length;
      segments.push({ start, end: amp, op: "keep", id: -1 });
      if (amp === query.length) break;
      start = amp + 1;
    }
  }
  // A placeholder containing `&` spans segments: merge them so the edit stays whole.
  const carrying = new Set<QuerySegment>();
  for (const m of edits) {
    const k = segments.findIndex((s) => m.start >= s.start && m.start <= s.end);
    let last = k;
    while (segments[last].end < m.end) last++;
    if (last > k) {
      segments[k].end = segments[last].end;
      segments.splice(k + 1, last - k);
    }
    carrying.add(segments[k]);
  }
  const pending = new Set(always);
  for (const seg of segments) {
    if (carrying.has(seg)) continue;
    const token = tokens.find((t) => t.c.param === paramName(query, seg));
    if (!token) continue;
    if (pending.has(token)) {
      pending.delete(token);
      seg.op = "set";
      seg.id = token.id;
    } else {
      seg.op = "drop";
    }
  }
  for (const token of pending) segments.push({ start: 0, end: 0, op: "set", id: token.id });
  return segments;
}

/** The form-decoded name of a `name=value` segment. */
function paramName(query: string, seg: QuerySegment): string {
  const eq = query.indexOf("=", seg.start);
  const raw = query.slice(seg.start, eq >= 0 && eq < seg.end ? eq : seg.end);
  if (raw.indexOf("%") < 0 && raw.indexOf("+") < 0) return raw;
  try {
    return decodeURIComponent(raw.replaceAll("+", " "));
  } catch {
    return raw;
  }
}
