// Starts a server: a node, its unix socket, any extra listeners. The CLI's
// `clip serve` and the tests both come through here.

import { type Address, formatAddress, parseAddress } from "../net/address.ts";
import { type Listener, listen } from "../net/listen.ts";
import { serverTls, type TlsFiles } from "../net/tls.ts";
import { ClipError } from "../protocol/errors.ts";
import { adminHandlers, clipboardHandlers } from "./handlers/clipboard.ts";
import { chatHandlers } from "./handlers/chat.ts";
import { appsHandlers } from "./handlers/apps.ts";
import { groupHandlers } from "./handlers/groups.ts";
import { kvHandlers } from "./handlers/kv.ts";
import { handshakeHandlers } from "./handlers/handshake.ts";
import type { Logger } from "./log.ts";
import { ClipNode } from "./node.ts";
import { attachTree } from "../tree/tree.ts";

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
  /** Called on stop, before the store closes (the tree adds its own). */
  onStop(fn: () => void | Promise<void>): void;
}

export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const extra = (opts.listen ?? []).map(parseAddress);
  const hasTcp = extra.some((a) => a.kind === "tcp") || (opts.connect?.length ?? 0) > 0;
  if (hasTcp && !opts.token && !opts.insecure) {
    throw new ClipError("USAGE", "a TCP listener or --connect needs a cluster token: pass --token-file F or set CLIP_TOKEN (or --insecure to go without, on a trusted network only)");
  }
  const node = new ClipNode({ name: opts.name, dataDir: opts.dataDir, maxSize: opts.maxSize, token: opts.token, insecure: opts.insecure, log: opts.log });
  node.use(handshakeHandlers).use(clipboardHandlers).use(adminHandlers).use(chatHandlers);
  node.use(groupHandlers(node)).use(kvHandlers).use(appsHandlers(node));
  const listeners: Listener[] = [];
  const stopHooks: (() => void | Promise<void>)[] = [];
  let stopped = false;
  const server: RunningServer = {
    node,
    listeners,
    addresses: [],
    async stop() {
      if (stopped) return;
      stopped = true;
      // Stop accepting but keep live connections: each session is told
      // SHUTDOWN by node.shutdown() before its socket closes.
      for (const l of listeners) l.stop(false);
      for (const fn of stopHooks) await fn();
      node.shutdown();
      for (const l of listeners) l.stop(true);
    },
    onStop(fn) {
      stopHooks.push(fn);
    },
  };
  try {
    const tls = opts.tls ? serverTls(opts.tls) : undefined;
    const all: Address[] = [{ kind: "unix", path: opts.socket }, ...extra];
    for (const addr of all) {
      const l = await listen(addr, (conn) => node.accept(conn), { tls: addr.kind === "tcp" ? tls : undefined });
      listeners.push(l);
      server.addresses.push(l.address);
    }
    attachTree(server, opts);
  } catch (e) {
    for (const l of listeners) l.stop();
    node.shutdown();
    throw e;
  }
  node.log("info", "listening", server.addresses.map(formatAddress).join(" "));
  return server;
}
