/**
 * Cost of response scrubbing: compiling the forms of a few secrets (once per secret value and
 * endpoint) and scanning response chunks and header values (on every scrubbed response). Run
 * with `deno bench src/credentials/scrub_bench.ts`.
 *
 * @module
 */

import type { InjectableCredential } from "./http_inject.ts";
import { Scrubber, scrubForms } from "./scrub.ts";

function bearer(name: string): InjectableCredential {
  return {
    ref: `bearer_token.${name}`,
    name,
    kind: "bearer_token",
    endpoints: ["api"],
    placeholder: `{{${name}}}`,
    substituteIn: ["header"],
    inject: "placeholder",
  };
}

// Four credentials on one endpoint, shaped like real ones (prefixed token, hex key, password).
const secrets: Array<[InjectableCredential, string]> = [
  [bearer("github_pat"), "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"],
  [bearer("hex_key"), "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
  [bearer("password"), "pa55:word/with&odd=chars"],
  [{ ...bearer("jira"), kind: "basic_auth", username: "svc" }, "s3cr3t-J1ra-t0ken"],
];
const forms = secrets.flatMap(([c, s]) => scrubForms(c, s));
const template = new Scrubber(forms);

const enc = new TextEncoder();
const json = enc.encode(
  JSON.stringify({
    items: Array.from({ length: 200 }, (_, i) => ({
      id: i,
      name: `repo-${i}`,
      sha: (i * 2654435761 >>> 0).toString(16).padStart(8, "0").repeat(5),
      html: `<a href="/r/${i}?a=1&amp;b=2">repo &#35;${i}</a>`,
    })),
  }).slice(0, 16384),
);
// Base64-heavy payloads (attachments, JWTs) are where base64 forms could cost the most.
const b64 = enc.encode(btoa(String.fromCharCode(...json.subarray(0, 12288))).slice(0, 16384));
const header =
  "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";

/** One response through a fresh scrubber sharing `from`'s forms, as the gateway scans each. */
function scanOnce(from: Scrubber, body: Uint8Array): void {
  const s = new Scrubber(from);
  s.push(body);
  s.end();
}

Deno.bench("compile forms: 4 secrets", { group: "compile" }, () => {
  new Scrubber(secrets.flatMap(([c, s]) => scrubForms(c, s)));
});

Deno.bench("scan: 16 KB JSON chunk, no secret", { group: "json", baseline: true }, () => {
  scanOnce(template, json);
});

Deno.bench("scan: 16 KB base64 chunk, no secret", { group: "b64" }, () => {
  scanOnce(template, b64);
});

Deno.bench("scan: 16 KB JSON in 64-byte chunks (streamed)", { group: "stream" }, () => {
  const s = new Scrubber(template);
  for (let at = 0; at < json.length; at += 64) s.push(json.subarray(at, at + 64));
  s.end();
});

Deno.bench("text: one header value", { group: "header" }, () => {
  template.text(header);
});

// A one-character secret matching every other byte: the scan must stay linear in the body
// (64 KB should cost about four times 16 KB), however many matches it finds.
const oneCharacter = new Scrubber(scrubForms(bearer("short"), "a"));
const alternating16 = enc.encode("ab".repeat(8 * 1024));
const alternating64 = enc.encode("ab".repeat(32 * 1024));

Deno.bench("scan: 16 KB, a one-character secret every other byte", { group: "single" }, () => {
  scanOnce(oneCharacter, alternating16);
});

Deno.bench("scan: 64 KB, a one-character secret every other byte", { group: "single" }, () => {
  scanOnce(oneCharacter, alternating64);
});
