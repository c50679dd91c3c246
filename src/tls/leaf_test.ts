import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import assert from "node:assert/strict";
import { join } from "node:path";
import * as tls from "node:tls";
import { createGatewayCa, type GatewayCa } from "./ca.ts";
import { LEAF_VALID_DAYS, mintLeaf } from "./leaf.ts";

async function withCa(fn: (ca: GatewayCa, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol-leaf-" });
  try {
    await fn(await createGatewayCa(join(dir, "state"), { commonName: "leaf test CA" }), dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The CA's certificate as `@peculiar/x509` reads it: a parser independent of the gateway's. */
function caCertOf(ca: GatewayCa): x509.X509Certificate {
  return new x509.X509Certificate(ca.certPem);
}

function sanOf(cert: x509.X509Certificate): { type: string; value: string }[] {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  assert.ok(san, "has subjectAltName");
  return san.names.toJSON();
}

Deno.test("mintLeaf() signs a serverAuth leaf that verifies against the CA", async () => {
  await withCa(async (ca) => {
    const leaf = await mintLeaf(ca, "api.github.com");
    const cert = new x509.X509Certificate(leaf.certPem);

    assert.ok(
      await cert.verify({ publicKey: await caCertOf(ca).publicKey.export(), signatureOnly: true }),
    );
    assert.equal(cert.issuer, caCertOf(ca).subject);
    assert.equal(cert.subject, "CN=api.github.com");
    assert.deepEqual(sanOf(cert), [{ type: "dns", value: "api.github.com" }]);
    assert.deepEqual(cert.publicKey.algorithm, { name: "ECDSA", namedCurve: "P-256" });

    const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
    assert.deepEqual([...eku?.usages ?? []], [x509.ExtendedKeyUsage.serverAuth]);
    assert.equal(cert.getExtension(x509.BasicConstraintsExtension)?.ca, false);
    const caKeyId = caCertOf(ca).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
    assert.equal(aki?.keyId, caKeyId, "authorityKeyIdentifier points at the CA");

    const days = (cert.notAfter.getTime() - Date.now()) / 86_400_000;
    assert.ok(days > LEAF_VALID_DAYS - 0.1 && days <= LEAF_VALID_DAYS, `about 7 days, got ${days}`);
    assert.equal(leaf.notAfter.getTime(), cert.notAfter.getTime());
    assert.match(leaf.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  });
});

Deno.test("mintLeaf() does not verify against a different CA", async () => {
  await withCa(async (ca) => {
    await withCa(async (other) => {
      const cert = new x509.X509Certificate((await mintLeaf(ca, "example.com")).certPem);
      const otherKey = await caCertOf(other).publicKey.export();
      assert.equal(await cert.verify({ publicKey: otherKey, signatureOnly: true }), false);
    });
  });
});

Deno.test("mintLeaf() puts IP addresses in an IP SAN, and nothing else for a non-loopback one", async () => {
  await withCa(async (ca) => {
    for (
      const [host, ip] of [
        ["10.0.0.5", "10.0.0.5"],
        ["fd00::5", "fd00::5"],
        ["[fd00::5]", "fd00::5"],
        ["128.0.0.1", "128.0.0.1"],
        ["::2", "::2"],
      ]
    ) {
      const cert = new x509.X509Certificate((await mintLeaf(ca, host)).certPem);
      assert.deepEqual(sanOf(cert), [{ type: "ip", value: ip }], host);
    }
  });
});

Deno.test("mintLeaf() names every loopback spelling on a leaf for a loopback host", async () => {
  await withCa(async (ca) => {
    const localhost = { type: "dns", value: "localhost" };
    const v4 = { type: "ip", value: "127.0.0.1" };
    const v6 = { type: "ip", value: "::1" };
    const cases: [string, string, { type: string; value: string }[]][] = [
      ["127.0.0.1", "CN=127.0.0.1", [v4, localhost, v6]],
      ["::1", "CN=::1", [v6, localhost, v4]],
      ["[::1]", "CN=::1", [v6, localhost, v4]],
      ["LocalHost.", "CN=localhost", [localhost, v4, v6]],
      // Still this host: the address itself stays first, the usual spellings follow.
      ["127.0.0.2", "CN=127.0.0.2", [{ type: "ip", value: "127.0.0.2" }, localhost, v4, v6]],
    ];
    for (const [host, subject, names] of cases) {
      const cert = new x509.X509Certificate((await mintLeaf(ca, host)).certPem);
      assert.equal(cert.subject, subject, host);
      assert.deepEqual(sanOf(cert), names, host);
    }
    // A name that merely starts like localhost is someone else's.
    const other = new x509.X509Certificate((await mintLeaf(ca, "localhost.example")).certPem);
    assert.deepEqual(sanOf(other), [{ type: "dns", value: "localhost.example" }]);
  });
});

Deno.test("node:tls accepts a leaf minted for 127.0.0.1 when it dials localhost or ::1", async () => {
  await withCa(async (ca) => {
    const leaf = await mintLeaf(ca, "127.0.0.1");
    const server = tls.createServer(
      { cert: leaf.certPem, key: leaf.keyPem },
      (socket) => socket.end("ok"),
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    // servername (or the IP checked in its place) is what the client verifies against the SANs.
    const verify = (checked: string) =>
      new Promise<void>((resolve, reject) => {
        const socket = tls.connect({
          host: "127.0.0.1",
          port,
          ca: [ca.certPem],
          checkServerIdentity: (_host, cert) => tls.checkServerIdentity(checked, cert),
        }, () => {
          socket.destroy();
          resolve();
        });
        socket.on("error", reject);
      });
    try {
      for (const name of ["127.0.0.1", "localhost", "::1"]) await verify(name);
      await assert.rejects(verify("10.0.0.5"), /altnames|IP/i);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

Deno.test("mintLeaf() lowercases DNS names and drops a trailing dot", async () => {
  await withCa(async (ca) => {
    const cert = new x509.X509Certificate((await mintLeaf(ca, "Billing.Internal.")).certPem);
    assert.deepEqual(sanOf(cert), [{ type: "dns", value: "billing.internal" }]);
  });
});

Deno.test("mintLeaf() rejects what is not a host name", async () => {
  await withCa(async (ca) => {
    for (
      const host of [
        "",
        "exa mple.com",
        "a..b",
        "*",
        "*.example.com",
        "-x.com",
        "h\u00e9.com",
        "a,CN=evil",
      ]
    ) {
      await assert.rejects(mintLeaf(ca, host), TypeError, JSON.stringify(host));
    }
  });
});

Deno.test("mintLeaf() never outlives the CA", async () => {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol-leaf-" });
  try {
    const ca = await createGatewayCa(join(dir, "state"), { validDays: 2 });
    const leaf = await mintLeaf(ca, "example.com");
    assert.equal(leaf.notAfter.getTime(), caCertOf(ca).notAfter.getTime());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a minted leaf completes a TLS handshake with a client that trusts only the CA", async () => {
  await withCa(async (ca) => {
    const leaf = await mintLeaf(ca, "localhost");
    const listener = Deno.listenTls({
      // Bind to whatever "localhost" resolves to first here, the address the client will dial.
      hostname: "localhost",
      port: 0,
      cert: leaf.certPem,
      key: leaf.keyPem,
    });
    const served = (async () => {
      const conn = await listener.accept();
      try {
        await conn.handshake();
        await conn.write(new TextEncoder().encode("hello"));
      } finally {
        conn.close();
      }
    })();

    try {
      // hostname is both what the client dials and what it checks against the leaf's SAN.
      const client = await Deno.connectTls({
        hostname: "localhost",
        port: listener.addr.port,
        caCerts: [ca.certPem],
      });
      try {
        await client.handshake();
        const buf = new Uint8Array(5);
        let got = 0;
        while (got < buf.length) {
          const n = await client.read(buf.subarray(got));
          if (n === null) break;
          got += n;
        }
        assert.equal(new TextDecoder().decode(buf), "hello");
      } finally {
        client.close();
      }
    } finally {
      listener.close();
      await served.catch(() => {});
    }
  });
});

Deno.test("a TLS client without the CA rejects the minted leaf", async () => {
  await withCa(async (ca) => {
    const leaf = await mintLeaf(ca, "localhost");
    const listener = Deno.listenTls({
      // Bind to whatever "localhost" resolves to first here, the address the client will dial.
      hostname: "localhost",
      port: 0,
      cert: leaf.certPem,
      key: leaf.keyPem,
    });
    const served = (async () => {
      const conn = await listener.accept();
      await conn.handshake().catch(() => {});
      conn.close();
    })();
    try {
      const client = await Deno.connectTls({ hostname: "localhost", port: listener.addr.port });
      await assert.rejects(client.handshake(), /UnknownIssuer|certificate/i);
      client.close();
    } finally {
      listener.close();
      await served.catch(() => {});
    }
  });
});

Deno.test("node:tls verifies the leaf's hostname and IP SANs through the CA", async () => {
  await withCa(async (ca) => {
    const [dnsLeaf, ipLeaf] = await Promise.all([
      mintLeaf(ca, "api.example.test"),
      mintLeaf(ca, "127.0.0.1"),
    ]);
    const server = tls.createServer({
      SNICallback: (servername, cb) => {
        const leaf = servername === "api.example.test" ? dnsLeaf : ipLeaf;
        cb(null, tls.createSecureContext({ cert: leaf.certPem, key: leaf.keyPem }));
      },
      cert: ipLeaf.certPem,
      key: ipLeaf.keyPem,
    }, (socket) => socket.end("ok"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };

    const handshake = (options: tls.ConnectionOptions) =>
      new Promise<string>((resolve, reject) => {
        const socket = tls.connect(
          { host: "127.0.0.1", port, ca: [ca.certPem], ...options },
          () => {
            let data = "";
            socket.on("data", (chunk) => data += chunk);
            socket.on("end", () => resolve(data));
          },
        );
        socket.on("error", reject);
      });
    try {
      assert.equal(await handshake({ servername: "api.example.test" }), "ok");
      assert.equal(await handshake({}), "ok", "IP SAN matches 127.0.0.1");
      await assert.rejects(handshake({ servername: "other.example.test" }), /altnames|hostname/i);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

const hasCurl = await new Deno.Command("curl", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
})
  .output().then((o) => o.success, () => false);

Deno.test({
  name: "curl --cacert accepts an HTTPS server using a minted leaf",
  ignore: !hasCurl,
}, async () => {
  await withCa(async (ca, dir) => {
    const leaf = await mintLeaf(ca, "gateway.test");
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, cert: leaf.certPem, key: leaf.keyPem, onListen: () => {} },
      () => new Response("through the gateway CA"),
    );
    const caFile = join(dir, "ca.pem");
    await Deno.writeTextFile(caFile, ca.certPem);
    const url = `https://gateway.test:${server.addr.port}/`;
    const resolve = `gateway.test:${server.addr.port}:127.0.0.1`;
    try {
      const ok = await new Deno.Command("curl", {
        args: ["-sS", "--noproxy", "*", "--cacert", caFile, "--resolve", resolve, url],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(ok.code, 0, new TextDecoder().decode(ok.stderr));
      assert.equal(new TextDecoder().decode(ok.stdout), "through the gateway CA");

      const untrusted = await new Deno.Command("curl", {
        args: ["-sS", "--noproxy", "*", "--resolve", resolve, url],
        stdout: "null",
        stderr: "null",
        env: { CURL_CA_BUNDLE: "/nonexistent" },
      }).output();
      assert.notEqual(untrusted.code, 0, "curl without the CA refuses the leaf");
    } finally {
      await server.shutdown();
    }
  });
});
