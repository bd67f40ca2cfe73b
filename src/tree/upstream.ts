// The child's link to its parent (the link this server solicits): dial the
// --connect addresses in order, prove the token (hello kind "peer"), join,
// take the snapshot and merge it with what we hold, then apply the parent's
// stream. When the link drops we are the root of our subtree at once, and
// we dial again with capped, jittered backoff.
//
// The merge on (re)join, for every entry, newer version wins on both sides:
//   - a snapshot entry newer than ours is applied here (and relayed to our
//     children like any write of ours);
//   - an entry of ours newer than the snapshot's (or missing from it) is sent
//     up as an ordinary forward, keeping its version, so the root orders it
//     and the whole tree takes it.
// The sequence numbers change to the new root's at `synced`; our children
// get a `reseq` event in order with the writes and stay connected.

import { Client, type Head, type Message, type Subscription } from "../client/client.ts";
import { ClipError, asClipError } from "../protocol/errors.ts";
import { FrameType } from "../protocol/frame.ts";
import type { ClipNode } from "../server/node.ts";
import type { Value } from "../server/values.ts";
import { INLINE_MAX } from "../server/values.ts";
import { type Version, compareVersions } from "../server/version.ts";
import { type Downstream, entryOp } from "./downstream.ts";
import type { TreeSequencer } from "./sequencer.ts";
import { type NodeInfo, type OpMeta, metaToOp, parseNodeInfo, parseOpMeta } from "./wire.ts";

export type LinkState =
  | "none" // no --connect: a root by configuration
  | "dialing" // trying the --connect addresses; meanwhile we are the root of our subtree
  | "syncing" // taking the parent's snapshot; our own writes still apply here
  | "synced"; // a child: writes go up, the parent's stream comes down

export interface UpstreamOptions {
  addrs: string[];
  token?: string;
  /** CA (PEM file) to trust for a TLS parent. */
  tlsCa?: string;
}

const BACKOFF_MIN_MS = 200;
const BACKOFF_MAX_MS = 5000;
/** Nothing from the parent for this long (it beats every second) and the link is dropped. */
const STALL_MS = Number(process.env.CLIP_TREE_STALL_MS) || 10_000;
const HAVE_BUDGET = 16 << 10;
const MERGE_LANES = 8;

/** ±50 %: children of a dead parent do not all knock at the same instant. */
const jitter = (ms: number) => Math.round(ms * (0.5 + Math.random()));

export interface TreeHooks {
  describe(): NodeInfo;
  /** Our ancestors changed: tell our children. */
  pathChanged(): void;
}

export class Upstream {
  state: LinkState = "none";
  /** The parent as it described itself, while linked. */
  parent: NodeInfo | null = null;
  parentAddr: string | null = null;
  /** Our ancestors, root first; empty while we are a root. */
  ancestors: string[] = [];
  /** The parent's last sequence number we heard of (lag = this − ours). */
  parentSeq = 0;
  private client: Client | null = null;
  private stopped = false;
  private lastActivity = 0;
  private settledWaiters: (() => void)[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;
  private wakeSleep: (() => void) | null = null;
  private lastReport = "";
  private lastNote = new Map<string, string>();

  constructor(
    private readonly node: ClipNode,
    private readonly seqr: TreeSequencer,
    private readonly down: Downstream,
    private readonly hooks: TreeHooks,
    private readonly opts: UpstreamOptions,
  ) {}

  start(): void {
    if (this.opts.addrs.length === 0) return;
    this.state = "dialing";
    this.timer = setInterval(() => this.tick(), 1000);
    this.loop();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.wakeSleep?.();
    this.client?.close();
  }

  /** Resolves when we are not in the middle of taking a snapshot. */
  settled(): Promise<void> {
    if (this.state !== "syncing") return Promise.resolve();
    return new Promise((r) => this.settledWaiters.push(r));
  }

  /** A call to the parent, when we have one (tree.show, tree.publish). */
  get link(): Client | null {
    return this.state === "synced" ? this.client : null;
  }

  /** Reports our subtree to the parent soon (a child joined or left below us). */
  reportSoon(): void {
    setTimeout(() => this.report(), 50);
  }

  private async loop(): Promise<void> {
    let delay = BACKOFF_MIN_MS;
    while (!this.stopped) {
      let joined = false;
      for (const addr of this.opts.addrs) {
        if (this.stopped) return;
        joined = await this.attempt(addr);
        if (joined) break;
      }
      if (this.stopped) return;
      if (joined) delay = BACKOFF_MIN_MS;
      await this.sleep(jitter(delay));
      if (!joined) delay = Math.min(delay * 2, BACKOFF_MAX_MS);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wakeSleep = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /** Logs a failure to join `addr`, once per distinct reason (retries are every few seconds). */
  private note(addr: string, why: string): void {
    if (this.lastNote.get(addr) === why) return;
    this.lastNote.set(addr, why);
    this.node.log("warn", "cannot join", `${addr}: ${why}; retrying with backoff`);
  }

  /** One link, from dial to drop. True if it got as far as synced. */
  private async attempt(addr: string): Promise<boolean> {
    let client: Client;
    try {
      client = await Client.connect({ server: addr, token: this.opts.token, kind: "peer", name: this.node.name, tls: this.opts.tlsCa ? { ca: this.opts.tlsCa } : undefined, timeoutMs: 5000 });
    } catch (e) {
      this.note(addr, asClipError(e).message);
      return false;
    }
    if (this.stopped) {
      client.close();
      return false;
    }
    if (this.opts.token && client.address.kind === "tcp" && client.welcome.auth !== "token") {
      // A parent that does not ask for the token has not proved it holds it either: it could be anyone.
      client.close();
      this.note(addr, "it did not ask for the cluster token, so it cannot be trusted with our writes (is it started with --token?)");
      return false;
    }
    if (client.welcome.id === this.node.id) {
      client.close();
      this.note(addr, "that address is this server itself");
      return false;
    }
    this.client = client;
    this.parentAddr = addr;
    this.state = "syncing";
    this.lastActivity = Date.now();
    let synced = false;
    const merge = { snap: new Map<string, Version>(), took: 0 };
    // A small write whose value came whole in its frame is applied (and relayed) right in the
    // socket's data callback: no promise, generator or microtask per write. Only while the
    // loop below is idle and the write is the next in order; anything else (other events,
    // values in several frames, a write after one still streaming in) takes the loop, in order.
    let busy = true;
    let tapError: ClipError | null = null;
    const tap = (head: Head): boolean => {
      const ev = head.meta;
      if (busy || tapError || this.state !== "synced" || ev.t !== "op" || ev.seq !== this.node.store.seq + 1) {
        busy = true;
        return false;
      }
      try {
        this.lastActivity = Date.now();
        this.applyOp(ev, head.payload);
      } catch (e) {
        tapError = asClipError(e);
        client.close();
      }
      return true;
    };
    let sub: Subscription | null = null;
    try {
      sub = client.subscription("tree.join", { id: this.node.id, name: this.node.name, tree: { ...this.hooks.describe(), role: "child" }, have: this.have() }, undefined, tap);
      for (;;) {
        busy = false;
        const head = await sub.next();
        busy = true;
        if (head.type === FrameType.RES) break;
        this.lastActivity = Date.now();
        await this.handle(client, addr, { type: head.type, meta: head.meta, body: sub.rest(head) }, merge);
        if ((this.state as LinkState) === "synced") synced = true;
      }
      throw new ClipError("LOST", "the parent ended the join stream");
    } catch (e) {
      const err = tapError ?? asClipError(e);
      if (!this.stopped) {
        if (synced) this.node.log("warn", "split", `lost parent ${this.parent?.name ?? addr} (${addr}): ${err.message}; this server is now the root of its subtree; re-joining`);
        else if (err.code === "CYCLE" || err.code === "AUTH" || err.code === "VERSION") this.note(addr, `refused: ${err.message}`);
        else this.note(addr, err.message);
      }
    } finally {
      sub?.close();
      client.close();
      this.client = null;
      this.becomeRoot();
    }
    if (synced) this.lastNote.clear();
    return synced;
  }

  /** Versions of our large values: the parent skips sending those we already hold. */
  private have(): [string, number, string][] {
    const out: [string, number, string][] = [];
    let budget = HAVE_BUDGET;
    for (const e of this.node.store.all()) {
      if (e.deleted || !e.value || e.value.size <= INLINE_MAX) continue;
      budget -= e.key.length + 40;
      if (budget < 0) break;
      out.push([e.key, e.ver.t, e.ver.n]);
    }
    return out;
  }

  private becomeRoot(): void {
    this.state = this.stopped ? "none" : "dialing";
    this.parent = null;
    this.parentAddr = null;
    this.seqr.goRoot();
    this.wakeSettled();
    if (this.ancestors.length > 0) {
      this.ancestors = [];
      this.hooks.pathChanged();
    }
  }

  private wakeSettled(): void {
    const w = this.settledWaiters;
    this.settledWaiters = [];
    for (const f of w) f();
  }

  private async handle(client: Client, addr: string, m: Message, merge: { snap: Map<string, Version>; took: number }): Promise<void> {
    const ev = m.meta;
    const node = this.node;
    switch (ev.t) {
      case "path": {
        const path = Array.isArray(ev.path) ? ev.path.filter((x): x is string => typeof x === "string") : [];
        const parent = parseNodeInfo(ev.parent);
        const ancestors = [...path, parent.id];
        // The other half of the cycle rule, for joins that raced each other.
        if (ancestors.includes(node.id)) throw new ClipError("CYCLE", `${parent.name} has this server among its ancestors (a cycle)`);
        this.parent = parent;
        this.ancestors = ancestors;
        await drain(m);
        this.hooks.pathChanged();
        return;
      }
      case "entry": {
        if (this.state !== "syncing") throw new ClipError("PROTOCOL", "the parent sent a snapshot entry after the snapshot");
        const w = parseOpMeta(ev);
        merge.snap.set(w.key, w.ver);
        const local = node.store.getAny(w.key);
        if ((local && compareVersions(local.ver, w.ver) >= 0) || ev.skip === true) {
          await drain(m);
          return;
        }
        const value = await this.receive(m, w);
        node.applyLocal(metaToOp(w, value));
        merge.took++;
        return;
      }
      case "synced": {
        if (this.state !== "syncing") throw new ClipError("PROTOCOL", "the parent said synced twice");
        const seq = ev.seq;
        if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0) throw new ClipError("PROTOCOL", `impossible sequence number ${JSON.stringify(seq)} in the snapshot`);
        await drain(m);
        // Ours that the parent lacks or holds older: they go up as ordinary writes.
        const ours: string[] = [];
        for (const e of node.store.all()) {
          const sv = merge.snap.get(e.key);
          if (!sv || compareVersions(e.ver, sv) > 0) ours.push(e.key);
        }
        // From here on our numbering is the root's; our children follow it.
        node.store.setSeq(seq);
        this.down.broadcast({ t: "reseq", seq });
        this.parentSeq = seq;
        this.state = "synced";
        this.seqr.goUp(client);
        this.wakeSettled();
        node.log(
          "info",
          "joined",
          `parent ${this.parent?.name ?? "?"} (${addr}) at seq ${seq}: merge took ${merge.took} entries from the parent and sends ${ours.length} up`,
        );
        this.lastReport = "";
        this.reportSoon();
        this.sendUp(client, ours, merge.snap);
        return;
      }
      case "op": {
        if (this.state !== "synced") throw new ClipError("PROTOCOL", "the parent sent a write before its snapshot ended");
        const seq = ev.seq;
        if (typeof seq !== "number" || seq !== node.store.seq + 1) {
          throw new ClipError("PROTOCOL", `impossible sequence: the parent sent write ${JSON.stringify(seq)} after ${node.store.seq}`);
        }
        const w = parseOpMeta(ev.op);
        const value = await this.receive(m, w);
        node.applyOrdered(metaToOp(w, value), seq);
        if (seq > this.parentSeq) this.parentSeq = seq;
        return;
      }
      case "reseq": {
        const seq = ev.seq;
        if (this.state !== "synced" || typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0) throw new ClipError("PROTOCOL", "bad reseq from the parent");
        await drain(m);
        node.store.setSeq(seq);
        this.parentSeq = seq;
        this.down.broadcast({ t: "reseq", seq });
        return;
      }
      case "msg": {
        await drain(m);
        if (typeof ev.topic !== "string" || !ev.msg || typeof ev.msg !== "object") return;
        node.deliver(ev.topic, ev.msg as Record<string, unknown>);
        this.down.broadcast({ t: "msg", topic: ev.topic, msg: ev.msg as Record<string, unknown> });
        return;
      }
      case "beat": {
        await drain(m);
        const seq = ev.seq;
        if (typeof seq !== "number") return;
        if (this.state === "synced" && seq < node.store.seq) {
          throw new ClipError("PROTOCOL", `impossible sequence: the parent says it is at ${seq}, behind what it sent us (${node.store.seq})`);
        }
        this.parentSeq = seq;
        return;
      }
      default:
        await drain(m); // a newer parent's event we do not know: skip it
    }
  }

  /** A write whose value came whole in one frame, applied at once (the caller checked its number). */
  private applyOp(ev: Record<string, unknown>, payload: Uint8Array): void {
    const seq = ev.seq as number;
    const w = parseOpMeta(ev.op);
    let value: Value | null = null;
    if (w.has) {
      const sink = this.node.store.stage(typeof ev.size === "number" ? ev.size : undefined);
      try {
        sink.write(payload);
        value = sink.commit();
      } catch (e) {
        sink.abort();
        throw e;
      }
    }
    this.node.applyOrdered(metaToOp(w, value), seq);
    if (seq > this.parentSeq) this.parentSeq = seq;
  }

  /** Stages a value as it streams in (to disk when large); nothing is held twice. */
  private async receive(m: Message, w: OpMeta): Promise<Value | null> {
    if (!w.has) {
      await drain(m);
      return null;
    }
    const size = typeof m.meta.size === "number" ? m.meta.size : undefined;
    const sink = this.node.store.stage(size);
    try {
      for await (const chunk of m.body) {
        this.lastActivity = Date.now();
        sink.write(chunk);
      }
      return sink.commit();
    } catch (e) {
      sink.abort();
      throw e;
    }
  }

  /** Our merge winners go up, a few at a time (each waits for its round trip to the root). */
  private async sendUp(client: Client, keys: string[], snap: Map<string, Version>): Promise<void> {
    let next = 0;
    const lane = async () => {
      while (next < keys.length) {
        if (this.client !== client || this.state !== "synced") return;
        const key = keys[next++];
        // As it stands now: a newer write since the merge started went up on its own.
        const e = this.node.store.getAny(key);
        const sv = snap.get(key);
        if (!e || (sv && compareVersions(e.ver, sv) <= 0)) continue;
        try {
          await this.seqr.submit(entryOp(e));
        } catch (err) {
          this.node.log("warn", "merge", `could not send ${key} up: ${asClipError(err).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(MERGE_LANES, keys.length) }, lane));
  }

  private tick(): void {
    if (this.client && (this.state === "syncing" || this.state === "synced") && Date.now() - this.lastActivity > STALL_MS) {
      this.node.log("warn", "parent stalled", `nothing from ${this.parentAddr} for ${Math.round(STALL_MS / 1000)} s; dropping the link`);
      this.client.close();
      return;
    }
    this.report();
  }

  private report(): void {
    const c = this.link;
    if (!c) return;
    const tree = this.hooks.describe();
    const s = JSON.stringify(tree);
    if (s === this.lastReport) return;
    this.lastReport = s;
    c.call("tree.report", { tree }).catch(() => {});
  }
}

async function drain(m: Message): Promise<void> {
  for await (const _ of m.body);
}
