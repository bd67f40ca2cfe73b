// The web page's files, served by clip itself from the binary: imported as
// text, so `bun build --compile` embeds them, and nothing is read from disk
// or fetched from another host. Each answer carries a strict Content
// Security Policy (only this origin's script and style; images may also be
// blob: URLs, which the page makes from values) and an ETag, so a browser
// revalidates with a 304 instead of downloading the page again.

import { createHash } from "node:crypto";
import css from "./page/app.css" with { type: "text" };
// @ts-expect-error: a browser script imported as text; TypeScript would look for its declarations.
import js from "./page/app.js" with { type: "text" };
import html from "./page/index.html" with { type: "text" };

export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * Headers for a value served by GET /v1/regions/R or /v1/kv/G/K. A value is
 * whatever someone copied (HTML, SVG): opened in a tab it must not run as a
 * page of this origin, where it could call the API with the session cookie.
 */
export const VALUE_HEADERS: Record<string, string> = {
  "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'",
  "X-Content-Type-Options": "nosniff",
  "Cache-Control": "no-store",
};

export interface Asset {
  body: string;
  type: string;
  etag: string;
}

function asset(body: string, type: string): Asset {
  const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 16)}"`;
  return { body, type, etag };
}

/** The page's files by URL path. */
export const ASSETS: ReadonlyMap<string, Asset> = new Map([
  ["/", asset(html as unknown as string, "text/html; charset=utf-8")],
  ["/assets/app.css", asset(css, "text/css; charset=utf-8")],
  ["/assets/app.js", asset(js as string, "text/javascript; charset=utf-8")],
]);

/** Bytes the page adds to the binary (all three files). */
export const PAGE_BYTES = [...ASSETS.values()].reduce((n, a) => n + Buffer.byteLength(a.body), 0);

/** The answer to GET (or HEAD) of one of the page's files, or undefined when `path` is not one. */
export function serveAsset(path: string, req: Request): Response | undefined {
  const a = ASSETS.get(path);
  if (!a) return undefined;
  const headers: Record<string, string> = {
    "Content-Type": a.type,
    ETag: a.etag,
    // Revalidate each time: a new clip binary brings a new page.
    "Cache-Control": "no-cache",
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
  };
  if (req.headers.get("if-none-match") === a.etag) return new Response(null, { status: 304, headers });
  return new Response(req.method === "HEAD" ? null : a.body, { headers });
}
