// `clip serve --http ADDR`: Bun.serve on each address (tcp: or unix:, the
// latter mode 0600 like the socket), all of them in front of one HttpApp
// over the server's node. This file is the adapter: it gives the app each
// request with where it came from, and stops the listeners.

import { chmodSync, unlinkSync } from "node:fs";
import { type Address, parseAddress } from "../net/address.ts";
import { prepareUnixPath } from "../net/listen.ts";
import { ClipError } from "../protocol/errors.ts";
import type { ClipNode } from "../server/node.ts";
import { type Arrival, HttpApp } from "./app.ts";
import type { Door } from "./door.ts";
import { errorResponse } from "./errors.ts";
import { DEFAULT_HTTP_LIMITS, type HttpLimits, serveOptions, type ServerCounts } from "./limits.ts";
import type { ClipMetrics } from "./metric-set.ts";
import { SPEC_LIMITS } from "./outbound.ts";
import { SessionStore } from "./session.ts";

export interface HttpOptions {
  /** tcp:HOST:PORT or unix:PATH, as --http gives them. */
  addresses: string[];
  token?: string;
  insecure?: boolean;
  /** serve --metrics-token-file: good for GET /metrics alone. */
  metricsToken?: string;
  tls?: { cert: unknown; key: unknown };
  metrics: ClipMetrics;
  /** `clip tree` (the tree asks the root). */
  tree(): Promise<Record<string, unknown>>;
  limits?: Partial<HttpLimits>;
}

export interface HttpServer {
  /** Addresses bound (port 0 resolved). */
  readonly addresses: Address[];
  readonly door: Door;
  /** Requests in progress on every listener. */
  inProgress(): number;
  /**
   * Stops accepting; answers waits 503 and ends event streams; gives
   * requests in flight a moment to finish, then closes every connection.
   */
  stop(): Promise<void>;
}

type BunServer = ReturnType<typeof Bun.serve>;

/** How long requests in flight (a download, an upload) get to finish when the server stops. */
const STOP_GRACE_MS = 1000;

/**
 * CLIP_HTTP_IDLE_SECONDS: how long a connection may stay quiet mid-request
 * (a download whose reader stopped reading is cut after it). For tests and
 * for servers behind slow links; 1 to 255 (Bun's range).
 */
function idleFromEnv(): number | undefined {
  const v = Number(process.env.CLIP_HTTP_IDLE_SECONDS);
  return Number.isInteger(v) && v >= 1 && v <= 255 ? v : undefined;
}

export async function startHttp(node: ClipNode, opts: HttpOptions): Promise<HttpServer> {
  const addrs = opts.addresses.map(parseAddress);
  if (addrs.some((a) => a.kind === "tcp") && !opts.token && !opts.insecure) {
    throw new ClipError("USAGE", "an HTTP listener on TCP needs a cluster token: pass --token-file F or set CLIP_TOKEN (or --insecure, on a trusted network only)");
  }
  const limits: HttpLimits = {
    ...DEFAULT_HTTP_LIMITS,
    // The socket's own cap when it was lowered (CLIP_MAX_CONNECTIONS, or few descriptors).
    maxConnections: Math.min(DEFAULT_HTTP_LIMITS.maxConnections, node.maxConnections),
    idleTimeoutSeconds: idleFromEnv() ?? DEFAULT_HTTP_LIMITS.idleTimeoutSeconds,
    ...opts.limits,
  };
  const servers: BunServer[] = [];
  const door: Door = {
    node,
    token: opts.token,
    insecure: !!opts.insecure,
    metricsToken: opts.metricsToken,
    secure: !!opts.tls,
    sessions: new SessionStore(),
    limits,
    outbound: SPEC_LIMITS,
    metrics: opts.metrics.transport("http"),
    renderMetrics: () => ({ type: opts.metrics.contentType, text: opts.metrics.render() }),
    tree: opts.tree,
    watching: 0,
    open: new Set(),
    closing: false,
  };
  const app = new HttpApp(door);
  // The cap on requests in progress is the server's, not one listener's.
  const counts: ServerCounts = {
    get pendingRequests() {
      let n = 0;
      for (const s of servers) n += s.pendingRequests;
      return n;
    },
    closeIdleConnections() {
      let n = 0;
      for (const s of servers) n += s.closeIdleConnections();
      return n;
    },
  };
  const bound: Address[] = [];
  const unixPaths: string[] = [];
  try {
    for (const addr of addrs) {
      const base = { ...serveOptions(limits), development: false, error: (e: Error) => errorResponse(e) };
      let server: BunServer;
      if (addr.kind === "unix") {
        await prepareUnixPath(addr.path);
        const arrival = (srv: BunServer): Arrival => ({ listener: "unix", remote: "unix", counts, keepOpen: (req) => srv.timeout(req, 0) });
        // Bun's types take no idleTimeout on a unix listener (its runtime default applies).
        const { idleTimeout: _, ...unixBase } = base;
        server = Bun.serve({ ...unixBase, unix: addr.path, fetch: (req, srv) => app.handle(req, arrival(srv)) });
        chmodSync(addr.path, 0o600);
        unixPaths.push(addr.path);
        bound.push(addr);
      } else {
        server = Bun.serve({
          ...base,
          hostname: addr.host,
          port: addr.port,
          tls: opts.tls as never,
          fetch: (req, srv) => app.handle(req, { listener: "tcp", remote: srv.requestIP(req)?.address ?? "unknown", counts, keepOpen: (r) => srv.timeout(r, 0) }),
        });
        bound.push({ ...addr, port: server.port ?? addr.port });
      }
      servers.push(server);
    }
  } catch (e) {
    for (const s of servers) s.stop(true);
    if (e instanceof ClipError) throw e;
    throw new ClipError("INTERNAL", `cannot serve HTTP on ${opts.addresses.join(" ")}: ${(e as Error).message}`, { cause: e });
  }
  return {
    addresses: bound,
    door,
    inProgress: () => counts.pendingRequests,
    async stop() {
      if (door.closing) return;
      door.closing = true;
      for (const end of [...door.open]) end();
      // The answers just given (503s) must leave before the connections close.
      const graceful = Promise.all(servers.map((s) => s.stop(false)));
      for (const s of servers) s.closeIdleConnections();
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([graceful, new Promise((r) => (timer = setTimeout(r, STOP_GRACE_MS)))]);
      clearTimeout(timer);
      for (const s of servers) s.stop(true);
      for (const p of unixPaths) {
        try {
          unlinkSync(p);
        } catch {}
      }
    },
  };
}
