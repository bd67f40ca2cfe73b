// How clip's errors look over HTTP: the status each error code maps to, and
// the JSON body `{"error":CODE,"message":TEXT}`. The code is clip's own
// (src/protocol/errors.ts), the same word the socket sends, so a script can
// switch on it whatever door it came through; the status is for HTTP tools.

import { ClipError, type ErrorCode, asClipError } from "../protocol/errors.ts";

/** One status per code. A Record, so that a code added to ErrorCode does not compile until it has a status here. */
const STATUS: Record<ErrorCode, number> = {
  USAGE: 400, // bad region, name, parameter or header
  PROTOCOL: 400, // a malformed request
  AUTH: 403, // wrong token or secret (no credentials at all is 401: see unauthorized())
  DENIED: 403, // an admin route without the token
  GROUP_DELETED: 403,
  NOTFOUND: 404, // missing key or group, revision not held
  EXISTS: 409, // creating a group that is there already
  CONDITION: 412, // If-Match / If-None-Match (--if-rev) found another revision
  TOOBIG: 413,
  SHUTDOWN: 503,
  BUSY: 503, // a limit on concurrent work; Retry-After says when to come back
  SLOW: 503, // a reader cut off for falling behind (only seen before a stream starts)
  NOSERVER: 503,
  LOST: 503,
  UNAVAILABLE: 503, // something the server's machine lacks (not sent by any route today)
  TIMEOUT: 504, // routes answer a ?wait that saw nothing with 304 themselves; this is a fallback
  CYCLE: 500,
  VERSION: 500,
  INTERNAL: 500,
};

export function statusFor(code: ErrorCode): number {
  return STATUS[code] ?? 500;
}

const JSON_TYPE = "application/json";

function body(code: ErrorCode, message: string): string {
  return `${JSON.stringify({ error: code, message })}\n`;
}

/**
 * Any thrown value as an HTTP answer. Errors that are not ClipErrors are bugs
 * or I/O failures: their text is not sent (it may name files), only INTERNAL.
 */
export function errorResponse(e: unknown, headers?: Record<string, string>): Response {
  const err = e instanceof ClipError ? e : asClipError(e);
  const status = statusFor(err.code);
  const message = e instanceof ClipError ? err.message : "internal error";
  const h: Record<string, string> = { "Content-Type": JSON_TYPE, "Cache-Control": "no-store", ...headers };
  if (status === 503 && !h["Retry-After"]) h["Retry-After"] = "1";
  return new Response(body(err.code, message), { status, headers: h });
}

/** 401: no credentials were given. `challenge` is the WWW-Authenticate value (auth.ts). */
export function unauthorized(challenge: string, message = "credentials needed"): Response {
  return new Response(body("AUTH", message), {
    status: 401,
    headers: { "Content-Type": JSON_TYPE, "Cache-Control": "no-store", "WWW-Authenticate": challenge },
  });
}

/** 405, with the methods the path does take. */
export function methodNotAllowed(method: string, path: string, allow: readonly string[]): Response {
  return new Response(body("USAGE", `${method} is not allowed on ${path}; it takes ${allow.join(", ")}`), {
    status: 405,
    headers: { "Content-Type": JSON_TYPE, "Cache-Control": "no-store", Allow: allow.join(", ") },
  });
}

export function notFound(path: string): Response {
  return errorResponse(new ClipError("NOTFOUND", `no route ${path}: see /v1/openapi.json`));
}
