// The replicated state of one server, as a map of entries. Regions, groups
// and keys are all entries (keys "r/3", "g/NAME", "k/GROUP/KEY"), so the tree
// replicates, snapshots and merges one kind of thing. apply() is the only
// way state changes: last writer wins by version, which makes applying the
// root's ordered stream and merging two split trees the same operation.
//
// Persistence: every entry lives in memory; with a data folder the writes of
// one event-loop turn are committed together in one SQLite transaction (WAL,
// synchronous=NORMAL: in the OS once committed, so they survive kill -9 of the
// server; a power cut may lose the last writes) and large values are files in
// blobs/. apply() changes memory at once, so the tree relays a write to the
// children and wakes watchers before the disk is touched; the commit follows
// in the next task, once this one's socket writes are out (group commit), and whoever
// acknowledges a write to its writer waits for it first (durable()).

import { Database } from "bun:sqlite";
import { chmodSync, existsSync, mkdirSync, readdirSync, unlink, unlinkSync } from "node:fs";
import { basename } from "node:path";
import { ClipError } from "../protocol/errors.ts";
import { type Value, type ValueSink, stageValue } from "./values.ts";
import { type Version, compareVersions } from "./version.ts";

export interface Entry {
  key: string;
  ver: Version;
  /** A tombstone: kept so that a merge can tell "deleted later" from "never seen". */
  deleted: boolean;
  /** Small facts about the write (who, when, preview; a group's secret hash). */
  meta: Record<string, unknown>;
  value: Value | null;
  /** The sequence number this entry was applied at. */
  seq: number;
}

/** A write as it travels the tree. */
export interface WriteOp {
  key: string;
  ver: Version;
  del?: boolean;
  /** Also delete every live entry under this key prefix that is older than `ver`. */
  clear?: string;
  meta: Record<string, unknown>;
  value: Value | null;
}

export interface Change {
  entry: Entry;
  prev: Entry | undefined;
}

export interface StoreOptions {
  /** Folder for state.db and blobs/; null keeps nothing (--memory). */
  dir: string | null;
  maxSize: number;
}

export class Store {
  private entries = new Map<string, Entry>();
  private db: Database | null = null;
  private upsert: ReturnType<Database["prepare"]> | null = null;
  private setState: ReturnType<Database["prepare"]> | null = null;
  readonly blobDir: string | null;
  /** The sequence number of the last write applied. */
  seq = 0;
  /** Persistent facts about this server (its id). */
  readonly state = new Map<string, string>();
  /** Entries applied in memory and not yet committed (the newest per key). */
  private pending = new Map<string, Entry>();
  /** Value files replaced by pending entries: unlinked once the commit no longer references them. */
  private pendingDrops: Value[] = [];
  private seqDirty = false;
  private commitScheduled = false;
  /** Resolved (or rejected) by the next commit. */
  private commitWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private checkpointer: Checkpointer | null = null;

  constructor(private readonly opts: StoreOptions) {
    this.blobDir = opts.dir === null ? null : `${opts.dir}/blobs`;
    if (opts.dir !== null) this.openDisk(opts.dir);
  }

  private openDisk(dir: string): void {
    try {
      mkdirSync(this.blobDir!, { recursive: true, mode: 0o700 });
    } catch (e) {
      // Raw ENOTDIR/EACCES text names neither the flag nor the way out.
      throw new ClipError("USAGE", `cannot use ${dir} as the data folder: ${(e as Error).message.replace(/^[A-Z]+: /, "")} (give --data a folder that clip may create and write)`, { cause: e });
    }
    const path = `${dir}/state.db`;
    try {
      this.db = new Database(path, { create: true, strict: true });
      // Checkpoints (the only fsyncs, several ms) run on a worker thread, off the path of a write.
      this.db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;");
      // Values and secret hashes are nobody else's business: the folder is 0700 and the files 0600.
      for (const f of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
      chmodSync(dir, 0o700);
      this.db.exec(`CREATE TABLE IF NOT EXISTS entries (
        key TEXT PRIMARY KEY, t INTEGER NOT NULL, n TEXT NOT NULL, deleted INTEGER NOT NULL,
        meta TEXT NOT NULL, size INTEGER, bytes BLOB, file TEXT, seq INTEGER NOT NULL)`);
      this.db.exec("CREATE TABLE IF NOT EXISTS state (k TEXT PRIMARY KEY, v TEXT NOT NULL)");
      const check = this.db.query("PRAGMA quick_check").get() as { quick_check: string } | null;
      if (check && check.quick_check !== "ok") throw new Error(check.quick_check);
      for (const row of this.db.query("SELECT k, v FROM state").all() as { k: string; v: string }[]) this.state.set(row.k, row.v);
      this.seq = Number(this.state.get("seq") ?? 0);
      const referenced = new Set<string>();
      for (const r of this.db.query("SELECT * FROM entries").all() as Row[]) {
        const e = fromRow(r, this.blobDir!);
        if (e.value?.file) {
          if (!existsSync(e.value.file)) throw new Error(`value file ${e.value.file} of ${e.key} is missing`);
          referenced.add(basename(e.value.file));
        }
        this.entries.set(e.key, e);
      }
      // Staged uploads that never committed, and values replaced just before a crash.
      for (const f of readdirSync(this.blobDir!)) if (!referenced.has(f)) unlinkSync(`${this.blobDir}/${f}`);
    } catch (e) {
      this.db?.close();
      throw new ClipError(
        "INTERNAL",
        `cannot read the data in ${path}: ${(e as Error).message} (move the folder aside to start empty, or start with another --data)`,
        { cause: e },
      );
    }
    this.upsert = this.db.prepare(
      "INSERT OR REPLACE INTO entries (key, t, n, deleted, meta, size, bytes, file, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    this.setState = this.db.prepare("INSERT OR REPLACE INTO state (k, v) VALUES (?, ?)");
    this.checkpointer = new Checkpointer(this.db, path);
  }

  get persistent(): boolean {
    return this.db !== null;
  }

  get maxSize(): number {
    return this.opts.maxSize;
  }

  setFact(k: string, v: string): void {
    this.state.set(k, v);
    this.setState?.run(k, v);
  }

  /** A sink for an incoming value; the caller commits it and passes it to apply(). */
  stage(expected?: number): ValueSink {
    return stageValue(this.blobDir, this.opts.maxSize, expected);
  }

  get(key: string): Entry | undefined {
    const e = this.entries.get(key);
    return e && !e.deleted ? e : undefined;
  }

  /** Including tombstones: what a merge needs. */
  getAny(key: string): Entry | undefined {
    return this.entries.get(key);
  }

  /** Live entries whose key starts with `prefix`, in key order. */
  list(prefix = ""): Entry[] {
    const out: Entry[] = [];
    for (const e of this.entries.values()) if (!e.deleted && e.key.startsWith(prefix)) out.push(e);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Every entry, tombstones too: the snapshot a joining child receives. */
  all(): Entry[] {
    return [...this.entries.values()];
  }

  count(prefix: string): number {
    let n = 0;
    for (const e of this.entries.values()) if (!e.deleted && e.key.startsWith(prefix)) n++;
    return n;
  }

  /**
   * Applies one write at sequence `seq`. The newer version wins: an op older
   * than what is held changes nothing (but still takes its place in the
   * sequence, so every server's seq stays the same). Returns what changed.
   */
  apply(op: WriteOp, seq: number): Change[] {
    const changes: Change[] = [];
    const prev = this.entries.get(op.key);
    if (!prev || compareVersions(op.ver, prev.ver) > 0) {
      const entry: Entry = { key: op.key, ver: op.ver, deleted: !!op.del, meta: op.meta, value: op.del ? null : op.value, seq };
      changes.push({ entry, prev });
    }
    if (op.clear !== undefined) {
      for (const e of this.entries.values()) {
        if (!e.deleted && e.key !== op.key && e.key.startsWith(op.clear) && compareVersions(e.ver, op.ver) < 0) {
          changes.push({ entry: { key: e.key, ver: op.ver, deleted: true, meta: {}, value: null, seq }, prev: e });
        }
      }
    }
    this.commit(changes, seq);
    // A value staged for an op that lost (older than what is held) is not referenced.
    if (changes.length === 0 || changes[0].entry.key !== op.key) dropFile(op.value);
    return changes;
  }

  private commit(changes: Change[], seq: number): void {
    this.seq = seq;
    for (const { entry, prev } of changes) {
      this.entries.set(entry.key, entry);
      if (!prev?.value?.file || prev.value.file === entry.value?.file) continue;
      // Readers opened before this point hold an fd; unlinking is safe for them. On disk the
      // row still names the old file until the commit: unlink it only after that.
      if (this.db) this.pendingDrops.push(prev.value);
      else dropFile(prev.value);
    }
    if (!this.db) return;
    for (const { entry } of changes) this.pending.set(entry.key, entry);
    this.seqDirty = true;
    this.scheduleCommit();
  }

  /**
   * One transaction for everything applied until then, in a later turn of
   * the loop. Bun sends what a callback wrote to its sockets only once that
   * callback, its microtasks and the immediates it queued are over (measured:
   * a commit in a microtask or a single setImmediate held the relay back), so
   * the commit is an immediate queued by an immediate: after the relay to the
   * children and the events to watchers have left, ~2 µs later when idle
   * (setTimeout 0 would be 1 ms).
   */
  private scheduleCommit(): void {
    if (this.commitScheduled) return;
    this.commitScheduled = true;
    setImmediate(this.afterSends);
  }

  private readonly afterSends = () => setImmediate(this.commitTask);

  private readonly commitTask = () => {
    this.commitScheduled = false;
    this.flush();
  };

  /**
   * Resolves once every write applied so far is committed (at once, with no
   * promise, when nothing waits: null). A write is acknowledged to its
   * writer only after this, so an acknowledged write survives kill -9.
   */
  durable(): Promise<void> | null {
    if (!this.db || (!this.seqDirty && this.pending.size === 0)) return null;
    return new Promise((resolve, reject) => this.commitWaiters.push({ resolve, reject }));
  }

  /** Commits what is pending now (the next turn's commit, or close()). */
  flush(): void {
    if (!this.db || (!this.seqDirty && this.pending.size === 0)) return;
    const rows = [...this.pending.values()];
    const waiters = this.commitWaiters;
    this.commitWaiters = [];
    try {
      this.db.transaction(() => {
        for (const e of rows) {
          const v = e.value;
          this.upsert!.run(e.key, e.ver.t, e.ver.n, e.deleted ? 1 : 0, JSON.stringify(e.meta), v?.size ?? null, v?.bytes ?? null, v?.file ? basename(v.file) : null, e.seq);
        }
        this.setState!.run("seq", String(this.seq));
      })();
    } catch (e) {
      // Kept pending: the next commit tries again. Nobody is told these writes are safe.
      const err = new ClipError("INTERNAL", `cannot write to ${this.opts.dir}/state.db: ${(e as Error).message}`, { cause: e });
      for (const w of waiters) w.reject(err);
      return;
    }
    this.pending.clear();
    this.seqDirty = false;
    this.checkpointer?.committed();
    const drops = this.pendingDrops;
    this.pendingDrops = [];
    for (const w of waiters) w.resolve();
    // Off the main thread: unlinking a replaced 1 GiB file on tmpfs takes ~50 ms, which
    // held up the acknowledgement of the copy that replaced it (and every socket).
    for (const v of drops) if (v.file) unlink(v.file, ignore);
  }

  /** Adopts a sequence number without a write (a child taking its parent's numbering). */
  setSeq(seq: number): void {
    this.seq = seq;
    if (!this.db) return;
    this.seqDirty = true;
    this.scheduleCommit();
  }

  close(): void {
    try {
      this.flush();
    } catch {}
    this.checkpointer?.stop();
    this.db?.close();
    this.db = null;
  }
}

/** Commits between checkpoints (a small write is ~2 WAL pages: about SQLite's default of 1000 pages). */
const CHECKPOINT_EVERY = 400;
/** Past this many commits with no checkpoint done (the worker stuck or gone), one runs here: the WAL stays bounded. */
const CHECKPOINT_HERE = 8 * CHECKPOINT_EVERY;

// The worker: its own connection to the same file; a PASSIVE checkpoint never blocks our writes.
const CHECKPOINT_WORKER = `import { Database } from "bun:sqlite";
let db = null;
self.onmessage = (e) => {
  try {
    db ??= new Database(e.data, { readwrite: true });
    db.exec("PRAGMA busy_timeout=1000");
    // all(), not get(): a statement left on its row keeps a read open, and the WAL could never start over.
    postMessage({ ok: true, r: db.query("PRAGMA wal_checkpoint(PASSIVE)").all() });
  } catch (err) {
    postMessage({ ok: false, why: String(err && err.message || err) });
  }
};`;

/**
 * Copies the WAL back into the database file every CHECKPOINT_EVERY commits,
 * on a worker thread started at the first need (most short-lived servers
 * never start one). A checkpoint fsyncs the WAL and the database: done by
 * SQLite's autocheckpoint inside a commit, it put several ms on a write's
 * path every few hundred writes, at every server of a chain (their p99).
 */
class Checkpointer {
  private worker: Worker | null = null;
  private since = 0;
  private running = false;
  private failed = false;

  constructor(
    private readonly db: Database,
    private readonly path: string,
  ) {}

  committed(): void {
    this.since++;
    if (this.since >= CHECKPOINT_HERE || this.failed) {
      if (this.since < CHECKPOINT_EVERY) return;
      this.since = 0;
      try {
        this.db.query("PRAGMA wal_checkpoint(PASSIVE)").all();
      } catch {}
      return;
    }
    if (this.running || this.since < CHECKPOINT_EVERY) return;
    this.running = true;
    try {
      this.worker ??= this.start();
      this.worker.postMessage(this.path);
    } catch {
      this.running = false;
      this.failed = true;
    }
  }

  private start(): Worker {
    const w = new Worker(URL.createObjectURL(new Blob([CHECKPOINT_WORKER], { type: "application/javascript" })));
    w.onmessage = (e: MessageEvent) => {
      this.running = false;
      if (!e.data?.ok) {
        this.failed = true; // checkpoints go on here, every CHECKPOINT_EVERY commits
        return;
      }
      this.since = 0;
      // The WAL starts over only once a checkpoint has taken every frame in it; writes
      // went on during the worker's, so we take the few written since, here (the bulk
      // of the copying and of the data to sync is done): then the next commit restarts it.
      try {
        this.db.query("PRAGMA wal_checkpoint(PASSIVE)").all();
      } catch {}
    };
    w.onerror = () => {
      this.running = false;
      this.failed = true;
    };
    w.unref();
    return w;
  }

  stop(): void {
    this.worker?.terminate();
    this.worker = null;
  }
}

const ignore = () => {};

function dropFile(v: Value | null): void {
  if (v?.file) {
    try {
      unlinkSync(v.file);
    } catch {}
  }
}

interface Row {
  key: string;
  t: number;
  n: string;
  deleted: number;
  meta: string;
  size: number | null;
  bytes: Uint8Array | null;
  file: string | null;
  seq: number;
}

function fromRow(r: Row, blobDir: string): Entry {
  let value: Value | null = null;
  if (!r.deleted) {
    if (r.file) value = { size: r.size ?? 0, file: `${blobDir}/${r.file}` };
    else value = { size: r.size ?? 0, bytes: r.bytes ? new Uint8Array(r.bytes) : new Uint8Array(0) };
  }
  return { key: r.key, ver: { t: r.t, n: r.n }, deleted: r.deleted === 1, meta: JSON.parse(r.meta), value, seq: r.seq };
}
