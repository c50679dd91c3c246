import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import assert from "node:assert/strict";
import { join } from "node:path";
import { CA_CERT_FILE, CA_KEY_FILE, createGatewayCa, loadGatewayCa } from "./ca.ts";
import { mintLeaf } from "./leaf.ts";
import { parseCertificate } from "./_cert.ts";
import { decodePem } from "./_x509.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol-cert-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function openssl(...args: string[]): Promise<{ code: number; out: string }> {
  const result = await new Deno.Command("openssl", { args, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder();
  return { code: result.code, out: text.decode(result.stdout) + text.decode(result.stderr) };
}

Deno.test("openssl verifies a minted leaf against the CA, and reads the extensions we wrote", async () => {
  await withDir(async (dir) => {
    const ca = await createGatewayCa(join(dir, "state"), { commonName: "openssl check CA" });
    const leaf = await mintLeaf(ca, "127.0.0.1");
    await Deno.writeTextFile(join(dir, "leaf.pem"), leaf.certPem);
    const caPem = join(dir, "state", CA_CERT_FILE);

    const verified = await openssl(
      "verify",
      "-x509_strict",
      "-CAfile",
      caPem,
      join(dir, "leaf.pem"),
    );
    assert.equal(verified.code, 0, verified.out);
    // A self-check: the CA alone is not a leaf's issuer for a key it did not sign.
    const other = await createGatewayCa(join(dir, "other"));
    const refused = await openssl(
      "verify",
      "-CAfile",
      join(dir, "other", CA_CERT_FILE),
      join(dir, "leaf.pem"),
    );
    assert.notEqual(refused.code, 0, `${other.fingerprint} must not verify the leaf`);

    const caText = (await openssl("x509", "-in", caPem, "-noout", "-text")).out;
    assert.match(caText, /Subject: CN ?= ?openssl check CA, O ?= ?clawpatrol/);
    assert.match(caText, /Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    assert.match(caText, /Key Usage: critical\s+Certificate Sign, CRL Sign\n/);
    assert.match(caText, /Signature Algorithm: ecdsa-with-SHA256/);

    const leafText = (await openssl("x509", "-in", join(dir, "leaf.pem"), "-noout", "-text")).out;
    assert.match(leafText, /Basic Constraints: critical\s+CA:FALSE/);
    assert.match(leafText, /Key Usage: critical\s+Digital Signature\n/);
    assert.match(leafText, /Extended Key Usage: \s+TLS Web Server Authentication\n/);
    assert.match(
      leafText,
      /Subject Alternative Name: \s+IP Address:127\.0\.0\.1, DNS:localhost, IP Address:0:0:0:0:0:0:0:1\n/,
    );
    // DER (X.690 §11.2.2) drops a BIT STRING's trailing zero bits, which lenient readers such as
    // openssl's accept either way: keyUsage's exact bytes, OID through the bits.
    const hex = (pem: string) => decodePem(pem, "CERTIFICATE")!.toHex();
    assert.ok(hex(ca.certPem).includes("0603551d0f0101ff040403020106"), "CA keyUsage: 1 unused");
    assert.ok(hex(leaf.certPem).includes("0603551d0f0101ff040403020780"), "leaf: 7 unused");
    const skiOfCa = /Subject Key Identifier: \s+([0-9A-F:]+)/.exec(caText)?.[1];
    assert.ok(skiOfCa);
    assert.match(leafText, new RegExp(`Authority Key Identifier: \\s+(keyid:)?${skiOfCa}`));
  });
});

Deno.test("a CA openssl made loads, and leaves it signs verify", async () => {
  await withDir(async (dir) => {
    const state = join(dir, "state");
    await Deno.mkdir(state, { mode: 0o700 });
    const made = await openssl(
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      join(state, CA_KEY_FILE),
      "-out",
      join(state, CA_CERT_FILE),
      "-days",
      "30",
      "-subj",
      "/CN=openssl made CA/O=elsewhere",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign",
    );
    assert.equal(made.code, 0, made.out);
    await Deno.chmod(join(state, CA_KEY_FILE), 0o600);
    const ca = await loadGatewayCa(state);
    const leaf = await mintLeaf(ca, "api.example.com");
    const cert = new x509.X509Certificate(leaf.certPem);
    assert.equal(cert.issuer, new x509.X509Certificate(ca.certPem).subject);
    await Deno.writeTextFile(join(dir, "leaf.pem"), leaf.certPem);
    const verified = await openssl(
      "verify",
      "-CAfile",
      join(state, CA_CERT_FILE),
      join(dir, "leaf.pem"),
    );
    assert.equal(verified.code, 0, verified.out);
  });
});

Deno.test("a CA valid past 2049 carries a GeneralizedTime that reads back", async () => {
  await withDir(async (dir) => {
    const ca = await createGatewayCa(join(dir, "state"), { validDays: 365 * 40 });
    const theirs = new x509.X509Certificate(ca.certPem);
    assert.ok(theirs.notAfter.getUTCFullYear() >= 2050);
    assert.equal(ca.cert.notAfter.getTime(), theirs.notAfter.getTime());
    assert.equal(ca.cert.notBefore.getTime(), theirs.notBefore.getTime());
    const loaded = await loadGatewayCa(join(dir, "state"));
    assert.equal(loaded.cert.notAfter.getTime(), theirs.notAfter.getTime());
  });
});

Deno.test("mintLeaf() writes every IPv6 spelling as the address's 16 bytes", async () => {
  await withDir(async (dir) => {
    const ca = await createGatewayCa(join(dir, "state"));
    const cases: [string, string][] = [
      ["2001:db8::1", "2001:db8::1"],
      ["[2001:db8:0:0:1:0:0:1]", "2001:db8::1:0:0:1"],
      ["::ffff:192.0.2.7", "::ffff:c000:207"],
      ["64:ff9b::198.51.100.1", "64:ff9b::c633:6401"],
      ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
      ["fe80::", "fe80::"],
    ];
    for (const [host, canonical] of cases) {
      const cert = new x509.X509Certificate((await mintLeaf(ca, host)).certPem);
      const san = cert.getExtension(x509.SubjectAlternativeNameExtension)!.names.toJSON();
      // Both sides in one canonical text: URL's serialisation of an IPv6 host.
      const text = (ip: string) => new URL(`http://[${ip}]/`).hostname;
      assert.deepEqual(san.map((n) => [n.type, text(n.value)]), [["ip", text(canonical)]], host);
    }
    await assert.rejects(mintLeaf(ca, "fe80::1%eth0"), TypeError);
  });
});

Deno.test("mintLeaf() names a DNS host of any legal length (a SAN past 127 bytes takes a long length)", async () => {
  await withDir(async (dir) => {
    const ca = await createGatewayCa(join(dir, "state"));
    // Labels of 63 characters cut to the length; a cut right after a dot ends in label "b".
    const full = Array.from({ length: 4 }, () => "a".repeat(63)).join(".");
    for (const length of [1, 127, 128, 200, 253]) {
      const cut = full.slice(0, length);
      const host = cut.endsWith(".") ? `${cut.slice(0, -2)}.b` : cut;
      assert.equal(host.length, length);
      const cert = new x509.X509Certificate((await mintLeaf(ca, host)).certPem);
      const san = cert.getExtension(x509.SubjectAlternativeNameExtension)!.names.toJSON();
      assert.deepEqual(san, [{ type: "dns", value: host }], `${host.length} characters`);
    }
  });
});

Deno.test("parseCertificate() throws only SyntaxError on cut and corrupted DER", async () => {
  await withDir(async (dir) => {
    const ca = await createGatewayCa(join(dir, "state"));
    const der = decodePem((await mintLeaf(ca, "example.com")).certPem, "CERTIFICATE")!;
    assert.equal(parseCertificate(der).subjectKeyId?.length, 20);
    for (let cut = 0; cut < der.length; cut++) {
      assert.throws(() => parseCertificate(der.subarray(0, cut)), SyntaxError, `cut at ${cut}`);
    }
    assert.throws(() => parseCertificate(Uint8Array.of(...der, 0)), SyntaxError);
    // Seeded corruption: whatever a flipped byte does, the parser answers or says why.
    let seed = 0x2f6e2b1;
    const random = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    let parsed = 0;
    for (let i = 0; i < 3000; i++) {
      const bad = der.slice();
      for (let n = 1 + Math.floor(random() * 3); n > 0; n--) {
        bad[Math.floor(random() * bad.length)] = Math.floor(random() * 256);
      }
      try {
        parseCertificate(bad);
        parsed++;
      } catch (error) {
        assert.ok(error instanceof SyntaxError, `corruption ${i}: ${error}`);
      }
    }
    // Most flips land in the key, signature or text, which parse: the loop did exercise both.
    assert.ok(parsed > 0 && parsed < 3000, `${parsed} of 3000 parsed`);
  });
});

Deno.test("decodePem() takes exactly one block of its label, text around it allowed", () => {
  const block = "-----BEGIN CERTIFICATE-----\nAAEC\nAw==\n-----END CERTIFICATE-----\n";
  assert.deepEqual(decodePem(block, "CERTIFICATE"), Uint8Array.of(0, 1, 2, 3));
  assert.deepEqual(
    decodePem(`Bag Attributes\n${block}trailer\n`, "CERTIFICATE"),
    Uint8Array.of(0, 1, 2, 3),
  );
  assert.equal(decodePem(block, "PRIVATE KEY"), null);
  assert.equal(decodePem(block + block, "CERTIFICATE"), null);
  assert.equal(
    decodePem(block.replace("AAEC", "Proc-Type: 4,ENCRYPTED\nAAEC"), "CERTIFICATE"),
    null,
  );
  assert.equal(decodePem(block.replace("AAEC", "AA!C"), "CERTIFICATE"), null);
  assert.equal(decodePem(block.replace("END CERTIFICATE", "END PRIVATE KEY"), "CERTIFICATE"), null);
  assert.equal(decodePem("no pem here", "CERTIFICATE"), null);
});
