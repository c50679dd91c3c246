/**
 * The dashboard's script and stylesheet, read from this folder (inside the app directory, which
 * the gateway's grant lets it read) once, then served from memory.
 *
 * @module
 */

import { securityHeaders } from "./_respond.ts";

const FILES: Readonly<Record<string, string>> = {
  "/ui/static/app.js": "text/javascript; charset=utf-8",
  "/ui/static/app.css": "text/css; charset=utf-8",
};

const cache = new Map<string, Uint8Array<ArrayBuffer>>();

/** `GET /ui/static/NAME`: one of the two files, else 404. Open: they hold no data. */
export async function staticFile(req: Request, path: string): Promise<Response> {
  const type = FILES[path];
  if (!Object.hasOwn(FILES, path) || (req.method !== "GET" && req.method !== "HEAD")) {
    return new Response("not found\n", { status: 404, headers: securityHeaders() });
  }
  let bytes = cache.get(path);
  if (!bytes) {
    const name = path.slice("/ui/static/".length);
    bytes = await Deno.readFile(new URL(`./static/${name}`, import.meta.url));
    cache.set(path, bytes);
  }
  return new Response(req.method === "HEAD" ? null : bytes, {
    headers: securityHeaders({ "content-type": type, "cache-control": "no-cache" }),
  });
}
