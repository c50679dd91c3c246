/**
 * The quickstart's HTTPS demo API, standing in for GitHub: `GET /issues` lists, `POST /issues`
 * files one. It has its own CA, not the gateway's, as a real upstream would: the gateway
 * verifies it with the endpoint's `ca_cert` and re-signs for the agent with the gateway CA.
 *
 * @module
 */

import { createGatewayCa, mintLeaf } from "../tls/mod.ts";

/** A running demo API. */
export interface DemoApi {
  /** `127.0.0.1:PORT`. */
  address: string;
  stop(): Promise<void>;
}

/** Handles one request: a tiny in-memory issue tracker. */
export function demoApiHandler(): (request: Request) => Promise<Response> {
  const issues: { id: number; title: string }[] = [{ id: 1346, title: "first issue" }];
  return async (request) => {
    const path = new URL(request.url).pathname;
    if (path !== "/issues") return Response.json({ message: "Not Found" }, { status: 404 });
    if (request.method === "GET") return Response.json(issues);
    if (request.method !== "POST") return Response.json({ message: "No" }, { status: 405 });
    let title = "untitled";
    try {
      const body = await request.json();
      if (typeof body?.title === "string") title = body.title;
    } catch {
      // A body that is not JSON files an untitled issue: it is a demo.
    }
    const issue = { id: issues[issues.length - 1].id + 1, title };
    issues.push(issue);
    return Response.json(issue, { status: 201 });
  };
}

/**
 * Starts the API on a free loopback port with a certificate for `host` from a fresh CA written
 * to `caDir` (ca.pem, which the endpoint trusts; ca.key 0600).
 */
export async function startDemoApi(host: string, caDir: string): Promise<DemoApi> {
  const ca = await createGatewayCa(caDir, { commonName: "clawpatrol quickstart demo API CA" });
  const leaf = await mintLeaf(ca, host);
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: leaf.certPem,
    key: leaf.keyPem,
    onListen: () => {},
  }, demoApiHandler());
  return {
    address: `127.0.0.1:${server.addr.port}`,
    stop: () => server.shutdown(),
  };
}
