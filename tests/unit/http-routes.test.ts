// The route table, the error answers, the request caps (and the facts about
// Bun.serve that limits.ts relies on, measured on a real listener), the
// OpenAPI description (it must describe exactly the route table) and the
// page's size in the binary.

import { afterEach, describe, expect, test } from "bun:test";
import net from "node:net";
import { errorResponse, methodNotAllowed, statusFor, unauthorized } from "../../src/http/errors.ts";
import { admit, checkBodySize, DEFAULT_HTTP_LIMITS, serveOptions } from "../../src/http/limits.ts";
import openapiText from "../../src/http/openapi.json" with { type: "text" };
import { ASSETS, PAGE_BYTES, serveAsset } from "../../src/http/page.ts";
import { match, ROUTES } from "../../src/http/router.ts";
import { ClipError, type ErrorCode, isClipError } from "../../src/protocol/errors.ts";

const servers: { stop(force: boolean): unknown }[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop(true);
});

/** Sends raw bytes and returns the status line of the answer (or "closed"). */
function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    let got = "";
    const done = () => {
      s.destroy();
      resolve(got ? got.split("\r\n")[0] : "closed");
    };
    s.setTimeout(10_000, done);
    s.on("data", (d) => {
      got += d.toString("latin1");
      if (got.includes("\r\n\r\n")) done();
    });
    s.on("close", done);
    s.on("error", done);
    s.write(text);
  });
}

describe("http routes - table", () => {
  test("router - each SPEC route matches with its raw parameters", () => {
    const ok = (method: string, path: string) => {
      const m = match(method, path);
      if (m.status !== 200) throw new Error(`${method} ${path}: ${m.status}`);
      return { name: m.route.name, params: m.params, credential: m.route.credential };
    };
    expect(ok("GET", "/")).toEqual({ name: "page", params: {}, credential: "none" });
    expect(ok("GET", "/v1/regions")).toMatchObject({ name: "regions", credential: "cluster" });
    expect(ok("GET", "/v1/regions/events")).toMatchObject({ name: "regionsEvents" });
    expect(ok("PUT", "/v1/regions/3")).toMatchObject({ name: "region", params: { region: "3" } });
    expect(ok("HEAD", "/v1/regions/3")).toMatchObject({ name: "region" });
    expect(ok("GET", "/v1/regions/3/events")).toMatchObject({ name: "regionEvents", params: { region: "3" } });
    expect(ok("GET", "/v1/kv/team")).toMatchObject({ name: "keys", params: { group: "team" }, credential: "group" });
    expect(ok("DELETE", "/v1/kv/team/a%2Fb")).toMatchObject({ name: "key", params: { group: "team", key: "a%2Fb" } });
    expect(ok("GET", "/v1/kv/team/a/b/c")).toMatchObject({ name: "key", params: { key: "a/b/c" } });
    expect(ok("GET", "/v1/watch/team")).toMatchObject({ name: "watch" });
    expect(ok("POST", "/v1/groups/team")).toMatchObject({ name: "group", credential: "cluster" });
    expect(ok("POST", "/v1/session")).toMatchObject({ name: "session", credential: "token" });
    expect(ok("GET", "/metrics")).toMatchObject({ name: "metrics", credential: "metrics" });
    expect(ok("GET", "/assets/app.js")).toMatchObject({ name: "asset" });
  });

  test("router - unknown paths are 404, known paths with another method 405 with Allow", () => {
    for (const p of ["/v2/regions", "/v1/regions/3/4", "/v1/kv", "/v1/kv/team/", "/v1/regions/", "/metrics/x", "//"]) {
      expect(match("GET", p).status).toBe(404);
    }
    expect(match("DELETE", "/v1/regions/3")).toEqual({ status: 405, allow: ["GET", "PUT", "HEAD"] });
    expect(match("PUT", "/v1/regions")).toEqual({ status: 405, allow: ["GET", "HEAD"] });
    expect(match("GET", "/v1/groups/g")).toEqual({ status: 405, allow: ["POST", "DELETE"] });
  });
});

describe("http routes - errors", () => {
  test("errors - each clip code has its status: SPEC's 400/403/404/413/503 and the rest", () => {
    const want: Partial<Record<ErrorCode, number>> = { USAGE: 400, PROTOCOL: 400, AUTH: 403, DENIED: 403, GROUP_DELETED: 403, NOTFOUND: 404, TOOBIG: 413, SHUTDOWN: 503, BUSY: 503, EXISTS: 409, INTERNAL: 500 };
    for (const [code, status] of Object.entries(want)) expect(statusFor(code as ErrorCode)).toBe(status);
  });

  test("errors - the body is {error, message}; a non-clip error says only 'internal error'", async () => {
    const r = errorResponse(new ClipError("NOTFOUND", "key k not found"));
    expect(r.status).toBe(404);
    expect(r.headers.get("content-type")).toBe("application/json");
    expect(await r.json()).toEqual({ error: "NOTFOUND", message: "key k not found" });
    const bug = errorResponse(new Error("ENOENT: /home/user/.local/state/clip/blobs/x"));
    expect(bug.status).toBe(500);
    expect(await bug.json()).toEqual({ error: "INTERNAL", message: "internal error" });
    const busy = errorResponse(new ClipError("BUSY", "full"));
    expect(busy.headers.get("retry-after")).toBe("1");
  });

  test("errors - 401 carries WWW-Authenticate; 405 carries Allow", async () => {
    const u = unauthorized('Basic realm="clip group g", charset="UTF-8"');
    expect(u.status).toBe(401);
    expect(u.headers.get("www-authenticate")).toBe('Basic realm="clip group g", charset="UTF-8"');
    expect(((await u.json()) as { error: string }).error).toBe("AUTH");
    const m = methodNotAllowed("DELETE", "/v1/regions/1", ["GET", "PUT", "HEAD"]);
    expect(m.status).toBe(405);
    expect(m.headers.get("allow")).toBe("GET, PUT, HEAD");
  });
});

describe("http routes - limits", () => {
  test("limits - over the cap of requests in progress: 503 BUSY, idle connections closed; a long URL is 414", async () => {
    let closedIdle = 0;
    const counts = (n: number) => ({ pendingRequests: n, closeIdleConnections: () => ++closedIdle });
    const req = (path: string) => new Request(`http://127.0.0.1:1${path}`);
    expect(admit(req("/v1/regions"), counts(1024))).toBeUndefined();
    const busy = admit(req("/v1/regions"), counts(1025))!;
    expect(busy.status).toBe(503);
    expect(((await busy.json()) as { error: string }).error).toBe("BUSY");
    expect(closedIdle).toBe(1);
    expect(admit(req(`/v1/kv/g/${"k".repeat(8000)}`), counts(1))).toBeUndefined();
    const long = admit(req(`/v1/kv/g/${"k".repeat(8200)}`), counts(1))!;
    expect(long.status).toBe(414);
    expect(((await long.json()) as { error: string }).error).toBe("USAGE");
    expect(DEFAULT_HTTP_LIMITS.maxConnections).toBe(1024);
  });

  test("limits - a declared body over --max-size is TOOBIG before reading; a malformed length is USAGE", () => {
    const put = (cl: string) => new Request("http://x/v1/regions/1", { method: "PUT", headers: { "Content-Length": cl } });
    expect(() => checkBodySize(put("100"), 100)).not.toThrow();
    let e: unknown;
    try {
      checkBodySize(put("101"), 100);
    } catch (x) {
      e = x;
    }
    expect(isClipError(e, "TOOBIG")).toBe(true);
    expect(() => checkBodySize(new Request("http://x/", { headers: {} }), 100)).not.toThrow();
    let bad: unknown;
    try {
      checkBodySize(new Request("http://x/", { headers: { "Content-Length": "12abc" } }), 100);
    } catch (x) {
      bad = x;
    }
    expect(isClipError(bad, "USAGE")).toBe(true);
  });

  test("limits - what Bun.serve keeps for us: a 16 KiB request head (431), pendingRequests counts streams in progress", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      ...serveOptions(),
      async fetch(req, srv) {
        const refused = admit(req, srv, { ...DEFAULT_HTTP_LIMITS, maxConnections: 2 });
        if (refused) return refused;
        if (new URL(req.url).pathname === "/hold") await held;
        return new Response("ok");
      },
    });
    servers.push(server);
    const port = server.port!;
    expect(await raw(port, `GET /${"a".repeat(15_000)} HTTP/1.1\r\nHost: x\r\n\r\n`)).toBe("HTTP/1.1 414 URI Too Long");
    expect(await raw(port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(17_000)}\r\n\r\n`)).toBe("HTTP/1.1 431 Request Header Fields Too Large");
    expect(await raw(port, `GET /${"a".repeat(17_000)} HTTP/1.1\r\nHost: x\r\n\r\n`)).toBe("HTTP/1.1 431 Request Header Fields Too Large");
    // Two requests held in progress fill a cap of 2; the third is refused, and served once they end.
    const a = fetch(`http://127.0.0.1:${port}/hold`);
    const b = fetch(`http://127.0.0.1:${port}/hold`);
    const end = Date.now() + 5000;
    while (server.pendingRequests < 2 && Date.now() < end) await Bun.sleep(5);
    const c = await fetch(`http://127.0.0.1:${port}/x`);
    expect(c.status).toBe(503);
    release();
    expect((await a).status).toBe(200);
    expect((await b).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/x`)).status).toBe(200);
  });
});

describe("http routes - openapi and page", () => {
  const doc = JSON.parse(openapiText as unknown as string);

  test("openapi - 3.1, and its paths and methods are exactly the route table's", () => {
    expect(doc.openapi).toBe("3.1.0");
    const fromDoc = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .flatMap(([p, item]) => Object.keys(item).filter((k) => ["get", "put", "post", "delete"].includes(k)).map((m) => `${m.toUpperCase()} ${p}`))
      .sort();
    const fromTable = ROUTES.flatMap((r) => r.methods.map((m) => `${m} ${r.path}`)).sort();
    expect(fromDoc).toEqual(fromTable);
  });

  test("openapi - every $ref resolves, operationIds are unique, each operation on a guarded route documents its 401", () => {
    const refs: string[] = [];
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === "object") {
        for (const [k, x] of Object.entries(v)) {
          if (k === "$ref" && typeof x === "string") refs.push(x);
          else walk(x);
        }
      }
    };
    walk(doc);
    expect(refs.length).toBeGreaterThan(20);
    for (const ref of refs) {
      expect(ref.startsWith("#/")).toBe(true);
      const target = ref.slice(2).split("/").reduce((o: any, k) => o?.[k], doc);
      if (target === undefined) throw new Error(`unresolved ${ref}`);
    }
    const ids = Object.values(doc.paths).flatMap((item: any) => Object.values(item).filter((o: any) => o?.operationId).map((o: any) => o.operationId));
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of ROUTES) {
      if (r.credential === "none") continue;
      for (const m of r.methods) {
        if (r.name === "session" && m === "DELETE") continue;
        expect(Object.keys(doc.paths[r.path][m.toLowerCase()].responses)).toContain("401");
      }
    }
  });

  test("page - three files, self-contained (nothing from another host), under 40 KB in the binary", async () => {
    expect([...ASSETS.keys()].sort()).toEqual(["/", "/assets/app.css", "/assets/app.js"]);
    for (const [path, a] of ASSETS) {
      // No URL with a scheme or protocol-relative (//host) that the browser would fetch.
      expect(a.body).not.toMatch(/(?:src|href)\s*=\s*["'](?:[a-z]+:)?\/\//i);
      expect(a.body).not.toMatch(/@import|url\(\s*["']?(?:https?:)?\/\//i);
      expect(path === "/" || match("GET", path).status === 200).toBe(true);
    }
    expect(PAGE_BYTES).toBeLessThan(40_000);
    const res = serveAsset("/", new Request("http://x/"))!;
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
    const again = serveAsset("/", new Request("http://x/", { headers: { "If-None-Match": res.headers.get("etag")! } }))!;
    expect(again.status).toBe(304);
    expect(serveAsset("/assets/nope.js", new Request("http://x/"))).toBeUndefined();
  });
});
