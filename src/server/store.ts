// The store: the pure state (state.ts), kept on disk (persist.ts) when there
// is a data folder, and the values it refers to (values.ts). Everything that
// changes state comes through apply(), which changes memory at once (so the
// tree relays a write and watchers wake before the disk is touched) and
// queues the disk's commit; durable() says when that is done.

import { Persist } from "./persist.ts";
import { type Applied, type Entry, State, type WriteOp } from "./state.ts";
import { type Stage, type StageOptions, type Value, ValueStore } from "./values.ts";
import type { ValueSource } from "../value/source.ts";

export type { Applied, Change, Entry, WriteOp } from "./state.ts";

export interface StoreOptions {
  /** Folder for state.db and blobs/; null keeps nothing (--memory). */
  dir: string | null;
  maxSize: number;
  /** Earlier values kept per region and key (--history). */
  history: number;
}

export class Store {
  readonly values: ValueStore;
  private readonly state: State;
  private readonly disk: Persist | null = null;
  /** Persistent facts about this server (its id). */
  readonly facts = new Map<string, string>();

  constructor(opts: StoreOptions) {
    this.state = new State(opts.history);
    if (opts.dir === null) {
      this.values = new ValueStore(null, opts.maxSize);
      return;
    }
    const { persist, loaded } = Persist.open(opts.dir, (v) => this.values.release(v));
    this.disk = persist;
    this.values = new ValueStore(persist.blobDir, opts.maxSize);
    for (const [k, v] of loaded.facts) this.facts.set(k, v);
    for (const e of loaded.entries) {
      this.state.load(e);
      this.values.hold(e.value);
    }
    for (const [key, rows] of loaded.history) {
      // History kept by a server started with a larger --history: the rows past it go now.
      const kept = rows.slice(0, opts.history);
      this.state.loadHistory(key, kept, loaded.dropped.get(key) ?? 0);
      for (const e of kept) this.values.hold(e.value);
      const gone = rows.slice(opts.history);
      if (gone.length > 0) {
        for (const e of gone) this.values.hold(e.value);
        const mark = Math.max(loaded.dropped.get(key) ?? 0, ...gone.map((e) => e.rev));
        this.state.loadHistory(key, kept, mark);
        this.disk.recordHistory(key, kept, mark, gone.flatMap((e) => (e.value ? [e.value] : [])));
      }
    }
    for (const [key, mark] of loaded.dropped) if (!loaded.history.has(key)) this.state.loadHistory(key, [], mark);
    this.state.rev = Number(this.facts.get("rev") ?? 0);
  }

  get persistent(): boolean {
    return this.disk !== null;
  }

  get maxSize(): number {
    return this.values.maxSize;
  }

  get historyMax(): number {
    return this.state.historyMax;
  }

  /** The revision of the last write applied. */
  get rev(): number {
    return this.state.rev;
  }

  get(key: string): Entry | undefined {
    return this.state.get(key);
  }

  getAny(key: string): Entry | undefined {
    return this.state.getAny(key);
  }

  list(prefix = ""): Entry[] {
    return this.state.list(prefix);
  }

  all(): Entry[] {
    return this.state.all();
  }

  count(prefix: string): number {
    return this.state.count(prefix);
  }

  historyOf(key: string): readonly Entry[] {
    return this.state.historyOf(key);
  }

  droppedRev(key: string): number {
    return this.state.droppedRev(key);
  }

  /** A stage for an incoming value (see ValueStore.stage). */
  stage(expected?: number, opts?: StageOptions): Stage {
    return this.values.stage(expected, opts);
  }

  source(v: Value): ValueSource {
    return this.values.source(v);
  }

  /** Applies a write at revision `rev`; takes over the reference the op's value holds. */
  apply(op: WriteOp, rev: number): Applied {
    const a = this.state.apply(op, rev);
    if (this.disk) {
      this.disk.record(a);
      this.disk.recordFact("rev", String(rev));
    } else for (const v of a.released) this.values.release(v);
    return a;
  }

  /**
   * Sets a key as a parent's snapshot and our merge decided (tree/merge.ts):
   * its entry, its history, its dropped mark. `released` are values of ours
   * nothing refers to any more; the new values come with their references.
   */
  adopt(entry: Entry, rows: Entry[], dropped: number, released: Value[]): void {
    this.state.load(entry);
    this.state.loadHistory(entry.key, rows, dropped);
    if (this.disk) {
      this.disk.recordEntry(entry);
      this.disk.recordHistory(entry.key, rows, dropped, released);
    } else for (const v of released) this.values.release(v);
  }

  /** Adopts a revision with no write (a child taking its parent's numbering). */
  setRev(rev: number): void {
    this.state.rev = rev;
    this.disk?.recordFact("rev", String(rev));
  }

  setFact(k: string, v: string): void {
    this.facts.set(k, v);
    this.disk?.recordFact(k, v);
  }

  /**
   * Resolves once every write applied so far is committed (null at once when
   * nothing waits, or with no disk). A write is acknowledged to its writer
   * only after this, so an acknowledged write survives kill -9.
   */
  durable(): Promise<void> | null {
    return this.disk?.durable() ?? null;
  }

  close(): void {
    this.disk?.close();
  }
}
