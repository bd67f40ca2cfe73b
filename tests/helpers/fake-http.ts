// A stand-in for clip's HTTP door, for testing the web page before the real
// routes exist: SPEC's region, session, status and tree routes over an
// in-memory map, built on the real plumbing of src/http/ (router, auth,
// sessions, params, errors, event streams, page assets). The browser tests
// drive the page against it; they will later be pointed at the real server.
//
// It keeps a log of every request (method, URL, the credential headers) so a
// test can check what the page sent, and lets the test write to a region "from
// elsewhere" (`write`) as another client's copy would.

import { BEARER_CHALLENGE, checkCluster, parseAuthorization, type Listener } from "../../src/http/auth.ts";
import { errorResponse, methodNotAllowed, notFound, unauthorized } from "../../src/http/errors.ts";
import { admit, checkBodySize, DEFAULT_HTTP_LIMITS, serveOptions } from "../../src/http/limits.ts";
import { serveAsset, VALUE_HEADERS } from "../../src/http/page.ts";
import { parseLastEventId, parseQuery, regionParam, writeCondition } from "../../src/http/params.ts";
import { match } from "../../src/http/router.ts";
import { clearedSessionCookie, cookieValue, SESSION_COOKIE, sessionCookie, SessionStore } from "../../src/http/session.ts";
import { EventStream } from "../../src/http/sse.ts";
import openapi from "../../src/http/openapi.json" with { type: "text" };
import { ClipError } from "../../src/protocol/errors.ts";

export interface FakeRegion {
  rev: number;
  bytes: Uint8Array;
  type: string;
  at: number;
  by: string;
  encrypted?: boolean;
}

export interface LoggedRequest {
  method: string;
  url: string;
  authorization: string | null;
  cookie: string | null;
}

export interface FakeOptions {
  /** "tcp": the page must sign in with `token`; "unix": no credentials (as on a unix listener). */
  listener?: Listener;
  token?: string;
  name?: string;
  maxSize?: number;
}

const EVENT_VALUE_MAX = 64 * 1024;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The type `clip copy` would give these bytes: a few magic numbers, then UTF-8 or not. */
export function sniff(b: Uint8Array): string {
  const starts = (...m: number[]) => m.every((x, i) => b[i] === x);
  if (starts(0x89, 0x50, 0x4e, 0x47)) return "image/png";
  if (starts(0xff, 0xd8, 0xff)) return "image/jpeg";
  if (starts(0x47, 0x49, 0x46, 0x38)) return "image/gif";
  try {
    utf8.decode(b);
    return "text/plain;charset=utf-8";
  } catch {
    return "application/octet-stream";
  }
}

function preview(r: FakeRegion): { preview: string; binary: boolean } {
  if (r.encrypted || r.bytes.length === 0) return { preview: "", binary: false };
  try {
    const t = utf8.decode(r.bytes.subarray(0, 96));
    return { preview: t.replace(/\s+/g, " ").trim().slice(0, 64), binary: false };
  } catch {
    return { preview: "", binary: true };
  }
}

export class FakeHttp {
  readonly regions: (FakeRegion | undefined)[] = Array.from({ length: 10 }, () => undefined);
  readonly log: LoggedRequest[] = [];
  readonly sessions = new SessionStore({ max: 16 });
  /** Last-Event-ID of each event stream request that sent one, in order. */
  readonly lastEventIds: string[] = [];
  rev = 0;
  private readonly streams = new Set<{ es: EventStream; region?: number }>();
  private readonly history: { rev: number; event: Record<string, unknown> }[] = [];
  private readonly server: ReturnType<typeof Bun.serve>;
  private readonly listener: Listener;
  private readonly name: string;
  private readonly maxSize: number;

  constructor(private readonly opts: FakeOptions = {}) {
    this.listener = opts.listener ?? "unix";
    this.name = opts.name ?? "fake";
    this.maxSize = opts.maxSize ?? 64 << 20;
    this.server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      ...serveOptions(DEFAULT_HTTP_LIMITS),
      fetch: (req, server) => this.handle(req, server),
      error: (e) => errorResponse(e),
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.server.port}`;
  }

  /** Streams open now (the page keeps one). */
  get openStreams(): number {
    return this.streams.size;
  }

  /** A write made elsewhere (another client's copy): stored, then sent to every open stream. */
  write(region: number, bytes: Uint8Array | string, opts: { type?: string; by?: string; encrypted?: boolean } = {}): number {
    const b = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
    const rev = ++this.rev;
    const r: FakeRegion = { rev, bytes: b, type: opts.type ?? sniff(b), at: Date.now(), by: opts.by ?? this.name, encrypted: opts.encrypted };
    this.regions[region] = r;
    const event: Record<string, unknown> = { rev, region, size: b.length, type: r.type, writer: r.by, event: "put" };
    if (r.encrypted) event.encrypted = true;
    if (b.length <= EVENT_VALUE_MAX) event.value = Buffer.from(b).toString("base64");
    this.history.push({ rev, event });
    for (const s of this.streams) if (s.region === undefined || s.region === region) s.es.send({ id: rev, data: event });
    return rev;
  }

  /** Cuts every open event stream, as a slow-reader cut-off or a restart would. */
  async dropStreams(): Promise<void> {
    for (const s of [...this.streams]) s.es.abort();
    this.streams.clear();
  }

  async stop(): Promise<void> {
    for (const s of this.streams) s.es.abort();
    await this.server.stop(true);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  private async handle(req: Request, server: Bun.Server<undefined>): Promise<Response> {
    this.log.push({ method: req.method, url: req.url, authorization: req.headers.get("authorization"), cookie: req.headers.get("cookie") });
    const refused = admit(req, server);
    if (refused) return refused;
    const url = new URL(req.url);
    const m = match(req.method, url.pathname);
    if (m.status === 404) return notFound(url.pathname);
    if (m.status === 405) return methodNotAllowed(req.method, url.pathname, m.allow);
    try {
      const { route, params } = m;
      if (route.credential === "cluster" || route.credential === "metrics") {
        const verdict = checkCluster(this.auth(), parseAuthorization(req.headers.get("authorization")), cookieValue(req.headers.get("cookie"), SESSION_COOKIE));
        if (verdict === "missing") return unauthorized(BEARER_CHALLENGE);
        if (verdict === "wrong") throw new ClipError("AUTH", "wrong token");
      }
      switch (route.name) {
        case "page":
        case "asset":
          return serveAsset(url.pathname, req) ?? notFound(url.pathname);
        case "openapi":
          return new Response(openapi as unknown as string, { headers: { "Content-Type": "application/json" } });
        case "session":
          return this.session(req);
        case "regions":
          parseQuery(url, {});
          return Response.json(this.list(), { headers: { "Cache-Control": "no-store" } });
        case "regionsEvents":
        case "regionEvents":
          parseQuery(url, {});
          return this.events(req, server, params.region === undefined ? undefined : regionParam(params.region));
        case "region":
          return req.method === "PUT" ? await this.put(req, url, regionParam(params.region)) : this.get(req, url, regionParam(params.region));
        case "status":
          return Response.json({ name: this.name, id: "f00d", version: "test", uptime: 1, role: "root", clients: this.streams.size, regions: this.regions.filter(Boolean).length, keys: 0, rev: this.rev });
        case "tree":
          return Response.json({
            self: "f00d",
            root: { id: "f00d", name: this.name, addrs: [this.url.slice(7)], role: "root", clients: 1, rev: this.rev, children: [{ id: "beef", name: "laptop", addrs: [], role: "child", clients: 2, rev: this.rev, children: [] }] },
          });
        default:
          throw new ClipError("NOTFOUND", `the fake server does not serve ${route.name}`);
      }
    } catch (e) {
      return errorResponse(e);
    }
  }

  private auth() {
    return { listener: this.listener, token: this.opts.token, session: (id: string) => this.sessions.valid(id) };
  }

  private session(req: Request): Response {
    if (req.method === "DELETE") {
      const id = cookieValue(req.headers.get("cookie"), SESSION_COOKIE);
      if (id) this.sessions.revoke(id);
      return new Response(null, { status: 204, headers: { "Set-Cookie": clearedSessionCookie(false) } });
    }
    const creds = parseAuthorization(req.headers.get("authorization"));
    if (creds.scheme !== "bearer") return unauthorized(BEARER_CHALLENGE);
    if (checkCluster({ ...this.auth(), listener: "tcp" }, creds, undefined) !== "ok") throw new ClipError("AUTH", "wrong token");
    const s = this.sessions.create();
    return new Response(null, { status: 204, headers: { "Set-Cookie": sessionCookie(s.id, this.sessions.ttlMs, false) } });
  }

  private list() {
    return this.regions.map((r, region) =>
      r
        ? { region, rev: r.rev, size: r.bytes.length, type: r.type, at: r.at, by: r.by, ...preview(r), encrypted: !!r.encrypted }
        : { region, rev: 0, size: 0, type: "", at: 0, by: "", preview: "", binary: false, encrypted: false },
    );
  }

  private get(req: Request, url: URL, region: number): Response {
    parseQuery(url, {});
    const r = this.regions[region];
    if (!r || r.bytes.length === 0) return new Response(null, { status: 204 });
    const type = r.encrypted ? "application/x-clip-sealed" : r.type;
    return new Response(req.method === "HEAD" ? null : r.bytes, { headers: { ...VALUE_HEADERS, "Content-Type": type, ETag: `"${r.rev}"` } });
  }

  private async put(req: Request, url: URL, region: number): Promise<Response> {
    const q = parseQuery(url, { ttl: (s) => s });
    void q;
    const ifRev = writeCondition(req.headers);
    checkBodySize(req, this.maxSize);
    const bytes = new Uint8Array(await req.arrayBuffer());
    if (bytes.length > this.maxSize) throw new ClipError("TOOBIG", "over --max-size");
    if (ifRev !== undefined && ifRev !== (this.regions[region]?.rev ?? 0)) {
      return new Response(JSON.stringify({ error: "CONDITION", message: `region ${region} is at revision ${this.regions[region]?.rev ?? 0}, not ${ifRev}` }), { status: 412 });
    }
    const ct = req.headers.get("content-type");
    const type = !ct || ct === "application/x-www-form-urlencoded" ? sniff(bytes) : ct;
    const rev = this.write(region, bytes, { type, by: this.name });
    return Response.json({ rev });
  }

  private events(req: Request, server: Bun.Server<undefined>, region: number | undefined): Response {
    const lastId = req.headers.get("last-event-id");
    if (lastId !== null) this.lastEventIds.push(lastId);
    const since = parseLastEventId(lastId);
    server.timeout(req, 0);
    const entry: { es: EventStream; region?: number } = { es: undefined as unknown as EventStream, region };
    entry.es = new EventStream({ signal: req.signal, onClose: () => this.streams.delete(entry) });
    if (since !== undefined) {
      for (const h of this.history) {
        if (h.rev > since && (region === undefined || h.event.region === region)) entry.es.send({ id: h.rev, data: h.event });
      }
    }
    if (!entry.es.closed) this.streams.add(entry);
    return entry.es.response;
  }
}
