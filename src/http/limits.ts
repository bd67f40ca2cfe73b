// The bounds an HTTP listener keeps, and which of them Bun.serve keeps for us.
//
// Measured with Bun 1.4.5 (tests/unit/http-limits.test.ts keeps these true):
//   - Bun caps a request's head (request line and headers together) at 16 KiB
//     and answers 431 with `Connection: close` past it, before our handler
//     runs; it also caps the number of header fields (between 100 and 200).
//     The cap is Bun's runtime flag --max-http-header-size (for the compiled
//     binary: BUN_OPTIONS or `bun build --compile-exec-argv`), not a serve option.
//   - A connection that sends no complete request head is closed by Bun after
//     about 10 s whatever `idleTimeout` says, so trickling a header byte by
//     byte (slowloris) holds a descriptor for seconds, not for ever.
//   - `maxRequestBodySize` is enforced on declared and chunked bodies alike,
//     but Bun's own 413 has an empty body; so it is set far above --max-size
//     and the routes check the size themselves (checkBodySize, then while
//     streaming), to answer SPEC's JSON error.
//   - There is no hook per connection (no open/close, no count): connections
//     cannot be capped as such. What holds memory and descriptors for long is
//     a request in progress (an upload, a download, a long poll, an event
//     stream), and Bun counts those in `server.pendingRequests`, dropping a
//     request whose client went away. So the cap (1024 by default, as for the
//     socket) is on requests in progress; a request past it is answered 503,
//     and idle keep-alive connections are closed to free their descriptors.
//   - A URL is only bounded by the 16 KiB head; clip's URLs are short, so a
//     longer one than 8 KiB is refused (414) before anything parses it.

import { ClipError } from "../protocol/errors.ts";
import { errorResponse } from "./errors.ts";

export interface HttpLimits {
  /** Requests in progress at once (event streams, long polls and transfers included). */
  maxConnections: number;
  /** Longest URL (path and query) taken, in bytes. */
  maxUrlBytes: number;
  /** Seconds a connection may stay quiet in the middle of a request (Bun's idleTimeout; streams opt out). */
  idleTimeoutSeconds: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  maxConnections: 1024,
  maxUrlBytes: 8192,
  idleTimeoutSeconds: 30,
};

/** The part of Bun.serve's options that the limits decide. */
export function serveOptions(limits: HttpLimits = DEFAULT_HTTP_LIMITS): { maxRequestBodySize: number; idleTimeout: number } {
  return {
    // The routes enforce --max-size with a JSON 413 (see the header); Bun's cap is only a backstop.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    idleTimeout: limits.idleTimeoutSeconds,
  };
}

/** What admit() needs of Bun's server. */
export interface ServerCounts {
  readonly pendingRequests: number;
  closeIdleConnections(): number;
}

/**
 * The checks made before routing. Returns the answer to send instead, or
 * undefined to go on. `pendingRequests` includes this request.
 */
export function admit(req: Request, server: ServerCounts, limits: HttpLimits = DEFAULT_HTTP_LIMITS): Response | undefined {
  if (server.pendingRequests > limits.maxConnections) {
    server.closeIdleConnections();
    return errorResponse(new ClipError("BUSY", `the server holds its limit of ${limits.maxConnections} HTTP requests in progress; try again later`), {
      Connection: "close",
    });
  }
  // req.url is absolute (scheme and host added by Bun): measure what the client sent.
  const url = req.url;
  const start = url.indexOf("/", url.indexOf("//") + 2);
  const sent = start < 0 ? 1 : url.length - start;
  if (sent > limits.maxUrlBytes) {
    const res = errorResponse(new ClipError("USAGE", `URL of ${sent} bytes: the limit is ${limits.maxUrlBytes}`));
    return new Response(res.body, { status: 414, headers: res.headers });
  }
  return undefined;
}

/**
 * A declared body over --max-size is refused before a byte of it is read or
 * stored (413). A chunked body has no declared size: the route counts it as
 * it streams and stops at the same limit.
 */
export function checkBodySize(req: Request, maxSize: number): void {
  const cl = req.headers.get("content-length");
  if (cl === null) return;
  if (!/^[0-9]+$/.test(cl)) throw new ClipError("USAGE", `bad Content-Length ${JSON.stringify(cl)}`);
  const n = Number(cl);
  if (n > maxSize) throw new ClipError("TOOBIG", `a body of ${n} bytes is over this server's --max-size of ${maxSize} bytes`);
}
