// The tree on one server: ties the upstream link (to our parent), the
// downstream side (our children) and the sequencer together, and gives the
// rest of the server what it sees of the tree: the bus (chat) routed through
// the root, the status fields, and `clip tree`. docs/TREE.md has the design.

import type { ClipNode } from "../server/node.ts";
import { Downstream, type TreeView } from "./downstream.ts";
import { TreeSequencer } from "./sequencer.ts";
import { type TreeHooks, Upstream, type UpstreamOptions } from "./upstream.ts";
import { type NodeInfo, parseNodeInfo, subtreeIds } from "./wire.ts";

/** What the tree needs to know of the server it runs in. */
export interface TreeOptions extends UpstreamOptions {
  /** Our TCP addresses, as `clip tree` shows them (children may dial them). */
  addresses(): string[];
}

export class Tree implements TreeView, TreeHooks {
  readonly seqr: TreeSequencer;
  readonly down: Downstream;
  readonly up: Upstream;

  constructor(
    readonly node: ClipNode,
    private readonly opts: TreeOptions,
  ) {
    this.seqr = new TreeSequencer(node);
    node.sequencer = this.seqr;
    this.down = new Downstream(node, this);
    node.use(this.down.handlers());
    this.up = new Upstream(node, this.seqr, this.down, this, opts);
    // Bus messages (chat) go up to the root, which sends them down to everyone in one order.
    node.bus = { route: (topic, msg) => this.route(topic, msg), reaches: (id) => subtreeIds(this.describe()).includes(id) };
    node.statusSources.push(() => this.status());
    // A client leaving changes the count our parent shows in `clip tree`: tell it now, not at the next beat.
    node.onSessionClosed((s) => {
      if (s.kind !== "peer" && !s.oneShot) this.up.reportSoon();
    });
  }

  start(): void {
    this.up.start();
  }

  stop(): void {
    this.up.stop();
    this.down.stop();
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

  relaying(): boolean {
    return this.seqr.isChild;
  }

  pathChanged(): void {
    this.down.broadcast({ t: "path", path: this.up.ancestors, parent: this.self() });
  }

  describe(): NodeInfo {
    const node = this.node;
    return {
      id: node.id,
      name: node.name,
      addrs: this.opts.addresses(),
      role: this.up.state === "synced" ? "child" : "root",
      clients: node.clients(),
      rev: node.store.rev,
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

  /** As the server that orders the bus: its gates first (chat names), then to everyone below. */
  private broadcastMsg(topic: string, msg: Record<string, unknown>): void {
    const m = this.node.gateBus(topic, msg);
    if (!m) return;
    this.node.deliver(topic, m);
    this.down.broadcast({ t: "msg", topic, msg: m });
  }

  private status(): Record<string, unknown> {
    const up = this.up;
    return {
      role: up.state === "synced" ? "child" : "root",
      upstream: up.state,
      parent: up.parent ? { name: up.parent.name, id: up.parent.id, addr: up.parentAddr } : null,
      ancestors: up.ancestors,
      children: [...this.down.children].map((c) => ({ name: c.info.name, id: c.info.id, addr: c.session.conn.remote, rev: c.info.rev })),
      // Only a child lags: a root has no parent to be behind (status then has no lag at all).
      ...(up.state === "synced" ? { lag: Math.max(0, up.parentRev - this.node.store.rev) } : {}),
      // Value bytes received from the parent: a write made here comes back held, not as bytes.
      bytesFromParent: up.bytesDown,
    };
  }
}

/** Plugs the tree into a node and starts it (joining the --connect addresses, if any). */
export function attachTree(node: ClipNode, opts: TreeOptions): Tree {
  const t = new Tree(node, opts);
  t.start();
  return t;
}
