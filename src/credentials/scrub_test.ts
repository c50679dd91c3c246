import { deepEqual, equal, ok } from "node:assert/strict";
import type { InjectableCredential } from "./http_inject.ts";
import { base64Utf8, Scrubber, scrubForms } from "./scrub.ts";
import { concatBytes } from "../core/mod.ts";
import { SeededRng } from "../../tests/_rng.ts";
import { randomSplit } from "../../tests/_splits.ts";
import { reference, scrubAll } from "./_scrub_testing.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function credential(over: Partial<InjectableCredential> = {}): InjectableCredential {
  return {
    ref: "bearer_token.github_pat",
    name: "github_pat",
    kind: "bearer_token",
    endpoints: ["github"],
    placeholder: "{{github_pat}}",
    substituteIn: ["header"],
    inject: "placeholder",
    ...over,
  };
}

Deno.test("scrubForms() maps the raw secret of a bearer token to its placeholder, first among the longest", () => {
  const forms = scrubForms(credential(), "ghp_abc123");
  deepEqual(forms.find(([f]) => f === "ghp_abc123"), ["ghp_abc123", "{{github_pat}}"]);
  for (let i = 1; i < forms.length; i++) ok(forms[i - 1][0].length >= forms[i][0].length);
  equal(new Set(forms.map(([f]) => f)).size, forms.length, "a form is listed twice");
});

Deno.test("scrubForms() maps percent-encoded and JSON-escaped forms to the placeholder encoded alike", () => {
  const forms = new Map(scrubForms(credential(), 'a"b/c\\d e'));
  equal(forms.get("a%22b%2Fc%5Cd%20e"), "%7B%7Bgithub_pat%7D%7D");
  equal(forms.get('a\\"b/c\\\\d e'), "{{github_pat}}");
  equal(forms.get('a"b/c\\d e'), "{{github_pat}}");
});

Deno.test("scrubForms() adds base64(username:secret) for basic_auth", () => {
  const c = credential({
    kind: "basic_auth",
    name: "jira",
    ref: "basic_auth.jira",
    placeholder: "{{jira}}",
    username: "svc",
  });
  const forms = new Map(scrubForms(c, "pw"));
  equal(forms.get(base64Utf8("svc:pw")), base64Utf8("svc:{{jira}}"));
  equal(forms.get("pw"), "{{jira}}");
  equal(base64Utf8("svc:pw"), btoa("svc:pw"));
});

Deno.test("scrubForms() gives an empty secret no forms", () => {
  deepEqual(scrubForms(credential(), ""), []);
});

Deno.test("Scrubber replaces a secret inside one chunk", () => {
  const s = new Scrubber(scrubForms(credential(), "ghp_abc123"));
  const out = concatBytes([s.push(enc.encode('{"token":"ghp_abc123","x":1}')), s.end()]);
  equal(dec.decode(out), '{"token":"{{github_pat}}","x":1}');
});

Deno.test("Scrubber catches a secret split across chunks and holds back only a possible prefix", () => {
  const s = new Scrubber([["ghp_abc123", "{{github_pat}}"]]);
  const a = s.push(enc.encode("hello ghp_ab"));
  // "hello " is safe; "ghp_ab" may start the secret, so it is held.
  equal(dec.decode(a), "hello ");
  const b = s.push(enc.encode("c123 bye"));
  const c = s.end();
  equal(dec.decode(concatBytes([a, b, c])), "hello {{github_pat}} bye");
  ok(!dec.decode(concatBytes([a, b])).includes("ghp_abc123"));
});

Deno.test("Scrubber passes a chunk whole when its end cannot start a secret (streamed events are not delayed)", () => {
  const s = new Scrubber(scrubForms(credential(), "ghp_abc123"));
  const event = 'data: {"delta":"hello"}\n\n';
  equal(dec.decode(s.push(enc.encode(event))), event);
  // Ending in "g" (could start "ghp_…") holds exactly that byte.
  equal(dec.decode(s.push(enc.encode("data: g"))), "data: ");
  equal(dec.decode(s.end()), "g");
});

Deno.test("Scrubber catches a secret split one byte at a time", () => {
  const s = new Scrubber([["ghp_abc123", "P"]]);
  const parts: Uint8Array[] = [];
  for (const b of enc.encode("xghp_abc123y")) parts.push(s.push(new Uint8Array([b])));
  parts.push(s.end());
  equal(dec.decode(concatBytes(parts)), "xPy");
});

Deno.test("Scrubber prefers the longest form at a position", () => {
  const forms: Array<[string, string]> = [["abc", "1"], ["abcdef", "2"]];
  equal(dec.decode(scrubAll(forms, enc.encode("abcdef abc abcde"))), "2 1 1de");
});

Deno.test("Scrubber does not hold back or copy when there are no forms", () => {
  const s = new Scrubber([]);
  equal(s.active, false);
  const chunk = enc.encode("ghp_abc");
  equal(s.push(chunk), chunk);
  equal(s.end().length, 0);
  equal(s.text("Bearer x"), "Bearer x");
});

Deno.test("Scrubber matches non-ASCII secrets as UTF-8 bytes, even split inside a character", () => {
  const s = new Scrubber([["pässwörd", "{{pw}}"]]);
  const bytes = enc.encode("x pässwörd y");
  const parts = [s.push(bytes.subarray(0, 4)), s.push(bytes.subarray(4)), s.end()];
  equal(dec.decode(concatBytes(parts)), "x {{pw}} y");
});

Deno.test("Scrubber.text() scrubs header values, including Basic credentials and latin1-decoded UTF-8", () => {
  const c = credential({ kind: "basic_auth", placeholder: "{{jira}}", username: "svc" });
  const s = new Scrubber([...scrubForms(c, "pw-ünï"), ...scrubForms(credential(), "ghp_x1")]);
  equal(s.text("token=ghp_x1; Path=/"), "token={{github_pat}}; Path=/");
  equal(s.text(`Basic ${base64Utf8("svc:pw-ünï")}`), `Basic ${base64Utf8("svc:{{jira}}")}`);
  // node:http hands header values over as latin1: one character per byte.
  const asLatin1 = String.fromCharCode(...enc.encode("a pw-ünï b"));
  equal(s.text(asLatin1), "a {{jira}} b");
  equal(s.text("pw-ünï"), "{{jira}}");
  equal(s.text("nothing to see"), "nothing to see");
});

Deno.test("Scrubber.text() replaces a value exactly as long as its shortest form, and passes shorter ones", () => {
  const s = new Scrubber(scrubForms(credential(), "ghp_x1"));
  equal(s.text("ghp_x1"), "{{github_pat}}");
  equal(s.text("ghp_x"), "ghp_x");
  equal(new Scrubber(s).text("ghp_x1"), "{{github_pat}}", "a scrubber built from another");
  const short = new Scrubber(scrubForms(credential(), "ab"));
  equal(short.text("ab"), "{{github_pat}}");
  equal(short.text("a"), "a");
});

Deno.test("Scrubber keeps the first replacement when two credentials share a value", () => {
  const s = new Scrubber([["same-value", "{{a}}"], ["same-value", "{{b}}"]]);
  equal(s.text("same-value"), "{{a}}");
});

Deno.test("Scrubber: any chunk split gives the same output as one pass (property)", () => {
  // Seeded so a failure reproduces.
  const rng = new SeededRng(0x9e3779b9);
  const rand = rng.int;
  const alphabet = ["a", "b", "c", '"', "\\", "%", "é"];
  const word = (min: number, max: number) => {
    let s = "";
    const n = min + rand(max - min + 1);
    for (let i = 0; i < n; i++) s += alphabet[rand(alphabet.length)];
    return s;
  };
  const kept: [Uint8Array, Uint8Array, string][] = [];
  for (let round = 0; round < 500; round++) {
    const forms: Array<[string, string]> = [];
    for (let k = 0; k < 1 + rand(3); k++) {
      const secret = word(1, 6);
      forms.push(...scrubForms(credential({ placeholder: `{{p${k}}}` }), secret));
    }
    let text = "";
    for (let k = 0; k < rand(12); k++) {
      text += rand(2) === 0 ? forms[rand(forms.length)][0] : word(0, 4);
    }
    const input = enc.encode(text);
    const whole = scrubAll(forms, input);
    deepEqual(whole, reference(forms, input), `whole input ${JSON.stringify(text)}`);
    const once = new Scrubber(forms).whole(input);
    deepEqual(once, whole, `whole() ${JSON.stringify(text)}`);
    kept.push([once, whole.slice(), text]);
    const s = new Scrubber(forms);
    const pieces = randomSplit(input, rng.float, { pieceLength: () => 1 + rand(8) });
    const parts = [...pieces.map((piece) => s.push(piece)), s.end()];
    deepEqual(concatBytes(parts), whole, `chunked input ${JSON.stringify(text)}`);
  }
  // Outputs share slabs with whatever is cut after them: each must still read as it did.
  for (const [once, want, text] of kept) {
    deepEqual(once, want, `kept whole() ${JSON.stringify(text)}`);
  }
});

Deno.test("Scrubber built from another shares its forms but none of its held bytes", () => {
  const first = new Scrubber([["ghp_abc123", "P"]]);
  equal(dec.decode(first.push(enc.encode("x ghp_ab"))), "x ");
  const second = new Scrubber(first);
  equal(
    dec.decode(concatBytes([second.push(enc.encode("c123 ghp_abc123")), second.end()])),
    "c123 P",
  );
  equal(dec.decode(concatBytes([first.push(enc.encode("c123")), first.end()])), "P");
});
