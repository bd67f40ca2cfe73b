// Starts a server: a node with its handlers, its unix socket, any extra
// listeners, the tree, and the HTTP door with its metrics when --http
// addresses are given. The CLI's `clip serve` and the tests both come
// through here.

import { ClipMetrics, type Transport } from "../http/metric-set.ts";
import { type HttpServer, startHttp } from "../http/serve.ts";
import { type Address, formatAddress, parseAddress } from "../net/address.ts";
import { type Listener, listen } from "../net/listen.ts";
import { serverTls, type TlsFiles } from "../net/tls.ts";
import { ClipError } from "../protocol/errors.ts";
import { ownListener } from "../tree/self.ts";
import { attachTree } from "../tree/tree.ts";
import { appsHandlers } from "./handlers/apps.ts";
import { chatHandlers } from "./handlers/chat.ts";
import { clipboardHandlers } from "./handlers/clipboard.ts";
import { groupHandlers } from "./handlers/groups.ts";
import { handshakeHandlers } from "./handlers/handshake.ts";
import { kvHandlers } from "./handlers/kv.ts";
import { handoffStatus } from "./handoff.ts";
import type { Logger } from "./log.ts";
import type { Session } from "./session.ts";
import { ClipNode, VERSION } from "./node.ts";

export interface ServeOptions {
  /** The unix socket every server listens on. */
  socket: string;
  /** More listeners: unix: or tcp: addresses. */
  listen?: string[];
  /** Parents to join, in order of preference (the tree). */
  connect?: string[];
  token?: string;
  insecure?: boolean;
  dataDir: string | null;
  maxSize: number;
  /** Earlier values kept per region and key (default 16). */
  history?: number;
  name?: string;
  tls?: TlsFiles;
  /** HTTP listeners (--http): tcp: or unix: addresses. */
  http?: string[];
  /** A token good for GET /metrics alone (--metrics-token-file). */
  metricsToken?: string;
  log: Logger;
}

export interface RunningServer {
  node: ClipNode;
  listeners: Listener[];
  /** Addresses actually bound (port 0 resolved). */
  addresses: Address[];
  /** The HTTP door, when --http addresses were given. */
  http?: HttpServer;
  /** Stops accepting, tells sessions, closes state, removes the socket. */
  stop(): Promise<void>;
}

export const DEFAULT_HISTORY = 16;

export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const extra = (opts.listen ?? []).map(parseAddress);
  const hasTcp = extra.some((a) => a.kind === "tcp") || (opts.connect?.length ?? 0) > 0;
  if (hasTcp && !opts.token && !opts.insecure) {
    throw new ClipError("USAGE", "a TCP listener or --connect needs a cluster token: pass --token-file F or set CLIP_TOKEN (or --insecure to go without, on a trusted network only)");
  }
  const node = new ClipNode({ name: opts.name, dataDir: opts.dataDir, maxSize: opts.maxSize, history: opts.history ?? DEFAULT_HISTORY, token: opts.token, insecure: opts.insecure, log: opts.log });
  for (const handlers of [handshakeHandlers, clipboardHandlers, chatHandlers, groupHandlers, kvHandlers, appsHandlers]) node.use(handlers(node));
  const metrics = opts.http?.length ? countOn(node) : undefined;
  node.statusSources.push(handoffStatus);
  const listeners: Listener[] = [];
  const addresses: Address[] = [];
  let stopped = false;
  let stopTree = () => {};
  const server: RunningServer = {
    node,
    listeners,
    addresses,
    async stop() {
      if (stopped) return;
      stopped = true;
      // Stop accepting but keep live connections: each session is told
      // SHUTDOWN by node.shutdown() before its socket closes.
      for (const l of listeners) l.stop(false);
      await server.http?.stop();
      stopTree();
      node.shutdown();
      for (const l of listeners) l.stop(true);
    },
  };
  try {
    const tls = opts.tls ? serverTls(opts.tls) : undefined;
    for (const addr of [{ kind: "unix", path: opts.socket } as Address, ...extra]) {
      const meter = metrics?.transport(addr.kind);
      const l = await listen(addr, (conn) => node.accept(conn), { tls: addr.kind === "tcp" ? tls : undefined, meter });
      listeners.push(l);
      addresses.push(l.address);
    }
    // A server told to join itself would dial itself forever: refuse what is provably its own listener.
    for (const c of opts.connect ?? []) {
      const own = await ownListener(c, addresses);
      if (own) throw new ClipError("USAGE", `--connect ${c} is this server's own listener (${formatAddress(own)}): a server cannot be its own parent; give another server's address`);
    }
    const tree = attachTree(node, {
      addrs: opts.connect ?? [],
      token: opts.token,
      tlsCa: opts.tls?.ca,
      addresses: () => addresses.filter((a) => a.kind === "tcp").map(formatAddress),
    });
    stopTree = () => tree.stop();
    if (metrics) {
      server.http = await startHttp(node, {
        addresses: opts.http!,
        token: opts.token,
        insecure: opts.insecure,
        metricsToken: opts.metricsToken,
        tls,
        metrics,
        tree: () => tree.whole(),
      });
      metrics.bind(levels(node, server.http));
    }
  } catch (e) {
    for (const l of listeners) l.stop();
    await server.http?.stop();
    stopTree();
    node.shutdown();
    throw e;
  }
  node.log("info", "listening", addresses.map(formatAddress).join(" "));
  if (server.http) node.log("info", "http listening", server.http.addresses.map((a) => httpUrl(a, !!opts.tls)).join(" "));
  return server;
}

/** Where a person points a browser or curl: http://host:port, or the unix socket. */
function httpUrl(a: Address, tls: boolean): string {
  if (a.kind === "unix") return `unix:${a.path}`;
  return `${tls ? "https" : "http"}://${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}`;
}

/**
 * The server's metrics, counted where things happen on the socket side:
 * bytes by the listeners (meter), request durations by the sessions,
 * writes as they are applied. HTTP counts its own (http/app.ts).
 */
function countOn(node: ClipNode): ClipMetrics {
  const metrics = new ClipMetrics({ name: node.name, version: VERSION, startedAt: node.startedAt });
  for (const t of ["unix", "tcp"] as const) node.timers.set(t, metrics.transport(t).duration);
  node.onApplied(() => metrics.writesApplied.inc());
  return metrics;
}

/** The levels a scrape reads from the live server. */
function levels(node: ClipNode, http: HttpServer) {
  const per = (pick: (s: Session) => number) => (t: Transport): number => {
    if (t === "http") return 0;
    let n = 0;
    for (const s of node.sessions) if (s.transport === t && s.kind !== "peer" && s.state === "ready") n += pick(s);
    return n;
  };
  const clients = per(() => 1);
  const watchers = per((s) => s.subscriptions);
  return {
    clients: (t: Transport) => (t === "http" ? http.inProgress() : clients(t)),
    watchers: (t: Transport) => (t === "http" ? http.door.watching : watchers(t)),
    children: () => (node.status().children as unknown[]).length,
    lag: () => Number(node.status().lag ?? 0),
    revision: () => node.store.rev,
  };
}
