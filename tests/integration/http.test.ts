// SPEC "HTTP and the web view", route by route, against the compiled binary
// (`clip serve --http tcp:127.0.0.1:0 --http unix:...`) with fetch and curl:
// regions (GET/PUT, types, ETag, conditions, ?ttl), long polls, event
// streams and their resume, keys with Basic credentials, admin routes,
// credentials and sessions, and the errors of SPEC's table. What HTTP
// writes the socket reads, and the other way round: one server core.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Key, connect } from "../../src/index.ts";
import { sameBytes, tempDir, waitFor } from "../helpers/clip.ts";
import { makePng } from "../helpers/png.ts";
import { type HttpServerHandle, readEvents, startHttpServer } from "../helpers/http.ts";

const enc = new TextEncoder();
const text = (b: Uint8Array) => new TextDecoder().decode(b);

// curl and python3 are Debian packages .ci/run installs; elsewhere the tests that use them say they skip.
const HAVE_CURL = Bun.which("curl") !== null;
const HAVE_PYTHON = Bun.which("python3") !== null;
for (const [have, name] of [[HAVE_CURL, "curl"], [HAVE_PYTHON, "python3"]] as const) {
  if (have) continue;
  if (process.env.CI) throw new Error(`${name} is missing: .ci/run installs it`);
  console.warn(`http: ${name} missing (apt-get install ${name}); the tests that run it are skipped here`);
}

let h: HttpServerHandle;
let lib: Awaited<ReturnType<typeof connect>>;

beforeAll(async () => {
  h = await startHttpServer({ memory: true, name: "alpha" });
  lib = await connect({ server: h.s.socket });
});

afterAll(async () => {
  await lib?.close();
  await h?.[Symbol.asyncDispose]();
});

const get = (path: string, init: RequestInit = {}) => fetch(h.url + path, { ...init, headers: { ...h.auth, ...(init.headers as Record<string, string>) } });
const put = (path: string, body: string | Uint8Array, headers: Record<string, string> = {}) => get(path, { method: "PUT", body, headers });

/** Runs curl and returns its stdout and the status it saw. */
async function curl(args: string[], stdin?: Uint8Array): Promise<{ status: number; body: Uint8Array }> {
  const p = Bun.spawn(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", ...args], { stdin: stdin ?? "ignore", stdout: "pipe", stderr: "pipe" });
  const out = new Uint8Array(await new Response(p.stdout).arrayBuffer());
  await p.exited;
  const nl = out.lastIndexOf(10);
  return { status: Number(text(out.subarray(nl + 1))), body: out.subarray(0, nl) };
}

async function errorOf(res: Response): Promise<{ status: number; error: string; message: string }> {
  expect(res.headers.get("content-type")).toBe("application/json");
  const b = (await res.json()) as { error: string; message: string };
  expect(typeof b.message).toBe("string");
  return { status: res.status, error: b.error, message: b.message };
}

describe("http - regions", () => {
  test("regions - a PUT is stored as the socket's copy; GET gives bytes, type, ETag, Content-Length, no-store; empty is 204", async () => {
    const r = await put("/v1/regions/1", "over http", { "Content-Type": "text/plain" });
    expect(r.status).toBe(200);
    const { rev, size } = (await r.json()) as { rev: number; size: number };
    expect(size).toBe(9);
    // The socket sees what HTTP wrote...
    expect(text(await lib.paste(1))).toBe("over http");
    expect((await lib.read(1))?.type).toBe("text/plain");
    // ...and HTTP what the socket wrote.
    const png = makePng(3, 2, () => [1, 2, 3]);
    const w = await lib.copy(2, png);
    const g = await get("/v1/regions/2");
    expect(g.status).toBe(200);
    expect(g.headers.get("content-type")).toBe("image/png");
    expect(g.headers.get("etag")).toBe(`"${w.rev}"`);
    expect(g.headers.get("content-length")).toBe(String(png.length));
    expect(g.headers.get("cache-control")).toBe("no-store");
    expect(sameBytes(new Uint8Array(await g.arrayBuffer()), png)).toBe(true);
    const e = await get("/v1/regions/9");
    expect(e.status).toBe(204);
    expect((await e.arrayBuffer()).byteLength).toBe(0);
    // HEAD: the headers alone.
    const hd = await get("/v1/regions/2", { method: "HEAD" });
    expect(hd.status).toBe(200);
    expect(hd.headers.get("etag")).toBe(`"${w.rev}"`);
    expect(hd.headers.get("content-length")).toBe(String(png.length));
    expect(rev).toBeLessThan(w.rev);
    // If-None-Match with the current revision: 304.
    expect((await get("/v1/regions/2", { headers: { "If-None-Match": `"${w.rev}"` } })).status).toBe(304);
    expect((await get("/v1/regions/2", { headers: { "If-None-Match": `"${w.rev - 1}"` } })).status).toBe(200);
  });

  test.skipIf(!HAVE_CURL)("regions - no Content-Type, or curl's form type, is recognised from the bytes as copy does; a bad one is 400", async () => {
    const png = makePng(4, 4, () => [9, 9, 9]);
    const viaCurl = await curl(["-H", `Authorization: Bearer ${h.token}`, "--data-binary", "@-", "-X", "PUT", `${h.url}/v1/regions/3`], png);
    expect(viaCurl.status).toBe(200);
    expect((await lib.read(3))?.type).toBe("image/png");
    await curl(["-H", `Authorization: Bearer ${h.token}`, "-T", "-", `${h.url}/v1/regions/3`], enc.encode("plain text ✓"));
    expect((await lib.read(3))?.type).toBe("text/plain;charset=utf-8");
    await put("/v1/regions/3", new Uint8Array([0, 1, 2, 255]));
    expect((await lib.read(3))?.type).toBe("application/octet-stream");
    const bad = await put("/v1/regions/3", "x", { "Content-Type": "not a type" });
    expect((await errorOf(bad)).status).toBe(400);
    expect(text(await lib.paste(3))).not.toBe("x");
  });

  test("regions - the list is clip list --json", async () => {
    await lib.copy(4, "listed");
    const list = (await (await get("/v1/regions")).json()) as Record<string, unknown>[];
    expect(list.length).toBe(10);
    expect(list).toEqual(JSON.parse(JSON.stringify(await lib.list())));
    expect(list[4]).toMatchObject({ region: 4, size: 6, preview: "listed", type: "text/plain;charset=utf-8", by: "alpha" });
  });

  test("regions - If-Match is --if-rev, If-None-Match: * is --if-rev 0: 412 with the revision, nothing written", async () => {
    const first = (await (await put("/v1/regions/5", "one", { "If-None-Match": "*" })).json()) as { rev: number };
    const again = await put("/v1/regions/5", "two", { "If-None-Match": "*" });
    expect(again.status).toBe(412);
    expect(await errorOf(again)).toMatchObject({ error: "CONDITION", message: `region 5 is at revision ${first.rev}, not 0` });
    const stale = await put("/v1/regions/5", "three", { "If-Match": `"${first.rev - 1}"` });
    expect(stale.status).toBe(412);
    expect(text(await lib.paste(5))).toBe("one");
    const ok = await put("/v1/regions/5", "four", { "If-Match": `"${first.rev}"` });
    expect(ok.status).toBe(200);
    expect(text(await lib.paste(5))).toBe("four");
  });

  test("regions - ?ttl: expires shows in the list and the value goes when it passes", async () => {
    await put("/v1/regions/6?ttl=1s", "short-lived");
    const list = (await (await get("/v1/regions")).json()) as { expires?: string }[];
    expect(Date.parse(list[6].expires!)).toBeGreaterThan(Date.now());
    await waitFor(async () => (await get("/v1/regions/6")).status === 204, 10_000, "the value to expire");
  });
});

describe("http - waiting and events", () => {
  test("wait - ?wait gives the next write (made on the socket); 304 when none came; ?since gives a held one at once", async () => {
    const waiting = get("/v1/regions/7?wait=10");
    await Bun.sleep(100);
    const w = await lib.copy(7, "woken");
    const r = await waiting;
    expect(r.status).toBe(200);
    expect(await r.text()).toBe("woken");
    expect(r.headers.get("etag")).toBe(`"${w.rev}"`);
    const t0 = Date.now();
    const none = await get("/v1/regions/7?wait=0.3");
    expect(none.status).toBe(304);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    const held = await get(`/v1/regions/7?wait=5&since=${w.rev - 1}`);
    expect(held.status).toBe(200);
    expect(await held.text()).toBe("woken");
    // A since from the future is a usage error; ?since alone means nothing.
    expect((await get("/v1/regions/7?wait=1&since=999999")).status).toBe(400);
    expect((await get("/v1/regions/7?since=1")).status).toBe(400);
  });

  test("events - one stream for all regions: id is the rev, data has rev, region, size, type, writer, value up to 64 KiB", async () => {
    const res = await get("/v1/regions/events");
    expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const es = readEvents(res);
    await Bun.sleep(50);
    const a = await lib.copy(0, "zero");
    const big = new Uint8Array(70_000).fill(7);
    const b = await lib.copy(8, big);
    const e1 = await es.next();
    expect(e1.id).toBe(String(a.rev));
    expect(JSON.parse(e1.data)).toMatchObject({ rev: a.rev, region: 0, size: 4, type: "text/plain;charset=utf-8", writer: "alpha", value: Buffer.from("zero").toString("base64") });
    const e2 = JSON.parse((await es.next()).data);
    expect(e2).toMatchObject({ rev: b.rev, region: 8, size: 70_000 });
    expect(e2.value).toBeUndefined();
    es.close();
  });

  test("sealed - a PUT with X-Clip-Key-Id marks its body sealed, as clip copy --encrypt does: listed encrypted, no preview, opened by the key's holder", async () => {
    const key = new Key(crypto.getRandomValues(new Uint8Array(32)));
    const sealer = await connect({ server: h.s.socket, key });
    try {
      await sealer.copy(3, "sealed on the socket", { encrypt: true });
      // A GET hands the sealed bytes and names their key. (Sealed for region 3, they open only there.)
      const got = await get("/v1/regions/3");
      expect(got.headers.get("x-clip-key-id")).toBe(key.id);
      const sealed = new Uint8Array(await got.arrayBuffer());
      // Put back without the header: the server cannot tell (the key's holder still can: the bytes decide).
      expect((await get("/v1/regions/3", { method: "PUT", body: sealed })).status).toBe(200);
      expect(JSON.parse((await h.s.run(["list", "--json"])).text)[3].encrypted).toBeUndefined();
      // With it: marked as clip copy --encrypt marks it.
      expect((await get("/v1/regions/3", { method: "PUT", body: sealed, headers: { "X-Clip-Key-Id": key.id } })).status).toBe(200);
      const regions = JSON.parse((await h.s.run(["list", "--json"])).text);
      expect(regions[3]).toMatchObject({ encrypted: key.id, preview: "", binary: true });
      expect(new TextDecoder().decode(await sealer.paste(3))).toBe("sealed on the socket");
      const back = await get("/v1/regions/3");
      expect(back.headers.get("content-type")).toBe("application/x-clip-sealed");
      await back.arrayBuffer();
      // Not a key id: refused, nothing stored.
      const bad = await get("/v1/regions/5", { method: "PUT", body: sealed, headers: { "X-Clip-Key-Id": "not-a-key" } });
      expect(bad.status).toBe(400);
      expect(await bad.text()).toContain("bad X-Clip-Key-Id");
    } finally {
      sealer.close();
    }
  });

  test("events - an event stream is listed by clip apps while open (kind http, what it watches, from where), and among those that left once closed", async () => {
    const apps = async () => JSON.parse((await h.s.run(["apps", "--json"])).text);
    const res = await get("/v1/regions/6/events");
    const es = readEvents(res);
    const listed = await waitFor(async () => (await apps()).apps.find((a: { kind: string; watches: string[] }) => a.kind === "http" && a.watches.includes("region 6")), 5000, "the stream in clip apps");
    expect(listed).toMatchObject({ kind: "http", name: "event stream", oneShot: false, remote: "127.0.0.1", groups: [] });
    expect((await h.s.run(["apps"])).text).toMatch(/^- +http event stream +- .* region 6$/m);
    es.close();
    const left = await waitFor(async () => (await apps()).left.find((a: { kind: string; watches: string[] }) => a.kind === "http" && a.watches.includes("region 6")), 5000, "the stream among those that left");
    expect(left.left).toBeGreaterThan(0);
    expect((await apps()).apps.some((a: { kind: string; watches: string[] }) => a.kind === "http" && a.watches.includes("region 6"))).toBe(false);
  });

  test("events - one region's stream, and Last-Event-ID resumes after that revision: no gap, no repeat", async () => {
    const first = await lib.copy(1, "r1-a");
    const res = await get("/v1/regions/1/events");
    const es = readEvents(res);
    await Bun.sleep(50);
    await lib.copy(2, "elsewhere");
    const seen = await lib.copy(1, "r1-b");
    expect((await es.next()).id).toBe(String(seen.rev));
    es.close();
    // Writes made while no stream was open...
    const m1 = await lib.copy(1, "r1-c");
    const m2 = await lib.copy(1, "r1-d");
    const resumed = readEvents(await get("/v1/regions/1/events", { headers: { "Last-Event-ID": String(seen.rev) } }));
    const got = [await resumed.next(), await resumed.next()];
    expect(got.map((e) => e.id)).toEqual([String(m1.rev), String(m2.rev)]);
    expect(got.map((e) => text(Buffer.from(JSON.parse(e.data).value, "base64")))).toEqual(["r1-c", "r1-d"]);
    // ...then live, with nothing twice.
    const live = await lib.copy(1, "r1-e");
    expect((await resumed.next()).id).toBe(String(live.rev));
    expect(resumed.pending()).toBe(0);
    resumed.close();
    expect(first.rev).toBeLessThan(seen.rev);
    // A malformed Last-Event-ID is a 400, one from the future too.
    expect((await get("/v1/regions/1/events", { headers: { "Last-Event-ID": "x1" } })).status).toBe(400);
    expect((await get("/v1/regions/1/events", { headers: { "Last-Event-ID": "99999999" } })).status).toBe(400);
  });

  test("events - a revision no longer held is 404 (history 0): read the current value and watch from it", async () => {
    await using h2 = await startHttpServer({ memory: true, args: ["--history", "0"] });
    const c = await connect({ server: h2.s.socket });
    try {
      const a = await c.copy(0, "a");
      await c.copy(0, "b");
      const r = await fetch(`${h2.url}/v1/regions/0/events`, { headers: { ...h2.auth, "Last-Event-ID": String(a.rev - 1) } });
      expect(r.status).toBe(404);
      expect(((await r.json()) as { message: string }).message).toContain("no longer held");
    } finally {
      await c.close();
    }
  });
});

describe("http - keys", () => {
  test("keys - group made over HTTP; put, get, list, delete with Basic; a / in a key as %2F; the socket agrees", async () => {
    const made = (await (await get("/v1/groups/web", { method: "POST" })).json()) as { group: string; secret: string };
    expect(made.group).toBe("web");
    const basic = { Authorization: `Basic ${Buffer.from(`web:${made.secret}`).toString("base64")}` };
    const kv = (path: string, init: RequestInit = {}) => fetch(`${h.url}/v1/kv/web${path}`, { ...init, headers: { ...basic, ...(init.headers as Record<string, string>) } });
    const p = await kv("/config%2Fdb", { method: "PUT", body: '{"port":5432}', headers: { "Content-Type": "application/json" } });
    expect(p.status).toBe(200);
    const g = await kv("/config/db");
    expect(g.headers.get("content-type")).toBe("application/json");
    expect(await g.text()).toBe('{"port":5432}');
    const k = await lib.kv({ group: "web", secret: made.secret });
    expect(text(await k.get("config/db"))).toBe('{"port":5432}');
    await k.put("config/cache", "on");
    await k.put("other", "x");
    const list = (await (await kv("?prefix=config/")).json()) as { key: string }[];
    expect(list.map((e) => e.key)).toEqual(["config/cache", "config/db"]);
    expect(list).toEqual(JSON.parse(JSON.stringify(await k.list("config/"))));
    const d = await kv("/config%2Fdb", { method: "DELETE" });
    expect(d.status).toBe(200);
    expect(((await d.json()) as { rev: number }).rev).toBeGreaterThan(0);
    expect((await errorOf(await kv("/config%2Fdb"))).status).toBe(404);
    expect((await errorOf(await kv("/config%2Fdb", { method: "DELETE" }))).status).toBe(404);
    // If-Match on a key.
    const cur = (await k.read("other")).rev;
    expect((await kv("/other", { method: "PUT", body: "y", headers: { "If-Match": `"${cur + 5}"` } })).status).toBe(412);
    expect((await kv("/other", { method: "DELETE", headers: { "If-Match": `"${cur}"` } })).status).toBe(200);
  });

  test("keys - ?wait on a key: the next put's value, or 404 for a delete; the watch stream is kv watch --json", async () => {
    const { secret } = (await (await get("/v1/groups/wk", { method: "POST" })).json()) as { secret: string };
    const basic = { Authorization: `Basic ${Buffer.from(`wk:${secret}`).toString("base64")}` };
    const k = await lib.kv({ group: "wk", secret });
    const waiting = fetch(`${h.url}/v1/kv/wk/job?wait=10`, { headers: basic });
    const stream = readEvents(await fetch(`${h.url}/v1/watch/wk?prefix=`, { headers: basic }));
    // The CLI's own --json, for the same changes.
    const cli = Bun.spawn([`${import.meta.dir}/../../dist/clip`, "kv", "watch", "--prefix", "", "--json", "--count", "3", "-g", "wk", "--server", h.s.socket], {
      env: { ...process.env, CLIP_SECRET: secret },
      stdout: "pipe",
      stderr: "pipe",
    });
    await Bun.sleep(300);
    await k.put("job", "run");
    const w = await waiting;
    expect(w.status).toBe(200);
    expect(await w.text()).toBe("run");
    await k.put("bin", new Uint8Array([0, 200, 1]));
    const waitDel = fetch(`${h.url}/v1/kv/wk/job?wait=10`, { headers: basic });
    await Bun.sleep(100);
    await k.del("job");
    const wd = await waitDel;
    expect(wd.status).toBe(404);
    expect(wd.headers.get("x-clip-event")).toBe("del");
    const events = [await stream.next(), await stream.next(), await stream.next()].map((e) => JSON.parse(e.data));
    const lines = (await new Response(cli.stdout).text()).trim().split("\n").map((l) => JSON.parse(l));
    expect(await cli.exited).toBe(0);
    expect(events).toEqual(lines);
    expect(events.map((e) => [e.key, e.event, e.encoding])).toEqual([
      ["job", "put", "utf8"],
      ["bin", "put", "base64"],
      ["job", "del", undefined],
    ]);
    stream.close();
  });

  test("keys - the watch of a key ends with an error event when its group is deleted", async () => {
    const { secret } = (await (await get("/v1/groups/gone", { method: "POST" })).json()) as { secret: string };
    const basic = { Authorization: `Basic ${Buffer.from(`gone:${secret}`).toString("base64")}` };
    const es = readEvents(await fetch(`${h.url}/v1/watch/gone?key=k`, { headers: basic }));
    await Bun.sleep(50);
    expect((await get("/v1/groups/gone", { method: "DELETE" })).status).toBe(200);
    const e = await es.next();
    expect(e.event).toBe("error");
    expect(JSON.parse(e.data)).toEqual({ error: "GROUP_DELETED", message: "group deleted" });
    await waitFor(() => es.ended, 5000, "the stream to end");
    expect((await fetch(`${h.url}/v1/kv/gone/k`, { headers: basic })).status).toBe(403);
  });
});

describe("http - admin and credentials", () => {
  test("admin - status, tree, apps answer as the CLI's --json; group create twice is 409", async () => {
    const status = (await (await get("/v1/status")).json()) as Record<string, unknown>;
    expect(status).toMatchObject({ name: "alpha", role: "root" });
    const tree = (await (await get("/v1/tree")).json()) as { self: string; root: { id: string; name: string } };
    expect(tree.root.id).toBe(tree.self);
    expect(tree.root.name).toBe("alpha");
    const apps = (await (await get("/v1/apps")).json()) as { apps: unknown[]; left: unknown[] };
    expect(apps.apps.length).toBeGreaterThanOrEqual(1);
    await get("/v1/groups/twice", { method: "POST" });
    const again = await get("/v1/groups/twice", { method: "POST" });
    expect((await errorOf(again)).status).toBe(409);
    expect((await errorOf(await get("/v1/groups/nosuch", { method: "DELETE" }))).status).toBe(404);
  });

  test.skipIf(!HAVE_CURL)("credentials - TCP: none is 401 with a Bearer challenge, wrong is 403 and slowed; unix needs none", async () => {
    const none = await fetch(`${h.url}/v1/regions`);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toStartWith("Bearer");
    const t0 = Date.now();
    const wrong = await fetch(`${h.url}/v1/regions`, { headers: { Authorization: "Bearer nope" } });
    expect(wrong.status).toBe(403);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
    // The admin routes too, and the metrics (the cluster token is good there).
    expect((await fetch(`${h.url}/v1/status`)).status).toBe(401);
    expect((await fetch(`${h.url}/metrics`, { headers: h.auth })).status).toBe(200);
    // The unix listener is mode 0600: no token.
    const viaUnix = await curl(["--unix-socket", h.unix, "http://clip/v1/status"]);
    expect(viaUnix.status).toBe(200);
    // The page needs nothing.
    expect((await fetch(`${h.url}/`)).status).toBe(200);
    expect((await fetch(`${h.url}/v1/openapi.json`)).status).toBe(200);
  });

  test.skipIf(!HAVE_CURL)("credentials - key routes: none is 401 with the group's Basic realm; a wrong secret or another group's name is 403", async () => {
    const { secret } = (await (await get("/v1/groups/cred", { method: "POST" })).json()) as { secret: string };
    const none = await fetch(`${h.url}/v1/kv/cred/k`);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toBe('Basic realm="clip group cred", charset="UTF-8"');
    // The cluster token is not a group's secret.
    expect((await fetch(`${h.url}/v1/kv/cred/k`, { headers: h.auth })).status).toBe(401);
    const basic = (u: string, p: string) => ({ Authorization: `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}` });
    expect((await fetch(`${h.url}/v1/kv/cred/k`, { headers: basic("cred", "wrong") })).status).toBe(403);
    expect((await fetch(`${h.url}/v1/kv/cred/k`, { headers: basic("web", secret) })).status).toBe(403);
    expect((await fetch(`${h.url}/v1/kv/nosuch/k`, { headers: basic("nosuch", secret) })).status).toBe(403);
    expect((await fetch(`${h.url}/v1/kv/cred/k`, { headers: basic("cred", secret) })).status).toBe(404);
    // Even on the unix listener, a key route wants the secret.
    expect((await curl(["--unix-socket", h.unix, "http://clip/v1/kv/cred/k"])).status).toBe(401);
  });

  test("credentials - a metrics token is good for /metrics alone; sessions: token for an HttpOnly cookie the API takes", async () => {
    using dir = tempDir("cm");
    const file = join(String(dir), "metrics-token");
    writeFileSync(file, "scrape-only\n");
    await using h2 = await startHttpServer({ memory: true, args: ["--metrics-token-file", file] });
    const scraper = { Authorization: "Bearer scrape-only" };
    expect((await fetch(`${h2.url}/metrics`, { headers: scraper })).status).toBe(200);
    expect((await fetch(`${h2.url}/v1/regions`, { headers: scraper })).status).toBe(403);
    expect((await fetch(`${h2.url}/metrics`)).status).toBe(401);
    // A session: POST /v1/session with the token sets the cookie; the cookie alone then works.
    expect((await fetch(`${h2.url}/v1/session`, { method: "POST" })).status).toBe(401);
    const s = await fetch(`${h2.url}/v1/session`, { method: "POST", headers: h2.auth });
    expect(s.status).toBe(204);
    const set = s.headers.get("set-cookie")!;
    expect(set).toMatch(/^clip_session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict$/);
    const cookie = set.split(";")[0];
    expect((await fetch(`${h2.url}/v1/regions`, { headers: { Cookie: cookie } })).status).toBe(200);
    // A cookie cannot make another session, and a made-up one is no one's.
    expect((await fetch(`${h2.url}/v1/session`, { method: "POST", headers: { Cookie: cookie } })).status).toBe(401);
    expect((await fetch(`${h2.url}/v1/regions`, { headers: { Cookie: `clip_session=${"A".repeat(43)}` } })).status).toBe(401);
    // Signing out ends it.
    const out = await fetch(`${h2.url}/v1/session`, { method: "DELETE", headers: { Cookie: cookie } });
    expect(out.status).toBe(204);
    expect(out.headers.get("set-cookie")).toContain("Max-Age=0");
    expect((await fetch(`${h2.url}/v1/regions`, { headers: { Cookie: cookie } })).status).toBe(401);
  });
});

describe("http - bad input", () => {
  test("errors - unknown routes 404, other methods 405 with Allow, bad regions, names, keys and parameters 400", async () => {
    const cases: [string, RequestInit, number, string][] = [
      ["/v2/regions", {}, 404, "NOTFOUND"],
      ["/v1/regions/3/x", {}, 404, "NOTFOUND"],
      ["/v1/regions/10", {}, 400, "USAGE"],
      ["/v1/regions/-1", {}, 400, "USAGE"],
      ["/v1/regions/x", { method: "PUT", body: "v" }, 400, "USAGE"],
      ["/v1/regions/3?wiat=30", {}, 400, "USAGE"],
      ["/v1/regions/3?wait=soon", {}, 400, "USAGE"],
      ["/v1/regions/3?wait=1&wait=2", {}, 400, "USAGE"],
      ["/v1/regions/3?ttl=forever", { method: "PUT", body: "v" }, 400, "USAGE"],
      ["/v1/regions/3", { method: "PUT", body: "v", headers: { "If-Match": 'W/"3"' } }, 400, "USAGE"],
      ["/v1/regions/3", { method: "PUT", body: "v", headers: { "If-Match": '"3"', "If-None-Match": "*" } }, 400, "USAGE"],
      ["/v1/regions/events", { headers: { "Last-Event-ID": "-4" } }, 400, "USAGE"],
      ["/v1/groups/bad name", { method: "POST" }, 400, "USAGE"],
      [`/v1/groups/${"g".repeat(65)}`, { method: "POST" }, 400, "USAGE"],
      ["/v1/regions/3", { method: "DELETE" }, 405, "USAGE"],
      ["/v1/regions", { method: "POST" }, 405, "USAGE"],
      ["/v1/status", { method: "PUT", body: "x" }, 405, "USAGE"],
    ];
    for (const [path, init, status, code] of cases) {
      const r = await get(path, init);
      const e = await errorOf(r);
      if (e.status !== status || e.error !== code) throw new Error(`${init.method ?? "GET"} ${path}: ${e.status} ${e.error} (${e.message}), wanted ${status} ${code}`);
      if (status === 405) expect(r.headers.get("allow")).toBeTruthy();
    }
    const basic = { Authorization: "Basic !!!" };
    expect((await fetch(`${h.url}/v1/kv/g/k`, { headers: basic })).status).toBe(400);
    const { secret } = (await (await get("/v1/groups/badkeys", { method: "POST" })).json()) as { secret: string };
    const ok = { Authorization: `Basic ${Buffer.from(`badkeys:${secret}`).toString("base64")}` };
    expect((await fetch(`${h.url}/v1/kv/badkeys/${"k".repeat(1025)}`, { headers: ok })).status).toBe(400);
    expect((await fetch(`${h.url}/v1/kv/badkeys/%E0%A4%A`, { headers: ok })).status).toBe(400);
    expect((await fetch(`${h.url}/v1/watch/badkeys`, { headers: ok })).status).toBe(400);
    expect((await fetch(`${h.url}/v1/watch/badkeys?key=a&prefix=b`, { headers: ok })).status).toBe(400);
  });
});

describe("http - the docs' examples", () => {
  test.skipIf(!HAVE_CURL || !HAVE_PYTHON)("docs - the Python (standard library) and shell examples of docs/HTTP.md run against the server", async () => {
    const doc = readFileSync(join(import.meta.dir, "../../docs/HTTP.md"), "utf8");
    const py = /```python\n([\s\S]*?)```/.exec(doc)![1];
    const sh = /Shell, with curl alone:\n\n```sh\n([\s\S]*?)```/.exec(doc)![1];
    using dir = tempDir("cd");
    writeFileSync(join(String(dir), "clipdemo.py"), py);
    const env = { ...process.env, CLIP_URL: h.url, CLIP_TOKEN: h.token, PYTHONDONTWRITEBYTECODE: "1" };
    const main = Bun.spawnSync(["python3", "clipdemo.py"], { cwd: String(dir), env });
    expect(main.stderr.toString()).toBe("");
    const [revLine, none] = main.stdout.toString().trim().split("\n");
    expect(revLine).toMatch(/^[0-9]+ hello from Python$/);
    expect(none).toBe("None");
    expect(text(await lib.paste(0))).toBe("hello from Python");
    // follow(): the first write after it started.
    const follower = Bun.spawn(["python3", "-c", "import clipdemo, base64; e = next(clipdemo.follow(0)); print(e['rev'], base64.b64decode(e['value']).decode())"], { cwd: String(dir), env, stdout: "pipe", stderr: "pipe" });
    await waitFor(async () => {
      const m = await (await get("/metrics")).text();
      return /clip_watchers\{transport="http"\} [1-9]/.test(m);
    }, 10_000, "the Python follower");
    const w = await lib.copy(0, "seen by python");
    expect(await follower.exited).toBe(0);
    expect((await new Response(follower.stdout).text()).trim()).toBe(`${w.rev} seen by python`);
    // The shell example.
    const shell = Bun.spawnSync(["sh", "-e", "-c", sh], { env });
    expect(shell.exitCode).toBe(0);
    const out = shell.stdout.toString().trim().split("\n");
    expect(JSON.parse(out[0])).toMatchObject({ size: expect.any(Number) });
    expect(out[1]).toBe(text(await lib.paste(0)).trim());
    expect(out[2]).toBe("304");
  });
});
