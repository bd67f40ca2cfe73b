// The web page's sessions: it asks a person for the cluster token once,
// trades it (POST /v1/session) for a random session id in a cookie that
// scripts cannot read (HttpOnly) and other sites cannot send (SameSite=Strict),
// and the API takes that cookie as it takes the token. So the token is never
// stored by the browser nor put in a URL.
//
// Sessions live in memory only (a restart asks for the token again), expire
// after a fixed time, and are capped in number: past the cap the oldest is
// dropped, so a client holding the token cannot grow this map without end.
// Only a hash of each id is kept.

import { createHash, randomBytes } from "node:crypto";

export const SESSION_COOKIE = "clip_session";

export interface SessionOptions {
  /** How long a session lasts from its creation. Default 12 hours. */
  ttlMs?: number;
  /** Most sessions held at once. Default 1000. */
  max?: number;
  now?: () => number;
}

const hash = (id: string) => createHash("sha256").update(id).digest("base64url");
const ID = /^[A-Za-z0-9_-]{43}$/; // 32 random bytes in base64url

export class SessionStore {
  readonly ttlMs: number;
  readonly max: number;
  private readonly now: () => number;
  /** hash(id) -> expiry (ms since the epoch), oldest first (Map keeps insertion order). */
  private readonly live = new Map<string, number>();

  constructor(opts: SessionOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 12 * 3600_000;
    this.max = opts.max ?? 1000;
    this.now = opts.now ?? Date.now;
    if (!(this.ttlMs > 0) || !(this.max >= 1)) throw new Error("a session store needs ttlMs > 0 and max >= 1");
  }

  /** A new session: its id (for the cookie alone) and when it ends. */
  create(): { id: string; expires: number } {
    this.sweep();
    while (this.live.size >= this.max) this.live.delete(this.live.keys().next().value!);
    const id = randomBytes(32).toString("base64url");
    const expires = this.now() + this.ttlMs;
    this.live.set(hash(id), expires);
    return { id, expires };
  }

  /** Is `id` a live session? An expired one is forgotten here. */
  valid(id: string): boolean {
    if (!ID.test(id)) return false;
    const h = hash(id);
    const exp = this.live.get(h);
    if (exp === undefined) return false;
    if (exp <= this.now()) {
      this.live.delete(h);
      return false;
    }
    return true;
  }

  revoke(id: string): void {
    if (ID.test(id)) this.live.delete(hash(id));
  }

  get size(): number {
    return this.live.size;
  }

  /** Drops expired sessions from the front (all share one ttl, so the oldest expire first). */
  private sweep(): void {
    const now = this.now();
    for (const [h, exp] of this.live) {
      if (exp > now) break;
      this.live.delete(h);
    }
  }
}

/**
 * The Set-Cookie value for a new session. `Secure` when the listener has TLS
 * (a browser drops a Secure cookie sent over plain HTTP, which would leave
 * the page asking for the token forever on a LAN without TLS).
 */
export function sessionCookie(id: string, ttlMs: number, secure: boolean): string {
  const maxAge = Math.max(1, Math.floor(ttlMs / 1000));
  return `${SESSION_COOKIE}=${id}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`;
}

/** The Set-Cookie value that removes the session cookie (DELETE /v1/session). */
export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`;
}

/** One cookie's value from a Cookie header; undefined when absent (or given twice: ambiguous). */
export function cookieValue(header: string | null | undefined, name: string): string | undefined {
  if (!header) return undefined;
  let found: string | undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    if (found !== undefined) return undefined;
    found = part.slice(eq + 1).trim();
  }
  return found;
}
