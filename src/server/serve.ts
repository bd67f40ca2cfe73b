// Starts a server: a node with its handlers, its unix socket, any extra
// listeners, and the tree. The CLI's `clip serve` and the tests both come
// through here.

import { type Address, formatAddress, parseAddress } from "../net/address.ts";
import { type Listener, listen } from "../net/listen.ts";
import { serverTls, type TlsFiles } from "../net/tls.ts";
import { ClipError } from "../protocol/errors.ts";
import { attachTree } from "../tree/tree.ts";
import { appsHandlers } from "./handlers/apps.ts";
import { chatHandlers } from "./handlers/chat.ts";
import { clipboardHandlers } from "./handlers/clipboard.ts";
import { groupHandlers } from "./handlers/groups.ts";
import { handshakeHandlers } from "./handlers/handshake.ts";
import { kvHandlers } from "./handlers/kv.ts";
import { handoffStatus } from "./handoff.ts";
import type { Logger } from "./log.ts";
import { ClipNode } from "./node.ts";

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
  log: Logger;
}

export interface RunningServer {
  node: ClipNode;
  listeners: Listener[];
  /** Addresses actually bound (port 0 resolved). */
  addresses: Address[];
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
      stopTree();
      node.shutdown();
      for (const l of listeners) l.stop(true);
    },
  };
  try {
    const tls = opts.tls ? serverTls(opts.tls) : undefined;
    for (const addr of [{ kind: "unix", path: opts.socket } as Address, ...extra]) {
      const l = await listen(addr, (conn) => node.accept(conn), { tls: addr.kind === "tcp" ? tls : undefined });
      listeners.push(l);
      addresses.push(l.address);
    }
    const tree = attachTree(node, {
      addrs: opts.connect ?? [],
      token: opts.token,
      tlsCa: opts.tls?.ca,
      addresses: () => addresses.filter((a) => a.kind === "tcp").map(formatAddress),
    });
    stopTree = () => tree.stop();
  } catch (e) {
    for (const l of listeners) l.stop();
    node.shutdown();
    throw e;
  }
  node.log("info", "listening", addresses.map(formatAddress).join(" "));
  return server;
}
