import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  CA_CERT_FILE,
  CA_KEY_FILE,
  createGatewayCa,
  loadGatewayCa,
  readGatewayCaKey,
} from "./ca.ts";
import { toHex } from "./_x509.ts";

async function withStateDir(fn: (stateDir: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "clawpatrol-tls-" });
  try {
    await fn(join(root, "state"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

function modeOf(path: string): number {
  return Deno.statSync(path).mode! & 0o777;
}

/** The base64 body of a PEM file, to check it never leaks into error messages. */
function pemBody(pem: string): string {
  return pem.split("\n").filter((l) => l && !l.startsWith("-----")).join("");
}

Deno.test("createGatewayCa() writes a self-signed P-256 CA certificate", async () => {
  await withStateDir(async (stateDir) => {
    const ca = await createGatewayCa(stateDir, { commonName: "test CA", validDays: 30 });

    assert.equal(await Deno.readTextFile(join(stateDir, CA_CERT_FILE)), ca.certPem);
    const cert = new x509.X509Certificate(ca.certPem);
    assert.match(cert.subject, /CN=test CA/);
    assert.equal(cert.subject, cert.issuer);
    assert.ok(await cert.verify({ signatureOnly: true }), "self-signature verifies");
    assert.deepEqual(cert.publicKey.algorithm, { name: "ECDSA", namedCurve: "P-256" });

    const bc = cert.getExtension(x509.BasicConstraintsExtension);
    assert.ok(bc, "has basicConstraints");
    assert.equal(bc.ca, true);
    assert.equal(bc.pathLength, 0);
    assert.equal(bc.critical, true);
    const ku = cert.getExtension(x509.KeyUsagesExtension);
    assert.ok(ku, "has keyUsage");
    assert.equal(ku.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    assert.equal(ku.critical, true);
    assert.ok(cert.getExtension(x509.SubjectKeyIdentifierExtension), "has subjectKeyIdentifier");

    const days = (cert.notAfter.getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 29.9 && days <= 30, `valid for 30 days, got ${days}`);
    assert.ok(cert.notBefore.getTime() < Date.now(), "notBefore is in the past");

    const digest = toHex(await crypto.subtle.digest("SHA-256", cert.rawData));
    assert.equal(ca.fingerprint, digest);
    assert.match(ca.fingerprint, /^[0-9a-f]{64}$/);
  });
});

Deno.test("createGatewayCa() gives every CA a fresh key and a random positive serial", async () => {
  await withStateDir(async (a) => {
    await withStateDir(async (b) => {
      const [one, two] = await Promise.all([createGatewayCa(a), createGatewayCa(b)]);
      assert.notEqual(one.cert.serialNumber, two.cert.serialNumber);
      assert.notEqual(one.fingerprint, two.fingerprint);
      for (const ca of [one, two]) {
        assert.match(ca.cert.serialNumber, /^[4-7][0-9a-f]{31}$/);
      }
    });
  });
});

Deno.test("createGatewayCa() writes the key with mode 0600 and the certificate with 0644", async () => {
  await withStateDir(async (stateDir) => {
    await createGatewayCa(stateDir);
    assert.equal(modeOf(join(stateDir, CA_KEY_FILE)), 0o600);
    assert.equal(modeOf(join(stateDir, CA_CERT_FILE)), 0o644);
    assert.equal(modeOf(stateDir), 0o700, "creates the state dir 0700");
    const leftovers = [...Deno.readDirSync(stateDir)].map((e) => e.name).sort();
    assert.deepEqual(leftovers, [CA_KEY_FILE, CA_CERT_FILE].sort(), "no temp files left behind");
    assert.match(
      await Deno.readTextFile(join(stateDir, CA_KEY_FILE)),
      /^-----BEGIN PRIVATE KEY-----\n/,
    );
  });
});

Deno.test("createGatewayCa() keeps the key 0600 even under umask 000", async () => {
  const previous = Deno.umask(0);
  try {
    await withStateDir(async (stateDir) => {
      await createGatewayCa(stateDir);
      assert.equal(modeOf(join(stateDir, CA_KEY_FILE)), 0o600);
    });
  } finally {
    Deno.umask(previous);
  }
});

Deno.test("createGatewayCa() returns a non-extractable key", async () => {
  await withStateDir(async (stateDir) => {
    const ca = await createGatewayCa(stateDir);
    assert.equal(ca.privateKey.extractable, false);
    await assert.rejects(crypto.subtle.exportKey("pkcs8", ca.privateKey));
  });
});

Deno.test("createGatewayCa() refuses to overwrite an existing CA", async () => {
  await withStateDir(async (stateDir) => {
    const first = await createGatewayCa(stateDir);
    await assert.rejects(createGatewayCa(stateDir), (err: Error) => {
      assert.ok(err instanceof Deno.errors.AlreadyExists);
      assert.match(err.message, /already exists/);
      assert.ok(err.message.includes(stateDir), "names the file");
      return true;
    });
    assert.equal((await loadGatewayCa(stateDir)).fingerprint, first.fingerprint, "files untouched");
  });
});

Deno.test("createGatewayCa() refuses when only the key file exists", async () => {
  await withStateDir(async (stateDir) => {
    await Deno.mkdir(stateDir, { recursive: true });
    await Deno.writeTextFile(join(stateDir, CA_KEY_FILE), "precious", { mode: 0o600 });
    await assert.rejects(createGatewayCa(stateDir), Deno.errors.AlreadyExists);
    assert.equal(await Deno.readTextFile(join(stateDir, CA_KEY_FILE)), "precious");
  });
});

Deno.test("createGatewayCa({force: true}) replaces the CA with a 0600 key", async () => {
  await withStateDir(async (stateDir) => {
    const first = await createGatewayCa(stateDir);
    await Deno.chmod(join(stateDir, CA_KEY_FILE), 0o644);
    const second = await createGatewayCa(stateDir, { force: true });
    assert.notEqual(second.fingerprint, first.fingerprint);
    assert.equal(
      modeOf(join(stateDir, CA_KEY_FILE)),
      0o600,
      "does not inherit the old file's mode",
    );
    assert.equal((await loadGatewayCa(stateDir)).fingerprint, second.fingerprint);
  });
});

Deno.test("createGatewayCa() rejects a non-positive validity", async () => {
  await withStateDir(async (stateDir) => {
    await assert.rejects(createGatewayCa(stateDir, { validDays: 0 }), RangeError);
    await assert.rejects(createGatewayCa(stateDir, { validDays: 1.5 }), RangeError);
    await assert.rejects(createGatewayCa(stateDir, { commonName: " " }), RangeError);
  });
});

Deno.test("loadGatewayCa() round-trips a created CA", async () => {
  await withStateDir(async (stateDir) => {
    const created = await createGatewayCa(stateDir);
    const loaded = await loadGatewayCa(stateDir);
    assert.equal(loaded.certPem, created.certPem);
    assert.equal(loaded.fingerprint, created.fingerprint);
    assert.equal(loaded.cert.serialNumber, created.cert.serialNumber);
    assert.equal(loaded.privateKey.extractable, false);

    // The loaded key is the certificate's key: its signatures verify with the cert's public key.
    const data = new TextEncoder().encode("clawpatrol");
    const alg = { name: "ECDSA", hash: "SHA-256" };
    const signature = await crypto.subtle.sign(alg, loaded.privateKey, data);
    const publicKey = await new x509.X509Certificate(created.certPem).publicKey.export();
    assert.ok(await crypto.subtle.verify(alg, publicKey, signature, data));
  });
});

Deno.test("loadGatewayCa() names the missing file", async () => {
  await withStateDir(async (stateDir) => {
    await assert.rejects(loadGatewayCa(stateDir), (err: Error) => {
      assert.ok(err instanceof Deno.errors.NotFound);
      assert.ok(err.message.includes(join(stateDir, CA_CERT_FILE)), err.message);
      assert.match(err.message, /clawpatrol init/);
      return true;
    });
    await createGatewayCa(stateDir);
    await Deno.remove(join(stateDir, CA_KEY_FILE));
    await assert.rejects(loadGatewayCa(stateDir), (err: Error) => {
      assert.ok(err instanceof Deno.errors.NotFound);
      assert.ok(err.message.includes(join(stateDir, CA_KEY_FILE)), err.message);
      return true;
    });
  });
});

Deno.test("loadGatewayCa() refuses a key file group or others can read", async () => {
  await withStateDir(async (stateDir) => {
    await createGatewayCa(stateDir);
    const keyPath = join(stateDir, CA_KEY_FILE);
    const keyPem = await Deno.readTextFile(keyPath);
    for (const mode of [0o640, 0o604, 0o644]) {
      await Deno.chmod(keyPath, mode);
      await assert.rejects(loadGatewayCa(stateDir), (err: Error) => {
        assert.ok(err.message.includes(`chmod 600 ${keyPath}`), err.message);
        assert.ok(!err.message.includes(pemBody(keyPem)), "no key material in the message");
        return true;
      });
    }
    await Deno.chmod(keyPath, 0o600);
    await loadGatewayCa(stateDir);
  });
});

Deno.test("loadGatewayCa() names a malformed certificate without echoing it", async () => {
  await withStateDir(async (stateDir) => {
    await createGatewayCa(stateDir);
    const certPath = join(stateDir, CA_CERT_FILE);
    for (
      const junk of [
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
      ]
    ) {
      await Deno.writeTextFile(certPath, junk);
      await assert.rejects(loadGatewayCa(stateDir), (err: Error) => {
        assert.ok(err instanceof SyntaxError);
        assert.ok(err.message.includes(certPath), err.message);
        return true;
      });
    }
  });
});

Deno.test("loadGatewayCa() names a malformed key without echoing it", async () => {
  await withStateDir(async (stateDir) => {
    await createGatewayCa(stateDir);
    const keyPath = join(stateDir, CA_KEY_FILE);
    const secret = "c2VjcmV0LWtleS1ieXRlcy10aGF0LW11c3Qtbm90LWxlYWs=";
    for (
      const junk of [secret, `-----BEGIN PRIVATE KEY-----\n${secret}\n-----END PRIVATE KEY-----\n`]
    ) {
      await Deno.writeTextFile(keyPath, junk, { mode: 0o600 });
      await assert.rejects(loadGatewayCa(stateDir), (err: Error) => {
        assert.ok(err instanceof SyntaxError);
        assert.ok(err.message.includes(keyPath), err.message);
        assert.ok(!err.message.includes(secret), "no key material in the message");
        assert.equal(err.cause, undefined, "no cause carrying key bytes");
        return true;
      });
    }
  });
});

Deno.test("loadGatewayCa() rejects a key that belongs to another CA", async () => {
  await withStateDir(async (a) => {
    await withStateDir(async (b) => {
      await createGatewayCa(a);
      await createGatewayCa(b);
      await Deno.copyFile(join(b, CA_KEY_FILE), join(a, CA_KEY_FILE));
      await assert.rejects(loadGatewayCa(a), /is not the key of/);
    });
  });
});

Deno.test("loadGatewayCa() rejects a certificate that is not a CA", async () => {
  await withStateDir(async (stateDir) => {
    await createGatewayCa(stateDir);
    const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
      "sign",
      "verify",
    ]);
    const notCa = await x509.X509CertificateGenerator.createSelfSigned({
      name: "CN=not a ca",
      keys,
      extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
    });
    await Deno.writeTextFile(join(stateDir, CA_CERT_FILE), notCa.toString("pem"));
    await assert.rejects(loadGatewayCa(stateDir), /is not a CA certificate/);
  });
});

Deno.test("loadGatewayCa() takes the key as PEM (from the vault) once ca.key is gone", async () => {
  await withStateDir(async (stateDir) => {
    const created = await createGatewayCa(stateDir);
    const pem = await readGatewayCaKey(stateDir);
    await Deno.remove(join(stateDir, CA_KEY_FILE));
    const loaded = await loadGatewayCa(stateDir, { privateKeyPem: pem });
    assert.equal(loaded.fingerprint, created.fingerprint);

    // Another CA's key, or text that is not a key, is refused without echoing it.
    const other = join(stateDir, "..", "other");
    await createGatewayCa(other);
    const foreign = await readGatewayCaKey(other);
    await assert.rejects(
      loadGatewayCa(stateDir, { privateKeyPem: foreign }),
      /the vault' is not the key of/,
    );
    await assert.rejects(loadGatewayCa(stateDir, { privateKeyPem: "garbage" }), (err: Error) => {
      assert.match(err.message, /the key in the vault is not a PKCS#8 PEM key/);
      assert.ok(!err.message.includes("garbage"));
      return true;
    });
  });
});

Deno.test("readGatewayCaKey() refuses a key file others can read", async () => {
  await withStateDir(async (stateDir) => {
    await createGatewayCa(stateDir);
    await Deno.chmod(join(stateDir, CA_KEY_FILE), 0o640);
    await assert.rejects(readGatewayCaKey(stateDir), /chmod 600/);
  });
});
