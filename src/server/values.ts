// Values: bytes that may be far larger than memory should hold. Small ones
// live inline (in SQLite or in memory); large ones as files in blobs/ beside
// the database, so a 1 GiB copy is streamed to disk and back, never held whole.
//
// A value arrives into a Stage: written as it streams in, readable while it
// does (a relay up or down the tree reads the stage as it grows: cut-through),
// and either committed whole or aborted, so a half copy never becomes a value
// anywhere. A committed value is read through a source opened at once: its
// fd keeps the bytes readable even if a newer write replaces and unlinks the
// file meanwhile.
//
// Files are reference-counted: the state holds one reference per row that
// names a file, and whoever carries a value around (a write waiting for its
// turn, an event queued for a child) holds one until it is done. The last
// release unlinks the file.

import { closeSync, openSync, readSync, renameSync, unlink, unlinkSync, write as writeCb, writeSync } from "node:fs";
import { sealedLength } from "../crypto/seal.ts";
import { ClipError } from "../protocol/errors.ts";
import type { ValueSource } from "../value/source.ts";

export interface Value {
  size: number;
  /** The bytes, when small or when the server keeps nothing on disk. */
  bytes?: Uint8Array;
  /** The file holding the bytes, when large and on disk. */
  file?: string;
}

export const EMPTY_VALUE: Value = { size: 0, bytes: new Uint8Array(0) };

/** Values up to this size stay inline; larger ones go to files (on disk). */
export const INLINE_MAX = 64 << 10;

/** Uploads staged in files right now: each holds a descriptor until it commits or aborts. */
let stagedFiles = 0;

/** At most this many values staged in files at once, all connections together (the node sets it from its descriptor budget). */
export const STAGING = { maxFiles: 2048 };

export function openStagedFiles(): number {
  return stagedFiles;
}

/**
 * Value files open for readers, shared: 1,000 waiters sent one value hold
 * one descriptor, not 1,000 (reads are positional, and a file's name is
 * never reused, so one fd serves every reader of it).
 */
const openFiles = new Map<string, { fd: number; refs: number }>();

/** Distinct value files held open in this process (each is a descriptor). */
export function openValueFiles(): number {
  return openFiles.size;
}

export function isValueFileOpen(file: string): boolean {
  return openFiles.has(file);
}

/** What a stage may be told of the value it takes. */
export interface StageOptions {
  /** The writer marked the value sealed (meta.sealed): it may pass --max-size by the sealing overhead. */
  sealed?: boolean;
  /**
   * A write the tree has already ordered, coming from our parent: --max-size
   * bounds what this server's own clients write, not the tree's order. A
   * child with a smaller --max-size than its root refusing such a value
   * would leave the tree and, re-joining, be sent it again, forever.
   */
  ordered?: boolean;
}

/**
 * The most bytes a value may hold. --max-size bounds what a user copies, so
 * a value marked sealed may be larger by the sealing overhead (53 bytes and
 * 16 a 64 KiB chunk: 0.024 %, 256 KiB on 1 GiB): whatever fits plain fits
 * sealed, and `clip copy --encrypt` of a 1 GiB file works on a default
 * server. The mark is the writer's word, not checked: a writer that lies
 * gains 0.024 %, which bounds nothing that matters.
 */
export function valueLimit(maxSize: number, opts: StageOptions = {}): number {
  if (opts.ordered) return Number.MAX_SAFE_INTEGER;
  return opts.sealed ? sealedLength(maxSize) : maxSize;
}

/** Whether a write's meta (or an entry's) marks its value sealed on the client: `sealed`, the key id. */
export function markedSealed(meta: Record<string, unknown> | undefined): boolean {
  return typeof meta?.sealed === "string";
}

/**
 * Over --max-size. `size` is the value's whole size when its sender announced
 * it; otherwise only `arrived` is known (the bytes so far, which the value is
 * at least), and the message must not pass that off as the value's size.
 */
function tooBig(max: number, sealed: boolean, size: { announced: number } | { arrived: number }): ClipError {
  const over = `over the server's --max-size of ${max} bytes${sealed ? ` (and ${sealedLength(max) - max} bytes for sealing)` : ""}`;
  const what = sealed ? "sealed value" : "value";
  if ("announced" in size) return new ClipError("TOOBIG", `${what} of ${size.announced} bytes is ${over}`);
  return new ClipError("TOOBIG", `${what} is ${over}; refused after ${size.arrived} bytes (its whole size was not announced)`);
}

let counter = 0;
function blobName(dir: string): string {
  counter = (counter + 1) % 1e9;
  return `${dir}/${Date.now().toString(36)}-${process.pid.toString(36)}-${counter.toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

export class ValueStore {
  /** References to each value file (rows of the state, writes in flight, queued events). */
  private readonly refs = new Map<string, number>();

  constructor(
    /** Folder for value files; null keeps everything in memory (--memory). */
    readonly dir: string | null,
    readonly maxSize: number,
  ) {}

  /**
   * A stage for an incoming value. `expected` is the size the sender
   * announced: over --max-size it is refused before a byte is stored, and
   * the value must then be exactly that long.
   */
  stage(expected?: number, opts: StageOptions = {}): Stage {
    if (expected !== undefined && expected > valueLimit(this.maxSize, opts)) throw tooBig(this.maxSize, opts.sealed === true, { announced: expected });
    return new Stage(this, expected, opts);
  }

  /** A source over a whole value, opened now. */
  source(v: Value): ValueSource {
    return new StoredSource(v);
  }

  /** The first `n` bytes (previews, media type recognition). */
  head(v: Value, n: number): Uint8Array {
    // The value itself when it is short enough: a view of a fresh buffer costs more than the sniffing.
    if (v.bytes) return n >= v.bytes.length ? v.bytes : v.bytes.subarray(0, n);
    const s = new StoredSource(v);
    try {
      const out = new Uint8Array(Math.min(n, v.size));
      let got = 0;
      while (got < out.length) {
        const k = s.read(out.subarray(got));
        if (k === 0) break;
        got += k;
      }
      return out.subarray(0, got);
    } finally {
      s.close();
    }
  }

  /** One more reference to a value's file (no-op for values in memory). */
  hold(v: Value | null): void {
    if (v?.file !== undefined) this.refs.set(v.file, (this.refs.get(v.file) ?? 0) + 1);
  }

  /** Drops a reference; the last one unlinks the file (off the main thread: a 1 GiB unlink on tmpfs takes ~50 ms). */
  release(v: Value | null): void {
    const f = v?.file;
    if (f === undefined) return;
    const n = (this.refs.get(f) ?? 1) - 1;
    if (n > 0) {
      this.refs.set(f, n);
      return;
    }
    this.refs.delete(f);
    unlink(f, ignore);
  }

  /** References held now (tests check that nothing leaks). */
  references(file: string): number {
    return this.refs.get(file) ?? 0;
  }

  /** A committed stage's file: one reference, the committer's. */
  adopt(file: string): void {
    this.refs.set(file, 1);
  }
}

const ignore = () => {};

/** A value arriving: memory first, a file past INLINE_MAX (on disk), readable while it grows. */
export class Stage {
  state: "open" | "committed" | "aborted" = "open";
  size = 0;
  private buf: Uint8Array | null = null;
  private fd: number | null = null;
  private tmp: string | null = null;
  /** One read fd shared by the readers of a file stage. */
  private rfd: number | null = null;
  private readers = 0;
  private value: Value | null = null;
  private failure: ClipError | null = null;
  private waiters: (() => void)[] = [];
  /** A writeAsync() is on the thread pool: an abort leaves the file to it to close. */
  private writing = false;

  /** The most bytes this value may hold (see valueLimit). */
  private readonly limit: number;
  private readonly sealed: boolean;

  constructor(
    private readonly store: ValueStore,
    readonly expected: number | undefined,
    opts: StageOptions = {},
  ) {
    this.sealed = opts.sealed === true;
    this.limit = valueLimit(store.maxSize, opts);
    // Announced and large, with a disk: straight to a file. Anything else
    // starts in memory, so small values stay inline in the database.
    if (store.dir !== null && expected !== undefined && expected > INLINE_MAX) this.toFile();
    else this.buf = new Uint8Array(expected ?? 4096);
  }

  private toFile(): void {
    // Unfinished uploads must not take every descriptor (then accept fails and every client hangs).
    if (stagedFiles >= STAGING.maxFiles) throw new ClipError("BUSY", `the server has ${stagedFiles} large uploads in progress; try again later`);
    this.tmp = `${blobName(this.store.dir!)}.part`;
    this.fd = openSync(this.tmp, "wx", 0o600);
    stagedFiles++;
    // Readers of a spilled stage read the file from now on; opened now, while the name surely exists.
    if (this.readers > 0) this.rfd ??= openSync(this.tmp, "r");
  }

  /** The size after `chunk`, checked against the limits. */
  private grown(chunk: Uint8Array): number {
    if (this.state !== "open") throw this.failure ?? new ClipError("INTERNAL", "write to a closed stage");
    const need = this.size + chunk.length;
    if (need > this.limit) throw tooBig(this.store.maxSize, this.sealed, this.expected !== undefined ? { announced: this.expected } : { arrived: need });
    if (this.expected !== undefined && need > this.expected) throw new ClipError("PROTOCOL", `value longer than the ${this.expected} bytes announced`);
    return need;
  }

  /**
   * write(), with a file stage's bytes written on the thread pool, so the
   * next chunk can be read meanwhile (a value taken from a file or a pipe:
   * server/handoff.ts). One call at a time; resolves once the bytes are in
   * and counted. An abort meanwhile leaves the file to this write to close.
   */
  async writeAsync(chunk: Uint8Array): Promise<void> {
    const need = this.grown(chunk);
    if (this.fd === null) return this.write(chunk); // in memory, or about to spill: as write()
    const fd = this.fd;
    this.writing = true;
    try {
      for (let off = 0; off < chunk.length; ) {
        off += await new Promise<number>((resolve, reject) => writeCb(fd, chunk, off, chunk.length - off, null, (e, n) => (e ? reject(e) : resolve(n))));
      }
    } finally {
      this.writing = false;
      if (this.state === "aborted") this.dropFile();
    }
    if (this.state !== "open") throw this.failure!;
    this.size = need;
    this.wake();
  }

  write(chunk: Uint8Array): void {
    const need = this.grown(chunk);
    if (this.fd === null && this.store.dir !== null && need > INLINE_MAX) {
      // A sender that did not announce its size: move to a file past the inline size.
      this.toFile();
      writeAll(this.fd!, this.buf!.subarray(0, this.size));
      this.buf = null;
    }
    if (this.fd !== null) writeAll(this.fd, chunk);
    else {
      if (need > this.buf!.length) {
        const grown = new Uint8Array(Math.max(need, Math.min(this.buf!.length * 2, this.limit)));
        grown.set(this.buf!.subarray(0, this.size));
        this.buf = grown;
      }
      this.buf!.set(chunk, this.size);
    }
    this.size = need;
    this.wake();
  }

  /** The value, once whole: one reference, the caller's. */
  commit(): Value {
    if (this.state !== "open") throw new ClipError("INTERNAL", "commit of a closed stage");
    if (this.expected !== undefined && this.size !== this.expected) {
      const err = new ClipError("PROTOCOL", `value of ${this.size} bytes, ${this.expected} announced`);
      this.abort(err);
      throw err;
    }
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
      stagedFiles--;
      const file = this.tmp!.slice(0, -".part".length);
      renameSync(this.tmp!, file);
      this.tmp = file; // readers' fd follows the inode
      this.store.adopt(file);
      this.value = { size: this.size, file };
    } else {
      const bytes = this.size === this.buf!.length ? this.buf! : this.buf!.slice(0, this.size);
      this.buf = bytes;
      this.value = { size: this.size, bytes };
    }
    this.state = "committed";
    this.wake();
    this.closeReadFd();
    return this.value;
  }

  /** Drops what was written; readers fail with `err`. Safe to call more than once, and after commit. */
  abort(err: ClipError = new ClipError("LOST", "the value was not sent whole")): void {
    if (this.state !== "open") return;
    this.state = "aborted";
    this.failure = err;
    // A write on the thread pool still holds the fd: closing it now could hand its number to another file.
    if (!this.writing) this.dropFile();
    this.buf = null;
    this.wake();
    this.closeReadFd();
  }

  /** Closes and removes an aborted stage's file. */
  private dropFile(): void {
    if (this.fd === null) return;
    try {
      closeSync(this.fd);
    } catch {}
    this.fd = null;
    stagedFiles--;
    try {
      unlinkSync(this.tmp!);
    } catch {}
  }

  /** A source that reads the value as it arrives, and ends where it is committed (or fails where it is aborted). */
  reader(): ValueSource {
    if (this.state === "committed") return this.store.source(this.value!);
    if (this.state === "aborted") throw this.failure!;
    this.readers++;
    // Opened at once: once committed, the file may be released (and unlinked) before the first read.
    if (this.tmp !== null) this.rfd ??= openSync(this.tmp, "r");
    return new GrowingSource(this);
  }

  /** @internal Reads bytes at `pos` that have arrived; 0 when none are there yet. */
  readAt(pos: number, into: Uint8Array): number {
    const n = Math.min(into.length, this.size - pos);
    if (n <= 0) return 0;
    if (this.buf) {
      into.set(this.buf.subarray(pos, pos + n));
      return n;
    }
    this.rfd ??= openSync(this.tmp!, "r");
    let got = 0;
    while (got < n) {
      const k = readSync(this.rfd, into, got, n - got, pos + got);
      if (k <= 0) break;
      got += k;
    }
    return got;
  }

  /** The bytes are in a file (large, with a disk), not in memory. */
  get inFile(): boolean {
    return this.buf === null;
  }

  /** @internal Resolves when more bytes, the commit or the abort arrive. */
  more(): Promise<void> {
    return new Promise((wake) => this.waiters.push(wake));
  }

  /** @internal */
  get error(): ClipError | null {
    return this.failure;
  }

  /** @internal */
  readerClosed(): void {
    this.readers--;
    this.closeReadFd();
  }

  private closeReadFd(): void {
    if (this.rfd === null || this.readers > 0 || this.state === "open") return;
    try {
      closeSync(this.rfd);
    } catch {}
    this.rfd = null;
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

function writeAll(fd: number, chunk: Uint8Array): void {
  let off = 0;
  while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
}

/** Reads a stage as it grows (cut-through). */
class GrowingSource implements ValueSource {
  private pos = 0;
  private closed = false;
  constructor(private readonly stage: Stage) {}

  get size(): number | undefined {
    return this.stage.expected;
  }

  get inFile(): boolean {
    return this.stage.inFile;
  }

  read(into: Uint8Array): number | Promise<number> {
    const s = this.stage;
    if (this.closed) return 0;
    const n = s.readAt(this.pos, into);
    if (n > 0) {
      this.pos += n;
      return n;
    }
    if (s.state === "committed") return 0;
    if (s.state === "aborted") throw s.error!;
    return s.more().then(() => this.read(into));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stage.readerClosed();
  }
}

/** Reads a whole value: bytes in memory, or a file through the shared fd. */
class StoredSource implements ValueSource {
  readonly size: number;
  readonly inFile: boolean;
  private fd: number | null = null;
  private pos = 0;
  constructor(private readonly value: Value) {
    this.size = value.size;
    const file = value.file;
    this.inFile = file !== undefined;
    if (file === undefined) return;
    try {
      const shared = openFiles.get(file);
      if (shared) shared.refs++;
      else openFiles.set(file, { fd: openSync(file, "r"), refs: 1 });
      this.fd = openFiles.get(file)!.fd;
    } catch (e) {
      throw new ClipError("INTERNAL", `value file ${file} is missing: ${(e as Error).message}`, { cause: e });
    }
  }

  read(into: Uint8Array): number {
    const want = Math.min(into.length, this.size - this.pos);
    if (want <= 0) return 0;
    if (this.value.bytes) into.set(this.value.bytes.subarray(this.pos, this.pos + want));
    else {
      let got = 0;
      while (got < want) {
        const n = readSync(this.fd!, into, got, want - got, this.pos + got);
        if (n <= 0) throw new ClipError("INTERNAL", `value file ${this.value.file} is shorter than recorded`);
        got += n;
      }
    }
    this.pos += want;
    return want;
  }

  close(): void {
    if (this.fd === null) return;
    this.fd = null;
    const file = this.value.file!;
    const shared = openFiles.get(file);
    if (!shared || --shared.refs > 0) return;
    openFiles.delete(file);
    try {
      closeSync(shared.fd);
    } catch {}
  }
}
