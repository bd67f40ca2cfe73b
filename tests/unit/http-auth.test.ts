// Credentials over HTTP: Authorization parsing (Bearer, Basic, others,
// malformed), the WWW-Authenticate challenges, the cluster check (token,
// session cookie, metrics token, unix), and the session store's bounds.

import { describe, expect, test } from "bun:test";
import { BEARER_CHALLENGE, basicChallenge, type ClusterAuth, checkCluster, parseAuthorization, sameSecret } from "../../src/http/auth.ts";
import { clearedSessionCookie, cookieValue, SESSION_COOKIE, SessionStore, sessionCookie } from "../../src/http/session.ts";
import { isClipError } from "../../src/protocol/errors.ts";

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

function usage(f: () => unknown): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(isClipError(err, "USAGE")).toBe(true);
}

describe("http auth - Authorization", () => {
  test("auth - Bearer: the token after the scheme, any case, spaces inside kept", () => {
    expect(parseAuthorization("Bearer abc.DEF-123_~+/=")).toEqual({ scheme: "bearer", token: "abc.DEF-123_~+/=" });
    expect(parseAuthorization("bearer   two words ")).toEqual({ scheme: "bearer", token: "two words" });
    expect(parseAuthorization(null)).toEqual({ scheme: "none" });
    expect(parseAuthorization(undefined)).toEqual({ scheme: "none" });
  });

  test("auth - Basic: group and secret, the secret may hold colons and UTF-8", () => {
    expect(parseAuthorization(`Basic ${b64("team:s3:cr:et")}`)).toEqual({ scheme: "basic", user: "team", password: "s3:cr:et" });
    expect(parseAuthorization(`BASIC ${b64("g:pässwörd")}`)).toEqual({ scheme: "basic", user: "g", password: "pässwörd" });
    expect(parseAuthorization(`Basic ${b64("g:")}`)).toEqual({ scheme: "basic", user: "g", password: "" });
  });

  test("auth - another scheme is 'other' (answered 401 with a challenge), not an error", () => {
    expect(parseAuthorization('Digest username="x"')).toEqual({ scheme: "other", name: "Digest" });
    expect(parseAuthorization("Negotiate")).toEqual({ scheme: "other", name: "Negotiate" });
  });

  test("auth - malformed values are USAGE errors (400)", () => {
    usage(() => parseAuthorization(""));
    usage(() => parseAuthorization("Bearer"));
    usage(() => parseAuthorization("Bearer   "));
    usage(() => parseAuthorization("Basic"));
    usage(() => parseAuthorization("Basic not*base64"));
    usage(() => parseAuthorization("Basic YWJj")); // "abc": no colon
    usage(() => parseAuthorization("Basic YQ")); // unpadded
    usage(() => parseAuthorization(`Basic ${Buffer.from([0x67, 0x3a, 0xff, 0xfe]).toString("base64")}`)); // not UTF-8
    usage(() => parseAuthorization("Bearer tok\x01en"));
    usage(() => parseAuthorization("(bad) x"));
  });

  test("auth - challenges: Bearer for the cluster, Basic with the group's realm for keys", () => {
    expect(BEARER_CHALLENGE).toBe('Bearer realm="clip"');
    expect(basicChallenge("team-1.x")).toBe('Basic realm="clip group team-1.x", charset="UTF-8"');
    expect(basicChallenge('a"b')).toBe('Basic realm="clip group a\\"b", charset="UTF-8"');
  });

  test("auth - sameSecret compares whole values of any length", () => {
    expect(sameSecret("token", "token")).toBe(true);
    expect(sameSecret("token", "tokeN")).toBe(false);
    expect(sameSecret("tok", "token")).toBe(false);
    expect(sameSecret("", "token")).toBe(false);
  });

  test("auth - cluster check: token, session cookie, metrics token, unix and --insecure", () => {
    const store = new SessionStore();
    const s = store.create();
    const tcp: ClusterAuth = { listener: "tcp", token: "T0k3n", metricsToken: "m3trics", session: (id) => store.valid(id) };
    const bearer = (token: string) => ({ scheme: "bearer" as const, token });
    expect(checkCluster(tcp, bearer("T0k3n"), undefined)).toBe("ok");
    expect(checkCluster(tcp, bearer("wrong"), undefined)).toBe("wrong");
    expect(checkCluster(tcp, { scheme: "none" }, undefined)).toBe("missing");
    expect(checkCluster(tcp, { scheme: "none" }, s.id)).toBe("ok");
    expect(checkCluster(tcp, { scheme: "none" }, "forged-session-id")).toBe("missing");
    // A wrong bearer is wrong even with a good cookie: the header is what the client meant.
    expect(checkCluster(tcp, bearer("wrong"), s.id)).toBe("wrong");
    // Basic is a group credential: for the cluster it is as if none were given.
    expect(checkCluster(tcp, { scheme: "basic", user: "g", password: "T0k3n" }, undefined)).toBe("missing");
    // The metrics token is good for /metrics alone.
    expect(checkCluster(tcp, bearer("m3trics"), undefined)).toBe("wrong");
    expect(checkCluster(tcp, bearer("m3trics"), undefined, true)).toBe("ok");
    expect(checkCluster(tcp, bearer("T0k3n"), undefined, true)).toBe("ok");
    expect(checkCluster({ ...tcp, listener: "unix" }, { scheme: "none" }, undefined)).toBe("ok");
    expect(checkCluster({ ...tcp, insecure: true }, { scheme: "none" }, undefined)).toBe("ok");
    expect(checkCluster({ listener: "tcp", session: () => false }, bearer("anything"), undefined)).toBe("wrong");
  });
});

describe("http auth - sessions", () => {
  test("session - a created id is valid, revoked or unknown ones are not; ids are random and long", () => {
    const store = new SessionStore();
    const a = store.create();
    const b = store.create();
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.id).not.toBe(b.id);
    expect(store.valid(a.id)).toBe(true);
    store.revoke(a.id);
    expect(store.valid(a.id)).toBe(false);
    expect(store.valid(b.id)).toBe(true);
    expect(store.valid(`${b.id}x`)).toBe(false);
    expect(store.valid("")).toBe(false);
  });

  test("session - expires after its ttl, and expired ones are swept", () => {
    let now = 1_000_000;
    const store = new SessionStore({ ttlMs: 60_000, now: () => now });
    const a = store.create();
    expect(a.expires).toBe(now + 60_000);
    now += 59_999;
    expect(store.valid(a.id)).toBe(true);
    now += 1;
    expect(store.valid(a.id)).toBe(false);
    const b = store.create();
    now += 60_000;
    store.create(); // sweeps b
    expect(store.size).toBe(1);
    expect(store.valid(b.id)).toBe(false);
  });

  test("session - capped: past the cap the oldest is dropped, the map never grows beyond it", () => {
    const store = new SessionStore({ max: 3 });
    const ids = Array.from({ length: 10 }, () => store.create().id);
    expect(store.size).toBe(3);
    expect(ids.slice(0, 7).some((id) => store.valid(id))).toBe(false);
    expect(ids.slice(7).every((id) => store.valid(id))).toBe(true);
  });

  test("session - the cookie is HttpOnly, SameSite=Strict, Path=/, with Max-Age; Secure only over TLS", () => {
    const c = sessionCookie("abc", 12 * 3600_000, false);
    expect(c).toBe(`${SESSION_COOKIE}=abc; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict`);
    expect(sessionCookie("abc", 1000, true)).toEndWith("; Secure");
    expect(clearedSessionCookie(false)).toContain("Max-Age=0");
  });

  test("session - reading the Cookie header", () => {
    expect(cookieValue("a=1; clip_session=xyz; b=2", SESSION_COOKIE)).toBe("xyz");
    expect(cookieValue("clip_session=xyz", SESSION_COOKIE)).toBe("xyz");
    expect(cookieValue("other=1", SESSION_COOKIE)).toBeUndefined();
    expect(cookieValue(null, SESSION_COOKIE)).toBeUndefined();
    expect(cookieValue("xclip_session=1", SESSION_COOKIE)).toBeUndefined();
    // Two values: ambiguous, taken as none (the page signs in again).
    expect(cookieValue("clip_session=a; clip_session=b", SESSION_COOKIE)).toBeUndefined();
  });
});
