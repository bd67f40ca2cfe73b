// The state on disk: SQLite in WAL mode with synchronous=NORMAL (in the OS
// once committed, so a write survives kill -9 of the server; a power cut may
// lose the last writes), large values as files beside it (values.ts).
//
// Group commit: what the state applied during one turn of the event loop is
// committed in one transaction in a later turn, after the relay to children
// and the events to watchers have left; whoever acknowledges a write to its
// writer waits for that commit first (Persist.durable()). Checkpoints, the
// only fsyncs, run on a worker thread, off the path of a write.

import { Database } from "bun:sqlite";
import { chmodSync, existsSync, mkdirSync, readdirSync, unlinkSync } from "node:fs";
import { basename } from "node:path";
import { ClipError } from "../protocol/errors.ts";
import type { Applied, Entry } from "./state.ts";
import type { Value } from "./values.ts";

/** What was on disk at start. */
export interface Loaded {
  entries: Entry[];
  /** History rows, newest first per key. */
  history: Map<string, Entry[]>;
  dropped: Map<string, number>;
  facts: Map<string, string>;
}

const SCHEMA = 2;

type HistoryStep = { add: Entry } | { drop: Entry };

export class Persist {
  private readonly db: Database;
  private readonly upsert: ReturnType<Database["prepare"]>;
  private readonly addRow: ReturnType<Database["prepare"]>;
  private readonly dropRow: ReturnType<Database["prepare"]>;
  private readonly clearRows: ReturnType<Database["prepare"]>;
  private readonly setDropped: ReturnType<Database["prepare"]>;
  private readonly setFact: ReturnType<Database["prepare"]>;
  // Prepared once: db.transaction()'s wrapper cost ~9 µs of a ~70 µs commit (bench: one write per commit).
  private readonly begin: ReturnType<Database["prepare"]>;
  private readonly commit: ReturnType<Database["prepare"]>;
  private readonly rollback: ReturnType<Database["prepare"]>;
  readonly blobDir: string;
  /** Entries applied and not yet committed (the newest per key). */
  private entries = new Map<string, Entry>();
  private steps: HistoryStep[] = [];
  private droppedMarks = new Map<string, number>();
  /** Keys whose whole history was replaced (a parent's snapshot). */
  private rewritten = new Map<string, Entry[]>();
  private facts = new Map<string, string>();
  /** Values whose last row goes away with this commit: released once it is done. */
  private afterCommit: Value[] = [];
  private scheduled = false;
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private readonly checkpointer: Checkpointer;

  private constructor(
    readonly dir: string,
    db: Database,
    private readonly release: (v: Value) => void,
  ) {
    this.db = db;
    this.blobDir = `${dir}/blobs`;
    this.upsert = db.prepare("INSERT OR REPLACE INTO entries (key, t, n, rev, deleted, meta, size, bytes, file) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    this.addRow = db.prepare("INSERT OR REPLACE INTO history (key, rev, t, n, deleted, meta, size, bytes, file) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    this.dropRow = db.prepare("DELETE FROM history WHERE key = ? AND rev = ?");
    this.clearRows = db.prepare("DELETE FROM history WHERE key = ?");
    this.setDropped = db.prepare("INSERT OR REPLACE INTO dropped (key, rev) VALUES (?, ?)");
    this.setFact = db.prepare("INSERT OR REPLACE INTO state (k, v) VALUES (?, ?)");
    this.begin = db.prepare("BEGIN");
    this.commit = db.prepare("COMMIT");
    this.rollback = db.prepare("ROLLBACK");
    this.checkpointer = new Checkpointer(db, `${dir}/state.db`);
  }

  /**
   * Opens (or creates) the data folder and reads it. `release` is called
   * for each value whose last row a commit removed. Value files no row names
   * (uploads that never committed, values replaced just before a crash) are
   * removed.
   */
  static open(dir: string, release: (v: Value) => void): { persist: Persist; loaded: Loaded } {
    const blobDir = `${dir}/blobs`;
    try {
      mkdirSync(blobDir, { recursive: true, mode: 0o700 });
    } catch (e) {
      // Raw ENOTDIR/EACCES text names neither the flag nor the way out.
      throw new ClipError("USAGE", `cannot use ${dir} as the data folder: ${(e as Error).message.replace(/^[A-Z]+: /, "")} (give --data a folder that clip may create and write)`, { cause: e });
    }
    const path = `${dir}/state.db`;
    let db: Database | null = null;
    try {
      db = new Database(path, { create: true, strict: true });
      // Checkpoints run on a worker thread (Checkpointer), not inside a commit.
      db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;");
      // Values and secret hashes are nobody else's business: the folder is 0700 and the files 0600.
      for (const f of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
      chmodSync(dir, 0o700);
      const check = db.query("PRAGMA quick_check").get() as { quick_check: string } | null;
      if (check && check.quick_check !== "ok") throw new Error(check.quick_check);
      migrate(db);
      const loaded = read(db, blobDir);
      const referenced = new Set<string>();
      const note = (e: Entry) => {
        if (!e.value?.file) return;
        if (!existsSync(e.value.file)) throw new Error(`value file ${e.value.file} of ${e.key} is missing`);
        referenced.add(basename(e.value.file));
      };
      for (const e of loaded.entries) note(e);
      for (const rows of loaded.history.values()) for (const e of rows) note(e);
      for (const f of readdirSync(blobDir)) if (!referenced.has(f)) unlinkSync(`${blobDir}/${f}`);
      return { persist: new Persist(dir, db, release), loaded };
    } catch (e) {
      db?.close();
      if (e instanceof ClipError) throw e;
      throw new ClipError("INTERNAL", `cannot read the data in ${path}: ${(e as Error).message} (move the folder aside to start empty, or start with another --data)`, { cause: e });
    }
  }

  /** Queues what one apply() changed for the next commit. */
  record(a: Applied): void {
    for (const c of a.changes) this.entries.set(c.entry.key, c.entry);
    for (const e of a.restamped) this.entries.set(e.key, e);
    for (const e of a.historyAdded) this.steps.push({ add: e });
    for (const e of a.historyDropped) {
      this.steps.push({ drop: e });
      if (e.rev > (this.droppedMarks.get(e.key) ?? 0)) this.droppedMarks.set(e.key, e.rev);
    }
    for (const v of a.released) this.afterCommit.push(v);
    this.schedule();
  }

  /** Queues an entry as it is (adopted from a parent's snapshot). */
  recordEntry(e: Entry): void {
    this.entries.set(e.key, e);
    this.schedule();
  }

  /** Queues a key's whole history and dropped mark (adopted from a parent's snapshot). */
  recordHistory(key: string, rows: Entry[], dropped: number, released: Value[]): void {
    this.steps = this.steps.filter((s) => ("add" in s ? s.add.key : s.drop.key) !== key);
    this.rewritten.set(key, rows);
    this.droppedMarks.set(key, dropped);
    for (const v of released) this.afterCommit.push(v);
    this.schedule();
  }

  recordFact(k: string, v: string): void {
    this.facts.set(k, v);
    this.schedule();
  }

  get dirty(): boolean {
    return this.entries.size > 0 || this.steps.length > 0 || this.facts.size > 0 || this.rewritten.size > 0 || this.droppedMarks.size > 0;
  }

  /**
   * The commit runs as an immediate queued by an immediate: Bun sends what a
   * callback wrote to its sockets only once that callback, its microtasks and
   * the immediates it queued are over (measured: a commit in a microtask or a
   * single setImmediate held the relay back), so this comes after the relay
   * to the children and the events to watchers have left, ~2 µs later when
   * idle (setTimeout 0 would be 1 ms).
   */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.afterSends);
  }

  private readonly afterSends = () => setImmediate(this.commitTask);

  private readonly commitTask = () => {
    this.scheduled = false;
    this.flush();
  };

  /**
   * Resolves once everything applied so far is committed (null at once when
   * nothing waits). A write is acknowledged to its writer only after this,
   * so an acknowledged write survives kill -9.
   */
  durable(): Promise<void> | null {
    if (!this.dirty) return null;
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Commits what is pending now. */
  flush(): void {
    if (!this.dirty) return;
    const waiters = this.waiters;
    this.waiters = [];
    try {
      this.begin.run();
      try {
        for (const e of this.entries.values()) this.upsert.run(e.key, e.ver.t, e.ver.n, e.rev, e.deleted ? 1 : 0, JSON.stringify(e.meta), ...valueColumns(e.value));
        for (const [key, rows] of this.rewritten) {
          this.clearRows.run(key);
          for (const e of rows) this.addRow.run(key, e.rev, e.ver.t, e.ver.n, e.deleted ? 1 : 0, JSON.stringify(e.meta), ...valueColumns(e.value));
        }
        for (const s of this.steps) {
          if ("add" in s) {
            const e = s.add;
            this.addRow.run(e.key, e.rev, e.ver.t, e.ver.n, e.deleted ? 1 : 0, JSON.stringify(e.meta), ...valueColumns(e.value));
          } else this.dropRow.run(s.drop.key, s.drop.rev);
        }
        for (const [k, rev] of this.droppedMarks) this.setDropped.run(k, rev);
        for (const [k, v] of this.facts) this.setFact.run(k, v);
        this.commit.run();
      } catch (e) {
        try {
          this.rollback.run();
        } catch {}
        throw e;
      }
    } catch (e) {
      // Kept pending: the next commit tries again. Nobody is told these writes are safe.
      const err = new ClipError("INTERNAL", `cannot write to ${this.dir}/state.db: ${(e as Error).message}`, { cause: e });
      for (const w of waiters) w.reject(err);
      return;
    }
    this.entries.clear();
    this.steps = [];
    this.rewritten.clear();
    this.droppedMarks.clear();
    this.facts.clear();
    this.checkpointer.committed();
    const released = this.afterCommit;
    this.afterCommit = [];
    for (const w of waiters) w.resolve();
    // Only now does no row on disk name these files.
    for (const v of released) this.release(v);
  }

  close(): void {
    try {
      this.flush();
    } catch {}
    this.checkpointer.stop();
    this.db.close();
  }
}

function valueColumns(v: Value | null): [number | null, Uint8Array | null, string | null] {
  return [v?.size ?? null, v?.bytes ?? null, v?.file ? basename(v.file) : null];
}

/** Creates the tables, or brings a folder written by an older clip up to date. */
function migrate(db: Database): void {
  const has = (table: string) => db.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) !== null;
  if (has("entries")) {
    const cols = (db.query("PRAGMA table_info(entries)").all() as { name: string }[]).map((c) => c.name);
    // Version 1 (clip 0.1) called the revision `seq`.
    if (cols.includes("seq") && !cols.includes("rev")) db.exec("ALTER TABLE entries RENAME COLUMN seq TO rev");
  }
  db.exec(`CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY, t INTEGER NOT NULL, n TEXT NOT NULL, rev INTEGER NOT NULL, deleted INTEGER NOT NULL,
    meta TEXT NOT NULL, size INTEGER, bytes BLOB, file TEXT)`);
  db.exec(`CREATE TABLE IF NOT EXISTS history (
    key TEXT NOT NULL, rev INTEGER NOT NULL, t INTEGER NOT NULL, n TEXT NOT NULL, deleted INTEGER NOT NULL,
    meta TEXT NOT NULL, size INTEGER, bytes BLOB, file TEXT, PRIMARY KEY (key, rev))`);
  db.exec("CREATE TABLE IF NOT EXISTS dropped (key TEXT PRIMARY KEY, rev INTEGER NOT NULL)");
  db.exec("CREATE TABLE IF NOT EXISTS state (k TEXT PRIMARY KEY, v TEXT NOT NULL)");
  db.exec(`INSERT OR REPLACE INTO state (k, v) VALUES ('schema', '${SCHEMA}')`);
  // state.seq (version 1) is the revision.
  db.exec("INSERT OR IGNORE INTO state (k, v) SELECT 'rev', v FROM state WHERE k = 'seq'");
}

interface Row {
  key: string;
  t: number;
  n: string;
  rev: number;
  deleted: number;
  meta: string;
  size: number | null;
  bytes: Uint8Array | null;
  file: string | null;
}

function fromRow(r: Row, blobDir: string): Entry {
  let value: Value | null = null;
  if (!r.deleted) {
    if (r.file) value = { size: r.size ?? 0, file: `${blobDir}/${r.file}` };
    else value = { size: r.size ?? 0, bytes: r.bytes ? new Uint8Array(r.bytes) : new Uint8Array(0) };
  }
  return { key: r.key, ver: { t: r.t, n: r.n }, rev: r.rev, deleted: r.deleted === 1, meta: JSON.parse(r.meta), value };
}

function read(db: Database, blobDir: string): Loaded {
  const facts = new Map<string, string>();
  for (const row of db.query("SELECT k, v FROM state").all() as { k: string; v: string }[]) facts.set(row.k, row.v);
  const entries = (db.query("SELECT * FROM entries").all() as Row[]).map((r) => fromRow(r, blobDir));
  const history = new Map<string, Entry[]>();
  for (const r of db.query("SELECT * FROM history ORDER BY key, rev DESC").all() as Row[]) {
    let rows = history.get(r.key);
    if (!rows) history.set(r.key, (rows = []));
    rows.push(fromRow(r, blobDir));
  }
  const dropped = new Map<string, number>();
  for (const r of db.query("SELECT key, rev FROM dropped").all() as { key: string; rev: number }[]) dropped.set(r.key, r.rev);
  return { entries, history, dropped, facts };
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
