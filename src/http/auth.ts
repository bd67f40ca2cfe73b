// Credentials over HTTP, as SPEC's "HTTP and the web view" gives them:
//   - the cluster token as `Authorization: Bearer TOKEN` (or a session cookie
//     the page got for it, session.ts), for clipboard and admin routes;
//   - a group's secret as HTTP Basic (`curl -u GROUP:SECRET`), for key routes;
//   - a token good for GET /metrics alone (serve --metrics-token-file).
// Parsing and the challenges are pure; the comparisons are constant-time.
// Slowing down guesses stays with the server core (FailureDelay), which the
// routes call with the remote address before they answer a wrong credential.

import { timingSafeEqual } from "node:crypto";
import { ClipError } from "../protocol/errors.ts";

export type Credentials =
  | { scheme: "none" }
  /** `Authorization: Bearer T` */
  | { scheme: "bearer"; token: string }
  /** `Authorization: Basic base64(user:password)`: user is the group on key routes. */
  | { scheme: "basic"; user: string; password: string }
  /** A scheme clip does not take (Digest, Negotiate...): answered like no credentials, with a challenge. */
  | { scheme: "other"; name: string };

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// Visible ASCII and spaces: what a header value may hold, less controls.
const TOKEN_TEXT = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads an Authorization header. A scheme clip does not know is `other`
 * (the route answers 401 with its challenge); a known scheme with a
 * malformed value is a USAGE error (400), since no retry would fix it.
 */
export function parseAuthorization(header: string | null | undefined): Credentials {
  if (header === null || header === undefined) return { scheme: "none" };
  // The common case, a token as `Bearer T`, without the general pattern.
  if (header.startsWith("Bearer ")) {
    const token = header.slice(7).trim();
    if (TOKEN_TEXT.test(token)) return { scheme: "bearer", token };
  }
  const m = /^([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)(?: +(.*))?$/.exec(header.trim());
  if (!m) throw new ClipError("USAGE", "malformed Authorization header");
  const scheme = m[1].toLowerCase();
  const rest = (m[2] ?? "").trim();
  if (scheme === "bearer") {
    // RFC 6750 limits a bearer token to token68 characters, but a cluster
    // token is whatever the admin chose (`--token "two words"`): take any
    // visible text, spaces inside included.
    if (!TOKEN_TEXT.test(rest)) throw new ClipError("USAGE", "malformed Authorization header: Bearer needs a token");
    return { scheme: "bearer", token: rest };
  }
  if (scheme === "basic") {
    if (!rest || !BASE64.test(rest)) throw new ClipError("USAGE", "malformed Authorization header: Basic needs base64 of GROUP:SECRET");
    let text: string;
    try {
      text = utf8.decode(Buffer.from(rest, "base64"));
    } catch {
      throw new ClipError("USAGE", "malformed Authorization header: Basic credentials are not UTF-8");
    }
    const colon = text.indexOf(":");
    if (colon < 0) throw new ClipError("USAGE", "malformed Authorization header: Basic needs GROUP:SECRET");
    return { scheme: "basic", user: text.slice(0, colon), password: text.slice(colon + 1) };
  }
  return { scheme: "other", name: m[1] };
}

/** What a 401 on clipboard, admin and metrics routes asks for. */
export const BEARER_CHALLENGE = 'Bearer realm="clip"';

/** What a 401 on a key route asks for: the group's name as user, its secret as password. */
export function basicChallenge(group: string): string {
  // Group names are 1-64 of A-Z a-z 0-9 _ . - (checked before this), so
  // nothing in them needs quoting; the escape is for a caller that forgot.
  const realm = `clip group ${group}`.replace(/[\\"]/g, "\\$&");
  return `Basic realm="${realm}", charset="UTF-8"`;
}

function digest(s: string): Uint8Array {
  // Bun's one-shot hash: a fifth of node:crypto's createHash per call, on every request.
  return Bun.SHA256.hash(s) as Uint8Array;
}

// The expected credentials' digests (a server has one or two: the token and the metrics token),
// made once rather than on every request.
const expectedDigests = new Map<string, Uint8Array>();

/**
 * Compares a credential with the expected one in time that does not depend
 * on where they differ (or on the expected one's length: both are hashed).
 */
export function sameSecret(given: string, expected: string): boolean {
  let e = expectedDigests.get(expected);
  if (e === undefined) {
    if (expectedDigests.size >= 8) expectedDigests.clear();
    expectedDigests.set(expected, (e = digest(expected)));
  }
  return timingSafeEqual(digest(given), e);
}

/** Where a request came in: a unix listener (mode 0600) needs no token. */
export type Listener = "unix" | "tcp";

/** What the routes know about this server's credentials. */
export interface ClusterAuth {
  listener: Listener;
  /** The cluster token; undefined only with --insecure or on unix. */
  token?: string;
  insecure?: boolean;
  /** serve --metrics-token-file: good for GET /metrics alone. */
  metricsToken?: string;
  /** Is this session cookie (from session.ts) live? */
  session(id: string): boolean;
}

/** "ok", or why not: "missing" answers 401 with a challenge, "wrong" answers 403 (after the core's delay). */
export type Verdict = "ok" | "missing" | "wrong";

/**
 * Checks the cluster credential of a clipboard or admin request: a bearer
 * token, else the page's session cookie. `forMetrics` also takes the
 * metrics token. Basic credentials are not the cluster's: they count as none.
 */
export function checkCluster(auth: ClusterAuth, creds: Credentials, sessionId: string | undefined, forMetrics = false): Verdict {
  if (auth.listener === "unix" || auth.insecure) return "ok";
  if (creds.scheme === "bearer") {
    if (auth.token !== undefined && sameSecret(creds.token, auth.token)) return "ok";
    if (forMetrics && auth.metricsToken !== undefined && sameSecret(creds.token, auth.metricsToken)) return "ok";
    return "wrong";
  }
  if (sessionId !== undefined) return auth.session(sessionId) ? "ok" : "missing";
  return "missing";
}
