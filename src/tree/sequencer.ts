// Where a write made on this server (or passing through it from a child)
// goes. Only the root assigns order: a root applies the write at once
// (node.applyLocal); a child passes it up (tree.forward) while its value is
// still arriving (cut-through: the parent reads our stage as it fills), and
// returns once the root's ordered stream has brought it back and it is
// applied here, so `clip copy` on any server returns with its write visible
// on that server.
//
// No echo: we keep the value we staged, as "pending", keyed by its version;
// the root relays the ordered write back down to us *held* (without bytes),
// and we apply our own copy. A child we passed it on for gets it held too.
//
// "Applied here" is judged by version, not revision: the entry's version is
// at least the write's. That stays true across a re-join that renumbers, and
// a write overtaken by a newer one counts as done. If the parent link drops
// with writes in flight, they are applied here, as the root we then are:
// applying a version twice changes nothing, so a write is never lost between
// the two sides and never doubled.

import type { Mux } from "../client/mux.ts";
import { ClipError, asClipError } from "../protocol/errors.ts";
import type { ClipNode, Sequencer, Write } from "../server/node.ts";
import type { Value } from "../server/values.ts";
import { compareVersions } from "../server/version.ts";
import { bytesSource, type ValueSource } from "../value/source.ts";
import { opToMeta, verKey } from "./wire.ts";

/** A write passed up, waiting for its place in the order to come back down. */
export interface Pending {
  w: Write;
  /** The value, once whole (ours to apply when the write comes back held). */
  value: Promise<Value | null>;
  /** The value once whole, for whoever must use it at once (the data callback of the join stream). */
  settled?: Value | null;
  /** The value arrived with the write (ours to release); false: a stored value we send up (a merge), the state's. */
  owned: boolean;
  /** The root answered: it is ordered; only its return down is awaited. */
  ordered: boolean;
  /** It came back down and was applied here, at this revision (the answer may still be on its way). */
  appliedAt?: number;
}

export class TreeSequencer implements Sequencer {
  /** The synced link to the parent, or null while we are a root. */
  private up: Mux | null = null;
  private readonly pending = new Map<string, Pending>();
  private readonly waiters = new Map<string, Set<{ w: Write; done: () => void }>>();
  /** Resolved (and renewed) when the link changes: a write that failed with the old one waits for it. */
  private linkChanged!: Promise<void>;
  private changeLink!: () => void;

  constructor(private readonly node: ClipNode) {
    this.renewLink();
    node.onApplied((op, _rev, applied) => {
      if (this.waiters.size === 0) return;
      this.wake(op.key);
      for (const c of applied.changes) if (c.entry.key !== op.key) this.wake(c.entry.key);
    });
  }

  private renewLink(): void {
    this.linkChanged = new Promise((r) => (this.changeLink = r));
  }

  private linkMoved(): void {
    const wake = this.changeLink;
    this.renewLink();
    wake();
  }

  /** Becomes a child: writes go up through `up`. */
  goUp(up: Mux): void {
    this.up = up;
    this.linkMoved();
  }

  /**
   * Becomes a root. Writes the root had ordered but whose return we missed
   * are applied here now; those still on their way up fail over to
   * submit() as the link's requests fail.
   */
  goRoot(): void {
    this.up = null;
    this.linkMoved();
    for (const [k, p] of [...this.pending]) {
      if (!p.ordered) continue;
      this.pending.delete(k);
      p.value.then(
        (value) => {
          if (this.applied(p.w)) return p.owned ? this.node.store.values.release(value) : undefined;
          this.node.order({ ...p.w, op: { ...p.w.op, value }, ifRev: undefined });
        },
        () => {},
      );
    }
  }

  get isChild(): boolean {
    return this.up !== null;
  }

  submit(w: Write): Promise<number> {
    const up = this.up;
    // The root's rule: this is the only place where a server numbers its own writes.
    if (!up) return this.node.applyLocal(w);
    return this.forward(up, w);
  }

  /**
   * The write with version `ver` came back down from the parent: take what
   * we staged for it (null if we have nothing pending: it was not ours).
   */
  takePending(ver: Write["op"]["ver"], rev?: number): Pending | null {
    if (this.pending.size === 0) return null; // most writes were made elsewhere: no key to build
    const k = verKey(ver);
    const p = this.pending.get(k);
    if (!p) return null;
    this.pending.delete(k);
    p.appliedAt = rev;
    return p;
  }

  /** The pending write with version `ver`, left in place. */
  peekPending(ver: Write["op"]["ver"]): Pending | null {
    return this.pending.size === 0 ? null : (this.pending.get(verKey(ver)) ?? null);
  }

  private async forward(up: Mux, w: Write): Promise<number> {
    const { op } = w;
    const key = verKey(op.ver);
    const value = w.upload ? w.upload.whole() : Promise.resolve(op.value);
    const p: Pending = { w, value, owned: !!w.upload, ordered: false };
    value.then((v) => (p.settled = v), () => {});
    this.pending.set(key, p);
    let source: ValueSource | null = null;
    let rev: number;
    try {
      // Opened now: the stage is read as it fills (a stored value: a newer write may unlink its file meanwhile).
      source = w.upload ? w.upload.reader() : op.value ? this.node.source(op.value) : bytesSource(NONE);
      const meta: Record<string, unknown> = { w: opToMeta({ ...op, value: op.value ?? (w.upload ? EMPTY : null) }) };
      if (w.ifRev !== undefined) meta.ifRev = w.ifRev;
      const res = await up.upload("tree.forward", meta, source);
      rev = Number(res.rev);
      p.ordered = true;
    } catch (e) {
      source?.close();
      const err = asClipError(e);
      if (this.pending.get(key) === p) this.pending.delete(key);
      // It came back down and was applied here; only the answer was lost with the link.
      if (p.appliedAt !== undefined) return p.appliedAt;
      const linkLost = (up.closed || err.code === "LOST" || err.code === "SHUTDOWN") && w.upload?.stage.state !== "aborted";
      if (!linkLost) {
        // Refused where it was ordered (a condition, a limit): nothing of it is applied anywhere.
        if (p.owned) value.then((v) => this.node.store.values.release(v), () => {});
        throw err;
      }
      // An unconditional write overtaken by a newer version is done (the newer one wins everywhere);
      // a conditional one is decided again by whoever orders now.
      if (w.ifRev === undefined && this.applied(w)) return this.node.store.getAny(op.key)!.rev;
      // The link went: whoever we are next (root, or child of another parent) takes the write. Until
      // the upstream has noticed, submitting again would only fail again at once, in a loop.
      if (this.up === up) await this.linkChanged;
      return this.submit(w);
    }
    if (!this.applied(w)) {
      // Lost the link between the answer and the write's return: goRoot() applies it.
      await new Promise<void>((done) => {
        let set = this.waiters.get(op.key);
        if (!set) this.waiters.set(op.key, (set = new Set()));
        set.add({ w, done });
      });
    }
    return rev;
  }

  private applied(w: Write): boolean {
    const e = this.node.store.getAny(w.op.key);
    return !!e && compareVersions(e.ver, w.op.ver) >= 0;
  }

  private wake(key: string): void {
    const set = this.waiters.get(key);
    if (!set) return;
    for (const x of [...set]) {
      if (!this.applied(x.w)) continue;
      set.delete(x);
      x.done();
    }
    if (set.size === 0) this.waiters.delete(key);
  }
}

/** Marks an op as carrying a value while its bytes are still arriving. */
const NONE = new Uint8Array(0);
const EMPTY: Value = { size: 0, bytes: NONE };

export function isLinkError(e: unknown): boolean {
  return e instanceof ClipError && (e.code === "LOST" || e.code === "SHUTDOWN" || e.code === "NOSERVER");
}
