// The child's link to its parent (the link this server solicits): dial the
// --connect addresses in order, prove the token (hello kind "peer"), join,
// take the snapshot and merge it with what we hold (merge.ts), then apply
// the parent's stream and relay it, as it arrives, to our own children.
// When the link drops we are the root of our subtree at once, and we dial
// again with capped, jittered backoff.
//
// Our winners of the merge go up as ordinary writes, keeping their
// versions, so the root orders them and the whole tree takes them; the
// numbering changes to the root's at `synced`, and our children get a
// `reseq` in order with the writes and stay connected.

import { type ConnectOptions, type Head, Mux, type Subscription } from "../client/mux.ts";
import { ClipError, asClipError } from "../protocol/errors.ts";
import { FrameType } from "../protocol/frame.ts";
import type { ClipNode } from "../server/node.ts";
import type { Entry } from "../server/state.ts";
import { INLINE_MAX, type Stage, type Value, markedSealed } from "../server/values.ts";
import { type Version, compareVersions } from "../server/version.ts";
import { type Downstream, entryOp } from "./downstream.ts";
import { type Merged, keepOwn, mergeKey } from "./merge.ts";
import type { TreeSequencer } from "./sequencer.ts";
import { type NodeInfo, type OpMeta, type RowMeta, metaToOp, parseNodeInfo, parseOpMeta, parseRowMeta, rowToMeta } from "./wire.ts";

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
  /** Opens the link (tests pass an in-memory one); default: Mux.open. */
  dial?: (opts: ConnectOptions) => Promise<Mux>;
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

/** A key of the snapshot being gathered: its entry, then its history rows. */
interface Incoming {
  entry: Entry;
  rows: Entry[];
  dropped: number;
  /** Values of ours that the parent skipped sending (we hold them). */
  ours: Set<Value>;
}

/** What the merge of one link's snapshot has gathered so far. */
interface Snapshot {
  keys: Set<string>;
  took: number;
  up: string[];
  current: Incoming | null;
}

export class Upstream {
  state: LinkState = "none";
  /** The parent as it described itself, while linked. */
  parent: NodeInfo | null = null;
  parentAddr: string | null = null;
  /** Our ancestors, root first; empty while we are a root. */
  ancestors: string[] = [];
  /** The parent's last revision we heard of (lag = this − ours). */
  parentRev = 0;
  /** Bytes of values received from the parent, and sent up (status, tests: no echo). */
  bytesDown = 0;
  bytesUp = 0;
  private mux: Mux | null = null;
  private stopped = false;
  private lastActivity = 0;
  private settledWaiters: (() => void)[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;
  private wakeSleep: (() => void) | null = null;
  private lastReport = "";
  private lastNote = new Map<string, string>();
  /** --connect addresses that answered with our own id: never dialed again. */
  private readonly itself = new Set<string>();

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
    this.mux?.close();
  }

  /** Resolves when we are not in the middle of taking a snapshot. */
  settled(): Promise<void> {
    if (this.state !== "syncing") return Promise.resolve();
    return new Promise((r) => this.settledWaiters.push(r));
  }

  /** The link to the parent, when we have one (tree.show, tree.publish). */
  get link(): Mux | null {
    return this.state === "synced" ? this.mux : null;
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
        if (this.itself.has(addr)) continue;
        joined = await this.attempt(addr);
        if (joined) break;
      }
      if (this.stopped) return;
      if (this.opts.addrs.every((a) => this.itself.has(a))) {
        // Nothing left to dial but ourselves: a root by configuration after all.
        this.node.log("warn", "not joining", `every --connect address is this server itself; it stays the root`);
        this.state = "none";
        if (this.timer) clearInterval(this.timer);
        return;
      }
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
    let mux: Mux;
    try {
      const opts: ConnectOptions = { server: addr, token: this.opts.token, kind: "peer", name: this.node.name, tls: this.opts.tlsCa ? { ca: this.opts.tlsCa } : undefined, timeoutMs: 5000 };
      mux = await (this.opts.dial ?? Mux.open)(opts);
    } catch (e) {
      this.note(addr, asClipError(e).message);
      return false;
    }
    if (this.stopped) {
      mux.close();
      return false;
    }
    if (this.opts.token && mux.address.kind === "tcp" && mux.welcome.auth !== "token") {
      // A parent that does not ask for the token has not proved it holds it either: it could be anyone.
      mux.close();
      this.note(addr, "it did not ask for the cluster token, so it cannot be trusted with our writes (is it started with --token?)");
      return false;
    }
    if (mux.welcome.id === this.node.id) {
      // Our own id in the handshake: proof that this address leads back here. Said once, never dialed again.
      mux.close();
      this.itself.add(addr);
      this.node.log("warn", "cannot join", `${addr}: that address is this server itself (its own id answered); not dialing it again`);
      return false;
    }
    this.mux = mux;
    this.parentAddr = addr;
    this.state = "syncing";
    this.lastActivity = Date.now();
    let synced = false;
    const snap: Snapshot = { keys: new Set(), took: 0, up: [], current: null };
    // A small write whose value came whole in its frame is applied (and relayed) right in the
    // socket's data callback: no promise, generator or microtask per write. Only while the
    // loop below is idle and the write is the next in order; anything else (other events,
    // values in several frames, a write after one still streaming in) takes the loop, in order.
    let busy = true;
    let tapError: ClipError | null = null;
    const tap = (head: Head): boolean => {
      const ev = head.meta;
      if (busy || tapError || this.state !== "synced" || ev.t !== "op" || ev.rev !== this.node.store.rev + 1) {
        busy = true;
        return false;
      }
      try {
        this.lastActivity = Date.now();
        return this.opNow(ev, head.payload, head.raw);
      } catch (e) {
        tapError = asClipError(e);
        mux.close();
        return true;
      }
    };
    let sub: Subscription | null = null;
    try {
      sub = mux.subscription("tree.join", { id: this.node.id, name: this.node.name, tree: { ...this.hooks.describe(), role: "child" }, have: this.have() }, undefined, tap);
      for (;;) {
        busy = false;
        const head = await sub.next();
        busy = true;
        if (head.type === FrameType.RES) break;
        this.lastActivity = Date.now();
        await this.handle(mux, addr, sub, head, snap);
        if ((this.state as LinkState) === "synced") synced = true;
      }
      throw new ClipError("LOST", "the parent ended the join stream");
    } catch (e) {
      const err = tapError ?? asClipError(e);
      if (!this.stopped) {
        if (synced) this.node.log("warn", "parent lost", `${this.parent?.name ?? addr} (${addr}): ${err.message}; this server is now the root of its subtree; re-joining`);
        else if (err.code === "CYCLE" || err.code === "AUTH" || err.code === "VERSION") this.note(addr, `refused: ${err.message}`);
        else this.note(addr, err.message);
      }
    } finally {
      sub?.close();
      mux.close();
      this.mux = null;
      this.becomeRoot();
    }
    if (synced) this.lastNote.clear();
    return synced;
  }

  /** Versions of our large values (entries and history): the parent skips sending those we already hold. */
  private have(): [string, number, string][] {
    const out: [string, number, string][] = [];
    let budget = HAVE_BUDGET;
    const add = (e: Entry) => {
      if (e.deleted || !e.value || e.value.size <= INLINE_MAX) return true;
      budget -= e.key.length + 40;
      if (budget < 0) return false;
      out.push([e.key, e.ver.t, e.ver.n]);
      return true;
    };
    for (const e of this.node.store.all()) {
      if (!add(e)) break;
      for (const r of this.node.store.historyOf(e.key)) add(r);
    }
    return out;
  }

  private becomeRoot(): void {
    // Our numbering goes on apart from the tree we were in: a new lineage, which our children take too.
    if (this.state === "synced" && !this.stopped) {
      this.node.newLineage();
      this.down.broadcast({ t: "reseq", rev: this.node.store.rev, lineage: this.node.lineage });
    }
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

  private async handle(mux: Mux, addr: string, sub: Subscription, head: Head, snap: Snapshot): Promise<void> {
    const ev = head.meta;
    const node = this.node;
    const body = () => (head.fin ? oneChunk(head.payload) : sub.rest(head));
    // A key's history rows follow its entry; anything else closes the key being gathered.
    if (ev.t !== "row" && snap.current) this.adopt(snap);
    switch (ev.t) {
      case "path": {
        const path = Array.isArray(ev.path) ? ev.path.filter((x): x is string => typeof x === "string") : [];
        const parent = parseNodeInfo(ev.parent);
        const ancestors = [...path, parent.id];
        // The other half of the cycle rule, for joins that raced each other.
        if (ancestors.includes(node.id)) throw new ClipError("CYCLE", `${parent.name} has this server among its ancestors (a cycle)`);
        this.parent = parent;
        this.ancestors = ancestors;
        await drain(body());
        this.hooks.pathChanged();
        return;
      }
      case "entry": {
        const m = parseRowMeta(ev);
        const dropped = typeof ev.dropped === "number" && Number.isSafeInteger(ev.dropped) && ev.dropped >= 0 ? ev.dropped : 0;
        const ours = new Set<Value>();
        const value = await this.rowValue(m, head, body, ours);
        snap.current = { entry: rowEntry(m, value), rows: [], dropped, ours };
        snap.keys.add(m.key);
        return;
      }
      case "row": {
        const cur = snap.current;
        const m = parseRowMeta(ev);
        if (!cur || cur.entry.key !== m.key) throw new ClipError("PROTOCOL", "the parent sent a history row without its entry");
        if (cur.rows.length >= 4096) throw new ClipError("PROTOCOL", "the parent sent more history rows than any server keeps");
        cur.rows.push(rowEntry(m, await this.rowValue(m, head, body, cur.ours)));
        return;
      }
      case "synced": {
        if (this.state !== "syncing") throw new ClipError("PROTOCOL", "the parent said synced twice");
        const rev = ev.rev;
        if (typeof rev !== "number" || !Number.isSafeInteger(rev) || rev < 0) throw new ClipError("PROTOCOL", `impossible revision ${JSON.stringify(rev)} in the snapshot`);
        await drain(body());
        // Ours that the parent lacks: we keep them (they go up), their history goes (another numbering).
        for (const e of node.store.all()) {
          if (snap.keys.has(e.key)) continue;
          const m = keepOwn({ entry: e, rows: node.store.historyOf(e.key), dropped: node.store.droppedRev(e.key) }, rev);
          this.settle(m, new Set(m.entry.value ? [m.entry.value] : []));
          snap.up.push(e.key);
        }
        // From here on our numbering is the root's; our children follow it.
        node.store.setRev(rev);
        node.adoptLineage(typeof ev.lineage === "string" ? ev.lineage.slice(0, 128) : `${this.parent?.id ?? "?"}.unknown`);
        this.down.broadcast({ t: "reseq", rev, lineage: node.lineage });
        this.parentRev = rev;
        this.state = "synced";
        this.seqr.goUp(mux);
        this.wakeSettled();
        node.log("info", "joined parent", `${this.parent?.name ?? "?"} (${addr}) at revision ${rev}: merge took ${snap.took} entries from the parent and sends ${snap.up.length} up`);
        this.lastReport = "";
        this.reportSoon();
        this.sendUp(mux, snap.up);
        return;
      }
      case "op": {
        if (this.state !== "synced") throw new ClipError("PROTOCOL", "the parent sent a write before its snapshot ended");
        const rev = ev.rev;
        if (typeof rev !== "number" || rev !== node.store.rev + 1) throw new ClipError("PROTOCOL", `impossible sequence: the parent sent write ${JSON.stringify(rev)} after ${node.store.rev}`);
        const m = parseOpMeta(ev.op);
        if (ev.held === true) return this.applyHeld(m, rev, await this.pendingValue(m.ver, rev));
        if (!m.has) {
          await drain(body());
          return this.applyHeld(m, rev, undefined);
        }
        // Relayed to our children as it arrives (cut-through), applied here once whole.
        const stage = node.stage(typeof ev.size === "number" ? ev.size : undefined, { sealed: markedSealed(m.meta), ordered: true });
        const mine = this.seqr.takePending(m.ver);
        if (mine?.owned) mine.value.then((v) => node.release(v), () => {});
        this.down.relayOp(rev, metaToOp(m, null), stage, true, null, false);
        const value = await this.receive(stage, body());
        node.applyOrdered(metaToOp(m, value), rev);
        if (rev > this.parentRev) this.parentRev = rev;
        return;
      }
      case "reseq": {
        const rev = ev.rev;
        if (this.state !== "synced" || typeof rev !== "number" || !Number.isSafeInteger(rev) || rev < 0) throw new ClipError("PROTOCOL", "bad reseq from the parent");
        await drain(body());
        node.store.setRev(rev);
        if (typeof ev.lineage === "string") node.adoptLineage(ev.lineage.slice(0, 128));
        this.parentRev = rev;
        this.down.broadcast({ t: "reseq", rev, lineage: node.lineage });
        return;
      }
      case "msg": {
        await drain(body());
        if (typeof ev.topic !== "string" || !ev.msg || typeof ev.msg !== "object") return;
        node.deliver(ev.topic, ev.msg as Record<string, unknown>);
        this.down.broadcast({ t: "msg", topic: ev.topic, msg: ev.msg as Record<string, unknown> });
        return;
      }
      case "beat": {
        await drain(body());
        const rev = ev.rev;
        if (typeof rev !== "number") return;
        if (this.state === "synced" && rev < node.store.rev) {
          throw new ClipError("PROTOCOL", `impossible sequence: the parent says it is at ${rev}, behind what it sent us (${node.store.rev})`);
        }
        this.parentRev = rev;
        return;
      }
      default:
        await drain(body()); // a newer parent's event we do not know: skip it
    }
  }

  /**
   * A write that came whole in its frame, handled in the data callback (the
   * caller checked its revision). False leaves it to the loop: a held write
   * whose value we are still receiving ourselves.
   */
  private opNow(ev: Record<string, unknown>, payload: Uint8Array, raw: Uint8Array | undefined): boolean {
    const rev = ev.rev as number;
    const m = parseOpMeta(ev.op);
    if (ev.held === true) {
      const p = this.seqr.peekPending(m.ver);
      if (p && p.settled === undefined) return false;
      this.seqr.takePending(m.ver, rev);
      this.applyHeld(m, rev, p ? { value: p.settled!, via: p.w.via ?? null } : null);
      return true;
    }
    let value: Value | null = null;
    if (m.has) {
      // The value is whole in this frame: its size is known even when the parent did not say it (small events do not).
      const stage = this.node.stage(typeof ev.size === "number" ? ev.size : payload.length, { sealed: markedSealed(m.meta), ordered: true });
      try {
        stage.write(payload);
        value = stage.commit();
      } catch (e) {
        stage.abort();
        throw e;
      }
      this.bytesDown += payload.length;
    }
    const mine = this.seqr.takePending(m.ver);
    if (mine?.owned) mine.value.then((v) => this.node.release(v), () => {});
    this.down.relayOp(rev, metaToOp(m, null), value, m.has, null, false, raw);
    this.node.applyOrdered(metaToOp(m, value), rev);
    if (rev > this.parentRev) this.parentRev = rev;
    return true;
  }

  /** A held write's value: what we staged for it when we passed it up (null: nothing staged here). */
  private async pendingValue(ver: Version, rev: number): Promise<{ value: Value | null; via: object | null } | null> {
    const p = this.seqr.peekPending(ver);
    if (!p) return null;
    const value = await p.value;
    this.seqr.takePending(ver, rev);
    return { value, via: p.w.via ?? null };
  }

  /**
   * Applies a write whose bytes did not come with it: held (`held` is what
   * we staged for it and the child it came up through, or null when it is a
   * version we hold already: a merge's write ordered again), or a write
   * without a value (`held` undefined).
   */
  private applyHeld(m: OpMeta, rev: number, held: { value: Value | null; via: object | null } | null | undefined): void {
    const node = this.node;
    let value: Value | null = null;
    let via: object | null = null;
    let heldByAll = false;
    if (held === undefined) {
      const mine = this.seqr.takePending(m.ver);
      if (mine?.owned) mine.value.then((v) => node.release(v), () => {});
    } else if (held === null) {
      const e = node.store.getAny(m.key);
      if (!e || compareVersions(e.ver, m.ver) < 0) throw new ClipError("PROTOCOL", `the parent sent write ${rev} (${m.key}) without its value, but this server does not hold it`);
      heldByAll = true;
    } else {
      value = held.value;
      via = held.via;
    }
    this.down.relayOp(rev, metaToOp(m, null), value, held !== undefined, via, heldByAll);
    node.applyOrdered(metaToOp(m, value), rev, via);
    if (rev > this.parentRev) this.parentRev = rev;
  }

  /** The value of a snapshot row: received (staged), or ours when skipped. */
  private async rowValue(m: RowMeta, head: Head, body: () => AsyncIterable<Uint8Array>, ours: Set<Value>): Promise<Value | null> {
    if (m.del) {
      await drain(body());
      return null;
    }
    if (m.skip) {
      await drain(body());
      const v = this.localValue(m.key, m.ver);
      if (!v) throw new ClipError("PROTOCOL", `the parent skipped ${m.key} as held here, but this server does not hold that version`);
      ours.add(v);
      return v;
    }
    if (!m.has) {
      await drain(body());
      return null;
    }
    return this.receive(this.node.stage(typeof head.meta.size === "number" ? head.meta.size : undefined, { sealed: markedSealed(m.meta), ordered: true }), body());
  }

  /** Our value of `key` at exactly version `ver` (current or in history). */
  private localValue(key: string, ver: Version): Value | null {
    const e = this.node.store.getAny(key);
    if (e && compareVersions(e.ver, ver) === 0) return e.value;
    for (const r of this.node.store.historyOf(key)) if (compareVersions(r.ver, ver) === 0) return r.value;
    return null;
  }

  /** Merges the gathered key with ours, holds the result, and relays it to our children. */
  private adopt(snap: Snapshot): void {
    const cur = snap.current!;
    snap.current = null;
    const node = this.node;
    const key = cur.entry.key;
    const mine = node.store.getAny(key);
    const ourValues = new Set<Value>(cur.ours);
    if (mine?.value) ourValues.add(mine.value);
    for (const r of node.store.historyOf(key)) if (r.value) ourValues.add(r.value);
    const m = mergeKey({ entry: mine, rows: node.store.historyOf(key), dropped: node.store.droppedRev(key) }, cur, node.store.historyMax);
    if (m.sendUp && this.state === "syncing") snap.up.push(key);
    if (!mine || compareVersions(mine.ver, cur.entry.ver) < 0) snap.took++;
    this.settle(m, ourValues);
    node.clock.observe(m.entry.ver);
  }

  /** Holds a merged key and sends it to our children: values they hold (ours) go held. */
  private settle(m: Merged, ours: Set<Value>): void {
    const node = this.node;
    const prev = node.store.getAny(m.entry.key);
    node.store.adopt(m.entry, m.rows, m.dropped, m.released);
    node.expiry.track(m.entry);
    if (prev !== m.entry && (!prev || compareVersions(prev.ver, m.entry.ver) !== 0)) node.watchers.notify({ entry: m.entry, prev });
    for (const c of this.down.children) {
      const send = (e: Entry) => !!e.value && !ours.has(e.value);
      c.send({ t: "entry", ...rowToMeta(m.entry, send(m.entry)), dropped: m.dropped }, send(m.entry) ? m.entry.value : null);
      for (const r of m.rows) c.send({ t: "row", ...rowToMeta(r, send(r)) }, send(r) ? r.value : null);
    }
  }

  /** Receives a value into a stage (relays may be reading it as it fills); the value once whole. */
  private async receive(stage: Stage, body: AsyncIterable<Uint8Array>): Promise<Value> {
    try {
      for await (const chunk of body) {
        this.lastActivity = Date.now();
        this.bytesDown += chunk.length;
        stage.write(chunk);
      }
      return stage.commit();
    } catch (e) {
      stage.abort(asClipError(e));
      throw e;
    }
  }

  /** Our merge winners go up, a few at a time (each waits for its round trip to the root). */
  private async sendUp(mux: Mux, keys: string[]): Promise<void> {
    let next = 0;
    const lane = async () => {
      while (next < keys.length) {
        if (this.mux !== mux || this.state !== "synced") return;
        const key = keys[next++];
        const e = this.node.store.getAny(key);
        if (!e) continue;
        try {
          await this.seqr.submit({ op: entryOp(e) });
        } catch (err) {
          this.node.log("warn", "merge failed", `${key} was not sent up: ${asClipError(err).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(MERGE_LANES, keys.length) }, lane));
  }

  private tick(): void {
    if (this.mux && (this.state === "syncing" || this.state === "synced") && Date.now() - this.lastActivity > STALL_MS) {
      this.node.log("warn", "parent stalled", `nothing from ${this.parentAddr} for ${Math.round(STALL_MS / 1000)} s; dropping the link`);
      this.mux.close();
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

function rowEntry(m: RowMeta, value: Value | null): Entry {
  return { key: m.key, ver: m.ver, rev: m.rev, deleted: m.del === true, meta: m.meta, value: m.del ? null : value };
}

async function* oneChunk(payload: Uint8Array): AsyncGenerator<Uint8Array> {
  if (payload.length > 0) yield payload;
}

async function drain(body: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const _ of body);
}
