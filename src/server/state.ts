// The replicated state of one server, pure: no disk, no sockets, no clock.
// Regions, groups and keys are all entries ("r/3", "g/NAME", "k/GROUP/KEY"),
// so the tree orders, replicates, snapshots and merges one kind of thing.
//
// apply() is the only way state changes: the newer version wins (a hybrid
// clock reading plus the writer's id, so every server breaks ties the same
// way), which makes applying the root's ordered stream and merging two split
// trees the same operation. Each applied write has the revision the root gave
// it; a write that loses still takes its revision (every server counts the
// same), it just changes nothing.
//
// History: each entry keeps up to `historyMax` earlier rows, shown newest first
// (values, and deletes and expiries as rows without one). A row pushed out is
// "dropped": dropped.get(key) is the newest revision gone from that key's
// history, which is how a watch resuming from a revision knows whether it
// can be given everything after it.

import type { Value } from "./values.ts";
import { type Version, compareVersions } from "./version.ts";

export interface Entry {
  key: string;
  ver: Version;
  /** The revision (the root's order) this entry was applied at. */
  rev: number;
  /** A tombstone (deleted or expired): kept so that a merge can tell "deleted later" from "never seen". */
  deleted: boolean;
  /** Small facts about the write: at, by, type, preview, expires; a group's secret hash. */
  meta: Record<string, unknown>;
  value: Value | null;
}

/** A write as it travels the tree. */
export interface WriteOp {
  key: string;
  ver: Version;
  del?: boolean;
  /** Also delete every live entry under this key prefix older than `ver` (a group's keys). */
  clear?: string;
  /** Applies only if the entry is still at exactly this version (an expiry must not remove a newer write). */
  ifVer?: Version;
  meta: Record<string, unknown>;
  value: Value | null;
}

export interface Change {
  entry: Entry;
  /** What it replaced (now the newest history row, when history is kept). */
  prev: Entry | undefined;
}

/** What one apply() did, for the layers that keep it on disk and tell watchers. */
export interface Applied {
  /** New current entries (a write that lost changes nothing: empty). */
  changes: Change[];
  /** Entries whose revision changed without a new write (an equal version ordered again after a merge). */
  restamped: Entry[];
  /** History rows added (the replaced entries) and dropped (pushed out past historyMax, or never kept). */
  historyAdded: Entry[];
  historyDropped: Entry[];
  /** Values nothing in the state refers to any more: the op's own when it lost, and dropped rows'. */
  released: Value[];
}

export class State {
  private readonly entries = new Map<string, Entry>();
  private readonly history = new Map<string, Entry[]>();
  private readonly dropped = new Map<string, number>();
  /** The revision of the last write applied (or adopted from a parent). */
  rev = 0;

  constructor(
    /** Earlier rows kept per entry (0: only the current one). */
    readonly historyMax: number,
  ) {}

  /** The live entry (not a tombstone). */
  get(key: string): Entry | undefined {
    const e = this.entries.get(key);
    return e && !e.deleted ? e : undefined;
  }

  /** Including tombstones: what a merge needs. */
  getAny(key: string): Entry | undefined {
    return this.entries.get(key);
  }

  /** Live entries under `prefix`, in key order. */
  list(prefix = ""): Entry[] {
    const out: Entry[] = [];
    for (const e of this.entries.values()) if (!e.deleted && e.key.startsWith(prefix)) out.push(e);
    return out.sort(byKey);
  }

  /** Every entry, tombstones too, in no particular order: a snapshot's keys. */
  all(): Entry[] {
    return [...this.entries.values()];
  }

  count(prefix: string): number {
    let n = 0;
    for (const e of this.entries.values()) if (!e.deleted && e.key.startsWith(prefix)) n++;
    return n;
  }

  /** Earlier rows of `key`, newest first (the current entry not included). */
  historyOf(key: string): readonly Entry[] {
    const rows = this.history.get(key);
    return rows ? rows.slice().reverse() : NONE;
  }

  /** The newest revision pushed out of `key`'s history (0: none). */
  droppedRev(key: string): number {
    return this.dropped.get(key) ?? 0;
  }

  /**
   * Applies one write at revision `rev` (which must be the next: the caller
   * orders). Returns what changed, for the disk and the watchers.
   */
  apply(op: WriteOp, rev: number): Applied {
    // Most writes change one entry and fill only some lists: the others stay the shared empty one.
    const out: Applied = { changes: [], restamped: NO, historyAdded: NO, historyDropped: NO, released: NO };
    this.rev = rev;
    const prev = this.entries.get(op.key);
    const order = prev ? compareVersions(op.ver, prev.ver) : 1;
    const allowed = op.ifVer === undefined || (prev !== undefined && compareVersions(prev.ver, op.ifVer) === 0);
    if (order > 0 && allowed) {
      this.put({ key: op.key, ver: op.ver, rev, deleted: !!op.del, meta: op.meta, value: op.del ? null : op.value }, prev, out);
    } else {
      // The very write we hold, ordered again (a merge sent it up): it takes the new numbering.
      if (order === 0 && prev && prev.rev !== rev && allowed) {
        prev.rev = rev;
        out.restamped = add(out.restamped, prev);
      }
      if (op.value && op.value !== prev?.value) out.released = add(out.released, op.value);
    }
    if (op.clear !== undefined) {
      for (const e of [...this.entries.values()]) {
        if (!e.deleted && e.key !== op.key && e.key.startsWith(op.clear) && compareVersions(e.ver, op.ver) < 0) {
          this.put({ key: e.key, ver: op.ver, rev, deleted: true, meta: { at: op.meta.at, by: op.meta.by }, value: null }, e, out);
        }
      }
    }
    return out;
  }

  private put(entry: Entry, prev: Entry | undefined, out: Applied): void {
    this.entries.set(entry.key, entry);
    out.changes.push({ entry, prev });
    if (!prev) return;
    if (this.historyMax === 0) {
      // Kept nowhere: dropped as it is replaced.
      this.drop(prev, out);
      return;
    }
    // Kept oldest first: a write appends, and the oldest leaves from the front.
    let rows = this.history.get(entry.key);
    if (!rows) this.history.set(entry.key, (rows = []));
    rows.push(prev);
    out.historyAdded = add(out.historyAdded, prev);
    while (rows.length > this.historyMax) this.drop(rows.shift()!, out);
  }

  private drop(gone: Entry, out: Applied): void {
    out.historyDropped = add(out.historyDropped, gone);
    if (gone.value) out.released = add(out.released, gone.value);
    this.noteDropped(gone);
  }

  private noteDropped(e: Entry): void {
    if (e.rev > (this.dropped.get(e.key) ?? 0)) this.dropped.set(e.key, e.rev);
  }

  // --- loading and adopting (disk at start, a parent's snapshot) ---

  /** Puts an entry as it was stored or sent, with no history change (loading, adopting). */
  load(e: Entry): void {
    this.entries.set(e.key, e);
  }

  /** Sets a key's history rows (newest first) and dropped marker as stored or sent; returns the rows replaced. */
  loadHistory(key: string, rows: Entry[], dropped: number): readonly Entry[] {
    const old = this.historyOf(key);
    if (rows.length > 0) this.history.set(key, rows.slice(0, Math.max(0, this.historyMax)).reverse());
    else this.history.delete(key);
    if (dropped > 0) this.dropped.set(key, dropped);
    else this.dropped.delete(key);
    return old;
  }
}

const NONE: readonly Entry[] = Object.freeze([]);

/** The empty list an Applied starts with, shared: add() replaces it at the first item. */
const NO: never[] = Object.freeze([]) as unknown as never[];

function add<T>(list: T[], x: T): T[] {
  if (list === NO) return [x];
  list.push(x);
  return list;
}

function byKey(a: Entry, b: Entry): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}
