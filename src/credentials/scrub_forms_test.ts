import { equal, ok } from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { InjectableCredential } from "./http_inject.ts";
import { Scrubber, scrubForms } from "./scrub.ts";
import { concatBytes } from "../core/mod.ts";
import { everyCut } from "../../tests/_splits.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

const credential: InjectableCredential = {
  ref: "bearer_token.api_token",
  name: "api_token",
  kind: "bearer_token",
  endpoints: ["api"],
  placeholder: "{{api_token}}",
  substituteIn: ["header"],
  inject: "placeholder",
};

// Shaped like the token of issue 27: mixed case, digits, an underscore.
const SECRET = "ghp_REALsecretVALUE_0123456789abcdef";
// With characters every escaping touches: quote, slash, ampersand, angle bracket, non-ASCII.
const ODD = 'pa55:w/o"rd&<ü>';
const HEX = "9f86d081884c7d659a2feaa0c55ad015";

function scrubber(...secrets: string[]): Scrubber {
  return new Scrubber(secrets.flatMap((s) => scrubForms(credential, s)));
}

function scrubAll(s: Scrubber, input: string): string {
  const one = new Scrubber(s);
  const bytes = enc.encode(input);
  return dec.decode(concatBytes([one.push(bytes), one.end()]));
}

const hex = (s: string) => Buffer.from(enc.encode(s)).toString("hex");
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");
const allPercent = (s: string) => [...enc.encode(s)].map((b) => "%" + b.toString(16)).join("");
const allUnicode = (s: string) =>
  [...s].map((c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0")).join("");

/** Every form a server plausibly echoes `secret` in, by name (issue 27 lists most of them). */
function encodings(secret: string): Record<string, string> {
  const bytes = enc.encode(secret);
  return {
    "base64": b64(bytes),
    "base64 unpadded": b64(bytes).replace(/=+$/, ""),
    "base64url": b64url(bytes),
    "hex": hex(secret),
    "HEX": hex(secret).toUpperCase(),
    "%-encoded (usual)": encodeURIComponent(secret),
    "%-encoded (every byte, lower)": allPercent(secret),
    "%-encoded (every byte, upper)": allPercent(secret).toUpperCase(),
    "form-encoded": new URLSearchParams({ a: secret }).toString().slice(2),
    "JSON \\u (every character)": allUnicode(secret),
    "JSON \\u (every character, upper)": allUnicode(secret).replace(
      /u(\w{4})/g,
      (_, h) => "u" + h.toUpperCase(),
    ),
    "JSON (PHP, \\/)": JSON.stringify(secret).slice(1, -1).replaceAll("/", "\\/"),
    "HTML &#NN;": [...secret].map((c) => `&#${c.codePointAt(0)};`).join(""),
    "HTML &#xHH;": [...secret].map((c) => `&#x${c.codePointAt(0)!.toString(16)};`).join(""),
    "HTML &#XHH; upper": [...secret].map((c) =>
      `&#x${c.codePointAt(0)!.toString(16).toUpperCase()};`
    )
      .join(""),
  };
}

for (const [name, secret] of [["a token", SECRET], ["an odd password", ODD]]) {
  for (const [form, encoded] of Object.entries(encodings(secret))) {
    Deno.test(`Scrubber removes ${form} of ${name} from a body`, () => {
      const out = scrubAll(scrubber(secret), `{"echo":"${encoded}","n":1}`);
      ok(!out.includes(encoded), `${form} survived: ${out}`);
    });
  }
}

Deno.test("Scrubber removes the upper- and lower-cased forms of a long token", () => {
  const s = scrubber(SECRET);
  equal(scrubAll(s, `x ${SECRET.toUpperCase()} y`), "x {{api_token}} y");
  equal(scrubAll(s, `x ${SECRET.toLowerCase()} y`), "x {{api_token}} y");
});

Deno.test("Scrubber removes a hex secret in either case, and its hex and base64", () => {
  const s = scrubber(HEX);
  for (const form of [HEX, HEX.toUpperCase(), hex(HEX), b64(enc.encode(HEX))]) {
    // Base64 padding is not part of a form (so padded and unpadded both match): it stays.
    equal(scrubAll(s, `<${form}>`).replace(/=+>$/, ">"), "<{{api_token}}>", form);
  }
});

Deno.test("Scrubber does not case-fold a short non-hex secret (ordinary words stay intact)", () => {
  const s = scrubber("Summer24");
  equal(scrubAll(s, "SUMMER24 summer24"), "SUMMER24 summer24");
  equal(scrubAll(s, "Summer24"), "{{api_token}}");
});

Deno.test("Scrubber removes HTML-escaped forms as Go, Python and PHP write them", () => {
  const s = scrubber(`a'b"c&d`);
  for (
    const form of [
      "a&#39;b&#34;c&amp;d",
      "a&#x27;b&quot;c&amp;d",
      "a&#039;b&quot;c&amp;d",
      "a&apos;b&quot;c&amp;d",
    ]
  ) {
    equal(scrubAll(s, `<p>${form}</p>`), "<p>{{api_token}}</p>", form);
  }
});

Deno.test("Scrubber replaces each form with the placeholder encoded for its context", () => {
  const s = scrubber(ODD);
  equal(scrubAll(s, encodeURIComponent(ODD)), encodeURIComponent("{{api_token}}"));
  equal(scrubAll(s, allUnicode(ODD)), "{{api_token}}");
  equal(scrubAll(s, hex(ODD)), "{{api_token}}");
});

Deno.test("Scrubber finds the secret at each base64 alignment inside a longer blob", () => {
  const s = scrubber(SECRET);
  for (let lead = 0; lead < 3; lead++) {
    for (let trail = 0; trail < 3; trail++) {
      const bytes = enc.encode("x".repeat(lead) + `{"sub":"${SECRET}"}` + "y".repeat(trail));
      for (const blob of [b64(bytes), b64url(bytes)]) {
        const out = scrubAll(s, `Authorization: Bearer ${blob}`);
        ok(out.includes("{{api_token}}"), `lead ${lead} trail ${trail}: ${out}`);
        // Decoding what is left must not give the secret back.
        ok(!Buffer.from(out, "base64").toString("latin1").includes(SECRET.slice(0, 8)));
        ok(!out.includes(b64(enc.encode(SECRET)).slice(2, -2)));
      }
    }
  }
});

Deno.test("Scrubber catches a Basic credential whose password is the secret at any username length", () => {
  const s = scrubber(SECRET);
  for (const user of ["a", "ab", "abc", "svc-bot"]) {
    const out = scrubAll(s, `Basic ${btoa(`${user}:${SECRET}`)}`);
    ok(out.includes("{{api_token}}"), `user ${user}: ${out}`);
  }
});

Deno.test("Scrubber catches encoded forms split across two chunks at every split point", () => {
  const s = scrubber(ODD);
  for (const encoded of [allUnicode(ODD), allPercent(ODD), b64(enc.encode(ODD))]) {
    const body = enc.encode(`{"echo":"${encoded}"}`);
    const whole = scrubAll(s, `{"echo":"${encoded}"}`);
    ok(!whole.includes(encoded));
    for (const [head, tail] of everyCut(body)) {
      const cut = head.length;
      const one = new Scrubber(s);
      const a = one.push(head);
      const b = one.push(tail);
      const out = dec.decode(concatBytes([a, b, one.end()]));
      equal(out, whole, `cut at ${cut} of ${encoded}`);
      // Nothing released before the end may hold a whole form.
      ok(!dec.decode(concatBytes([a, b])).includes(encoded));
    }
  }
});

Deno.test("Scrubber removes encoded forms from header values", () => {
  const s = scrubber(SECRET);
  for (const [form, encoded] of Object.entries(encodings(SECRET))) {
    ok(!s.text(`token=${encoded}; Path=/`).includes(encoded), form);
  }
});

Deno.test("Scrubber passes an ordinary JSON document without the secret byte for byte", () => {
  const s = scrubber(SECRET, ODD, HEX, "Summer24");
  const doc = JSON.stringify({
    items: Array.from({ length: 300 }, (_, i) => ({
      id: i,
      sha: (i * 2654435761 >>> 0).toString(16).repeat(5),
      blob: btoa(`item ${i} ${"payload".repeat(i % 7)}`),
      html: `<a href="/r/${i}?a=1&amp;b=2">&#35;${i} &lt;ok&gt; caf\u00e9</a>`,
      url: `/search?q=${encodeURIComponent(`x/${i} & y`)}`,
      esc: "\\u0041\\u0042 %41%42 &#65;&#66;",
    })),
  });
  const bytes = enc.encode(doc);
  const one = new Scrubber(s);
  const out = concatBytes([one.push(bytes.slice(0, 5000)), one.push(bytes.slice(5000)), one.end()]);
  equal(Buffer.compare(out, bytes), 0, "the document was altered");
});
