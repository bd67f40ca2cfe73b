// The tree on one server: ties the upstream link (to our parent), the
// downstream side (our children) and the sequencer together, and gives the
// rest of the server what it sees of the tree: the bus (chat) routed through
// the root, the status fields, and `clip tree`. docs/TREE.md has the design.

import { formatAddress } from "../net/address.ts";
import type { RunningServer, ServeOptions } from "../server/serve.ts";
import type { ClipNode } from "../server/node.ts";
import { Downstream, type TreeView } from "./downstream.ts";
import { TreeSequencer } from "./sequencer.ts";
import { type TreeHooks, Upstream } from "./upstream.ts";
import { type NodeInfo, parseNodeInfo } from "./wire.ts";

export class Tree implements TreeView, TreeHooks {
  readonly node: ClipNode;
  readonly seqr: TreeSequencer;
  readonly down: Downstream;
  readonly up: Upstream;

  constructor(
    private readonly server: RunningServer,
    private readonly opts: ServeOptions,
  ) {
    const node = (this.node = server.node);
    this.seqr = new TreeSequencer(node);
    node.sequencer = this.seqr;
    this.down = new Downstream(node, this);
    node.use(this.down.handlers());
    this.up = new Upstream(node, this.seqr, this.down, this, { addrs: opts.connect ?? [], token: opts.token, tlsCa: opts.tls?.ca });
    // Bus messages (chat) go up to the root, which sends them down to everyone in one order.
    node.bus = { route: (topic, msg) => this.route(topic, msg) };
    node.statusSources.push(() => this.status());
    server.onStop(() => {
      this.up.stop();
      this.down.stop();
    });
  }

  start(): void {
    this.up.start();
  }

  ancestors(): string[] {
    return this.up.ancestors;
  }

  self(): NodeInfo {
    return { ...this.describe(), children: [] };
  }

  settled(): Promise<void> {
    return this.up.settled();
  }

  changed(): void {
    this.up.reportSoon();
  }

  pathChanged(): void {
    this.down.broadcast({ t: "path", path: this.up.ancestors, parent: this.self() });
  }

  describe(): NodeInfo {
    const node = this.node;
    return {
      id: node.id,
      name: node.name,
      addrs: this.server.addresses.filter((a) => a.kind === "tcp").map(formatAddress),
      role: this.up.state === "synced" ? "child" : "root",
      clients: [...node.sessions].filter((s) => s.kind !== "peer" && s.state === "ready").length,
      seq: node.store.seq,
      children: [...this.down.children].map((c) => c.info),
    };
  }

  /** The whole tree: asked of the root through our parent, or ours when we are the root (or it is unreachable). */
  async whole(): Promise<Record<string, unknown>> {
    const link = this.up.link;
    if (link) {
      try {
        const r = await Promise.race([link.call("tree.show"), Bun.sleep(5000).then(() => null)]);
        if (r) return { root: parseNodeInfo(r.root), self: this.node.id };
      } catch {}
      return { root: this.describe(), self: this.node.id, partial: true };
    }
    return { root: this.describe(), self: this.node.id };
  }

  private route(topic: string, msg: Record<string, unknown>): void {
    const link = this.up.link;
    if (link) {
      link.call("tree.publish", { topic, msg }).catch(() => this.broadcastMsg(topic, msg));
      return;
    }
    this.broadcastMsg(topic, msg);
  }

  private broadcastMsg(topic: string, msg: Record<string, unknown>): void {
    this.node.deliver(topic, msg);
    this.down.broadcast({ t: "msg", topic, msg });
  }

  private status(): Record<string, unknown> {
    const up = this.up;
    return {
      role: up.state === "synced" ? "child" : "root",
      upstream: up.state,
      parent: up.parent ? { name: up.parent.name, id: up.parent.id, addr: up.parentAddr } : null,
      ancestors: up.ancestors,
      children: [...this.down.children].map((c) => ({ name: c.info.name, id: c.info.id, addr: c.session.conn.remote, seq: c.info.seq })),
      lag: up.state === "synced" ? Math.max(0, up.parentSeq - this.node.store.seq) : 0,
    };
  }
}

/** Plugs the tree into a starting server (startServer calls this). */
export function attachTree(server: RunningServer, opts: ServeOptions): Tree {
  const t = new Tree(server, opts);
  t.start();
  return t;
}
