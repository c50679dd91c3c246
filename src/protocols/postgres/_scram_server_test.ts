import { deepEqual, equal, notEqual, ok, throws } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash, createHmac, pbkdf2Sync, X509Certificate } from "node:crypto";
import { ScramClient } from "./_scram.ts";
import { ProtocolError } from "./_frontend.ts";
import type { PostgresScramVerifiers } from "./context.ts";
import {
  authenticationSasl,
  parseSaslInitialResponse,
  SCRAM,
  SCRAM_PLUS,
  ScramServer,
  tlsServerEndPoint,
} from "./_scram_server.ts";
import { mintTestCa, mintTestCertificate } from "../../../tests/_test_ca.ts";

const SALT = Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64");
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");

function keysOf(password: string, salt = SALT) {
  const salted = pbkdf2Sync(password, salt, 4096, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  return {
    clientKey,
    storedKey: new Uint8Array(createHash("sha256").update(clientKey).digest()),
    serverKey: new Uint8Array(createHmac("sha256", salted).update("Server Key").digest()),
  };
}

function verifiers(...tokens: string[]): PostgresScramVerifiers {
  return {
    salt: new Uint8Array(SALT),
    iterations: 4096,
    keys: tokens.map((t, i) => ({ agent: { name: `a${i}`, profile: "p" }, ...keysOf(t) })),
  };
}

/** A client-final with any gs2 header and binding data (ScramClient only speaks `n,,`). */
function clientFinal(
  token: string,
  clientFirstBare: string,
  serverFirst: string,
  cbind: Uint8Array,
  tamperProof = false,
): string {
  const nonce = /r=([^,]+)/.exec(serverFirst)![1];
  const withoutProof = `c=${b64(cbind)},r=${nonce}`;
  const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
  const { clientKey, storedKey } = keysOf(token);
  const signature = createHmac("sha256", storedKey).update(authMessage).digest();
  const proof = clientKey.map((b, i) => b ^ signature[i]);
  if (tamperProof) proof[0] ^= 1;
  return `${withoutProof},p=${b64(proof)}`;
}

const END_POINT = new Uint8Array(32).fill(7);
const PLUS_HEADER = "p=tls-server-end-point,,";
const plusBinding = (endPoint = END_POINT) => Buffer.concat([Buffer.from(PLUS_HEADER), endPoint]);

function isViolation(pattern: RegExp) {
  return (err: unknown) =>
    err instanceof ProtocolError && err.code === "08P01" && pattern.test(err.message);
}

Deno.test("ScramServer answers the RFC 7677 exchange with the RFC's server-first and signature", () => {
  const server = new ScramServer(verifiers("pencil"), null, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
  const first = server.serverFirst({ mechanism: SCRAM, data: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO" });
  equal(
    first,
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
  );
  const outcome = server.serverFinal(
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
  );
  deepEqual(outcome, {
    agent: { name: "a0", profile: "p" },
    serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
  });
});

Deno.test("ScramServer logs the gateway's own ScramClient in as the agent whose token it is", async () => {
  const server = new ScramServer(verifiers("cpat_one", "cpat_two", "cpat_three"), null);
  deepEqual(server.mechanisms, [SCRAM]);
  const client = new ScramClient("cpat_two");
  const first = server.serverFirst({ mechanism: SCRAM, data: client.clientFirst() });
  const outcome = server.serverFinal(await client.clientFinal(first));
  equal(outcome?.agent.name, "a1");
  await client.verifyServerFinal(outcome!.serverFinal); // the server proved it holds the verifier
});

Deno.test("ScramServer refuses a wrong token and a tampered proof without naming an agent", async () => {
  const wrong = new ScramServer(verifiers("cpat_one"), null);
  const client = new ScramClient("cpat_other");
  const first = wrong.serverFirst({ mechanism: SCRAM, data: client.clientFirst() });
  equal(wrong.serverFinal(await client.clientFinal(first)), null);

  const tampered = new ScramServer(verifiers("cpat_one"), null);
  const bare = "n=,r=abcdef";
  const serverFirst = tampered.serverFirst({ mechanism: SCRAM, data: `n,,${bare}` });
  const final = clientFinal("cpat_one", bare, serverFirst, Buffer.from("n,,"), true);
  equal(tampered.serverFinal(final), null);
});

Deno.test("ScramServer offers PLUS first over TLS and checks the tls-server-end-point binding", () => {
  const server = new ScramServer(verifiers("cpat_one"), END_POINT);
  deepEqual(server.mechanisms, [SCRAM_PLUS, SCRAM]);
  const bare = "n=,r=clientnonce";
  const first = server.serverFirst({ mechanism: SCRAM_PLUS, data: `${PLUS_HEADER}${bare}` });
  const outcome = server.serverFinal(clientFinal("cpat_one", bare, first, plusBinding()));
  equal(outcome?.agent.name, "a0");

  // A man in the middle terminates TLS with its own certificate: the binding differs.
  const mitm = new ScramServer(verifiers("cpat_one"), END_POINT);
  const mitmFirst = mitm.serverFirst({ mechanism: SCRAM_PLUS, data: `${PLUS_HEADER}${bare}` });
  const other = plusBinding(new Uint8Array(32).fill(8));
  throws(
    () => mitm.serverFinal(clientFinal("cpat_one", bare, mitmFirst, other)),
    isViolation(/channel binding check failed/),
  );
});

Deno.test("ScramServer refuses gs2 headers that would downgrade or mismatch the mechanism", () => {
  const tls = () => new ScramServer(verifiers("t"), END_POINT);
  const plain = () => new ScramServer(verifiers("t"), null);
  // 'y': the client could bind but saw no PLUS, so someone stripped it (RFC 5802 §6).
  throws(
    () => tls().serverFirst({ mechanism: SCRAM, data: "y,,n=,r=x" }),
    isViolation(/negotiation/),
  );
  ok(plain().serverFirst({ mechanism: SCRAM, data: "y,,n=,r=x" }).startsWith("r=x"));
  throws(
    () => tls().serverFirst({ mechanism: SCRAM_PLUS, data: "n,,n=,r=x" }),
    isViolation(/without channel binding/),
  );
  throws(
    () => tls().serverFirst({ mechanism: SCRAM, data: `${PLUS_HEADER}n=,r=x` }),
    isViolation(/channel binding data/),
  );
  throws(
    () => plain().serverFirst({ mechanism: SCRAM_PLUS, data: `${PLUS_HEADER}n=,r=x` }),
    isViolation(/invalid SASL/),
  );
  throws(
    () => tls().serverFirst({ mechanism: SCRAM_PLUS, data: "p=tls-unique,,n=,r=x" }),
    isViolation(/unsupported/),
  );
  throws(
    () => plain().serverFirst({ mechanism: SCRAM, data: "n,a=admin,n=,r=x" }),
    isViolation(/authorization/),
  );
  throws(() => plain().serverFirst({ mechanism: SCRAM, data: "garbage" }), isViolation(/GS2/));
  throws(
    () => plain().serverFirst({ mechanism: SCRAM, data: "n,,n=,r=a,b" }),
    isViolation(/nonce|n= and r=/),
  );
});

Deno.test("ScramServer refuses a client-final with another nonce or a malformed proof", () => {
  const server = () => {
    const s = new ScramServer(verifiers("t"), null);
    return { s, first: s.serverFirst({ mechanism: SCRAM, data: "n,,n=,r=abc" }) };
  };
  const a = server();
  throws(
    () => a.s.serverFinal("c=biws,r=abcXYZ,p=" + b64(new Uint8Array(32))),
    isViolation(/nonce/),
  );
  const b = server();
  const nonce = /r=([^,]+)/.exec(b.first)![1];
  throws(() => b.s.serverFinal(`c=biws,r=${nonce},p=short`), isViolation(/proof/));
  const c = server();
  throws(() => c.s.serverFinal("no"), isViolation(/expected c=/));
  // The binding must repeat the gs2 header the client started with.
  const d = server();
  const dn = /r=([^,]+)/.exec(d.first)![1];
  throws(
    () => d.s.serverFinal(`c=eSws,r=${dn},p=${b64(new Uint8Array(32))}`),
    isViolation(/binding/),
  );
});

Deno.test("parseSaslInitialResponse reads the mechanism and length-prefixed data", () => {
  const body = Buffer.concat([
    Buffer.from(`${SCRAM}\0`),
    Buffer.from([0, 0, 0, 3]),
    Buffer.from("n,,"),
  ]);
  deepEqual(parseSaslInitialResponse(new Uint8Array(body)), { mechanism: SCRAM, data: "n,," });
  throws(
    () => parseSaslInitialResponse(new TextEncoder().encode("token\0")),
    isViolation(/SASLInitialResponse/),
  );
  const wrongLength = Buffer.concat([
    Buffer.from(`${SCRAM}\0`),
    Buffer.from([0, 0, 0, 9]),
    Buffer.from("n,,"),
  ]);
  throws(
    () => parseSaslInitialResponse(new Uint8Array(wrongLength)),
    isViolation(/SASLInitialResponse/),
  );
  // R, length, 10, "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"
  const sasl = authenticationSasl([SCRAM_PLUS, SCRAM]);
  equal(new TextDecoder().decode(sasl.subarray(9)), `${SCRAM_PLUS}\0${SCRAM}\0\0`);
});

Deno.test("tlsServerEndPoint is the SHA-256 of an ECDSA P-256 leaf's DER", async () => {
  const ca = await mintTestCa();
  const leaf = await mintTestCertificate(ca);
  const der = new X509Certificate(leaf.certPem).raw;
  const endPoint = tlsServerEndPoint(leaf.certPem);
  deepEqual(endPoint, new Uint8Array(createHash("sha256").update(der).digest()));
  notEqual(endPoint, null);
});
