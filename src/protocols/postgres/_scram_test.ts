import { equal, match, rejects, throws } from "node:assert/strict";
import { md5Password, ScramClient, ScramError } from "./_scram.ts";

// RFC 7677 §3: user "user", password "pencil".
const NONCE = "rOprNGfwEbeRWgbNEkqO";
const SERVER_FIRST =
  "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const CLIENT_FINAL =
  "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const SERVER_FINAL = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

/** The RFC's client-first-message carries `n=user`; PostgreSQL's carries `n=`. */
function rfcClient(): ScramClient {
  return new ScramClient("pencil", NONCE, "user");
}

Deno.test("ScramClient sends an empty username and a gs2 header without channel binding", () => {
  equal(new ScramClient("pencil", NONCE).clientFirst(), `n,,n=,r=${NONCE}`);
  match(new ScramClient("pencil").clientFirst(), /^n,,n=,r=[A-Za-z0-9+/]{24}$/);
  // RFC 5802 §5.1 saslname escaping.
  equal(new ScramClient("pencil", NONCE, "a=b,c").clientFirst(), `n,,n=a=3Db=2Cc,r=${NONCE}`);
});

Deno.test("ScramClient computes the RFC 7677 proof and accepts the RFC server signature", async () => {
  const client = rfcClient();
  client.clientFirst();
  equal(await client.clientFinal(SERVER_FIRST), CLIENT_FINAL);
  await client.verifyServerFinal(SERVER_FINAL);
});

Deno.test("ScramClient rejects a server signature that does not match", async () => {
  const client = rfcClient();
  client.clientFirst();
  await client.clientFinal(SERVER_FIRST);
  await rejects(
    () => client.verifyServerFinal("v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
    new ScramError("SCRAM server signature does not match"),
  );
});

Deno.test("ScramClient surfaces a server-final error without trusting it", async () => {
  const client = rfcClient();
  client.clientFirst();
  await client.clientFinal(SERVER_FIRST);
  await rejects(() => client.verifyServerFinal("e=invalid-proof"), ScramError, "invalid-proof");
});

Deno.test("ScramClient refuses a server nonce that does not extend its own", async () => {
  for (
    const serverFirst of [
      "r=someoneElsesNonce123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
      `r=${NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`,
    ]
  ) {
    const client = new ScramClient("pencil", NONCE);
    client.clientFirst();
    await rejects(() => client.clientFinal(serverFirst), ScramError);
  }
});

Deno.test("ScramClient refuses malformed or hostile server-first messages", async () => {
  for (
    const serverFirst of [
      `r=${NONCE}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0`,
      `r=${NONCE}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=10000001`,
      `r=${NONCE}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-5`,
      `r=${NONCE}x,s=not*base64,i=4096`,
      `r=${NONCE}x,i=4096`,
      `m=ext,r=${NONCE}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`,
      "garbage",
    ]
  ) {
    const client = new ScramClient("pencil", NONCE);
    client.clientFirst();
    await rejects(() => client.clientFinal(serverFirst), ScramError, serverFirst);
  }
});

Deno.test("ScramClient enforces the order of the exchange", async () => {
  const client = new ScramClient("pencil", NONCE);
  await rejects(() => client.clientFinal(SERVER_FIRST), ScramError);
  await rejects(() => client.verifyServerFinal(SERVER_FINAL), ScramError);
  client.clientFirst();
  await client.clientFinal(SERVER_FIRST);
  // The password is spent after one proof: a second round cannot reuse it.
  await rejects(() => client.clientFinal(SERVER_FIRST), ScramError);
  throws(() => new ScramClient("pencil", "has,comma"), TypeError);
});

Deno.test("md5Password() matches PostgreSQL's md5(md5(password || user) || salt)", () => {
  // python3: "md5" + md5(md5(b"pencilagent").hexdigest().encode() + bytes([1,2,3,4])).hexdigest()
  equal(
    md5Password("agent", "pencil", new Uint8Array([1, 2, 3, 4])),
    "md57cd9233dbb788c952aace68c29e82617",
  );
});
