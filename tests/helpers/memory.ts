// In-process fixtures: a real ClipNode with every handler module, reached by
// library clients over in-memory connections (src/net/memory.ts), with no
// socket and no binary; and servers joined into a tree the same way, each
// child's link to its parent an in-memory pair its parent accepts.

import { Client } from "../../src/client/client.ts";
import { type ConnectOptions, Mux } from "../../src/client/mux.ts";
import type { Address } from "../../src/net/address.ts";
import type { Conn } from "../../src/net/conn.ts";
import { memoryPair } from "../../src/net/memory.ts";
import { appsHandlers } from "../../src/server/handlers/apps.ts";
import { chatHandlers } from "../../src/server/handlers/chat.ts";
import { clipboardHandlers } from "../../src/server/handlers/clipboard.ts";
import { groupHandlers } from "../../src/server/handlers/groups.ts";
import { handshakeHandlers } from "../../src/server/handlers/handshake.ts";
import { kvHandlers } from "../../src/server/handlers/kv.ts";
import { type Logger, silentLogger } from "../../src/server/log.ts";
import { ClipNode } from "../../src/server/node.ts";
import { type Tree, attachTree } from "../../src/tree/tree.ts";

export interface MemoryServerOptions {
  name?: string;
  /** A data folder; default null (--memory). */
  dataDir?: string | null;
  maxSize?: number;
  history?: number;
  /** The cluster token: clients over a "tcp" pair must prove it. */
  token?: string;
  insecure?: boolean;
  log?: Logger;
  /** Parents to join (other memory servers), in order of preference: the server gets a tree. */
  parents?: MemoryServer[];
  /** With no parents, still attach a tree (a root that children can join). Default: true when parents are given. */
  tree?: boolean;
}

export interface ClientOptions {
  /** What the connection says it is: "unix" (admin, no proof: the default) or "tcp" (token proof when the server has one). */
  transport?: "unix" | "tcp" | "memory";
  token?: string;
  kind?: ConnectOptions["kind"];
  name?: string;
}

export interface MemoryServer {
  node: ClipNode;
  tree: Tree | null;
  /** A library client over a fresh in-memory connection the node accepted. */
  client(opts?: ClientOptions): Promise<Client>;
  /** A multiplexer over a fresh in-memory connection (what a child server's link is). */
  mux(opts?: ClientOptions): Promise<Mux>;
  /** The same, with the client's end of the connection. */
  open(opts?: ClientOptions): Promise<{ mux: Mux; conn: Conn }>;
  /** Cuts every link to the parent this server made (as a dropped TCP connection would). */
  cutParentLinks(): void;
  /** Stops (and resumes) reading what the parent sends, as a stalled socket would: it queues on the parent's side. */
  pauseParentLinks(): void;
  resumeParentLinks(): void;
  /** While false, dials to this server fail (a parent that is down). */
  reachable: boolean;
  stop(): void;
}

const live = new Set<MemoryServer>();

/** Starts a server in-process; stop it (or call stopAll()) when done. */
export function memoryServer(opts: MemoryServerOptions = {}): MemoryServer {
  const node = new ClipNode({
    name: opts.name ?? "mem",
    dataDir: opts.dataDir ?? null,
    maxSize: opts.maxSize ?? 1 << 30,
    history: opts.history ?? 16,
    token: opts.token,
    insecure: opts.insecure,
    log: opts.log ?? silentLogger,
  });
  for (const handlers of [handshakeHandlers, clipboardHandlers, chatHandlers, groupHandlers, kvHandlers, appsHandlers]) node.use(handlers(node));
  const parents = opts.parents ?? [];
  const upLinks = new Set<{ mux: Mux; conn: Conn }>();
  let tree: Tree | null = null;
  const open = async (c: ClientOptions = {}): Promise<{ mux: Mux; conn: Conn }> => {
    const transport = c.transport ?? "unix";
    const [near, far] = memoryPair({ transport });
    far.handler = node.accept(far);
    const address: Address = transport === "tcp" ? { kind: "tcp", host: node.name, port: 1 } : { kind: "unix", path: `/memory/${node.name}` };
    return { mux: await Mux.over(near, address, { token: c.token, kind: c.kind, name: c.name, timeoutMs: 5000 }), conn: near };
  };
  const mux = async (c: ClientOptions = {}): Promise<Mux> => (await open(c)).mux;
  const server: MemoryServer = {
    node,
    get tree() {
      return tree;
    },
    mux,
    open,
    async client(c = {}) {
      return Client.over(await mux(c));
    },
    cutParentLinks() {
      for (const l of upLinks) l.mux.close();
    },
    pauseParentLinks() {
      for (const l of upLinks) l.conn.pause();
    },
    resumeParentLinks() {
      for (const l of upLinks) l.conn.resume();
    },
    reachable: true,
    stop() {
      live.delete(server);
      tree?.stop();
      node.shutdown();
    },
  };
  if (parents.length > 0 || opts.tree) {
    tree = attachTree(node, {
      addrs: parents.map((p) => p.node.name),
      token: opts.token,
      addresses: () => [],
      async dial(o) {
        const p = parents.find((x) => x.node.name === o.server);
        if (!p || !p.reachable) throw new Error(`${String(o.server)} is not reachable`);
        const link = await p.open({ transport: "tcp", token: o.token, kind: o.kind, name: o.name });
        upLinks.add(link);
        return link.mux;
      },
    });
  }
  live.add(server);
  return server;
}

/** Stops every memory server still running (an afterEach). */
export function stopAll(): void {
  for (const s of [...live]) s.stop();
}

/** Polls `cond` until true; fails after `ms`. */
export async function until(cond: () => boolean | Promise<boolean>, ms = 5000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(2);
  }
}
