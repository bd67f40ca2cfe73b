// Values: bytes that may be far larger than memory should hold. Small ones
// live inline (in SQLite or in memory); large ones as files beside the
// database, so a 1 GiB copy is streamed to disk and back, never held whole.
//
// A value arrives through a ValueSink (staging: written as it streams in,
// discarded if the stream breaks, so a half copy never becomes visible) and
// leaves through a ValueReader (an fd opened at once, so the file stays
// readable even if a newer write replaces and unlinks it meanwhile).

import { closeSync, openSync, readSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { ClipError } from "../protocol/errors.ts";

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

export interface ValueSink {
  readonly size: number;
  write(chunk: Uint8Array): void;
  /** The value, once whole. The sink is spent. */
  commit(): Value;
  /** Drops what was written. Safe to call more than once, and after commit. */
  abort(): void;
}

/**
 * Stages a value. `dir` null keeps it in memory. `expected` (when the sender
 * announced a size) lets memory staging allocate once.
 */
export function stageValue(dir: string | null, maxSize: number, expected?: number): ValueSink {
  if (expected !== undefined && expected > maxSize) throw tooBig(expected, maxSize);
  // An unannounced size (a pipe, a string) starts in memory and moves to a
  // file only past INLINE_MAX, so small values stay inline in the database.
  if (dir === null || expected === undefined || expected <= INLINE_MAX) return new MemorySink(maxSize, expected, dir);
  return new FileSink(dir, maxSize);
}

function tooBig(size: number, max: number): ClipError {
  return new ClipError("TOOBIG", `value of ${size} bytes is over the server's --max-size of ${max} bytes`);
}

let counter = 0;
function blobName(dir: string): string {
  counter = (counter + 1) % 1e9;
  return `${dir}/${Date.now().toString(36)}-${process.pid.toString(36)}-${counter.toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

class MemorySink implements ValueSink {
  private buf: Uint8Array;
  size = 0;
  private file: FileSink | null = null;
  constructor(
    private readonly max: number,
    expected: number | undefined,
    private readonly spillDir: string | null,
  ) {
    this.buf = new Uint8Array(expected ?? 4096);
  }
  write(chunk: Uint8Array): void {
    if (this.file) return this.file.write(chunk);
    const need = this.size + chunk.length;
    if (need > this.max) throw tooBig(need, this.max);
    // A sender on disk that under-announced: move to a file past the inline size.
    if (this.spillDir !== null && need > INLINE_MAX) {
      this.file = new FileSink(this.spillDir, this.max);
      this.file.write(this.buf.subarray(0, this.size));
      this.file.write(chunk);
      return;
    }
    if (need > this.buf.length) {
      const grown = new Uint8Array(Math.max(need, Math.min(this.buf.length * 2, this.max)));
      grown.set(this.buf.subarray(0, this.size));
      this.buf = grown;
    }
    this.buf.set(chunk, this.size);
    this.size = need;
  }
  commit(): Value {
    if (this.file) return this.file.commit();
    const bytes = this.size === this.buf.length ? this.buf : this.buf.slice(0, this.size);
    return { size: this.size, bytes };
  }
  abort(): void {
    this.file?.abort();
    this.buf = new Uint8Array(0);
  }
}

/** Uploads staged in files right now: each holds a descriptor until it commits or aborts. */
let stagedFiles = 0;

/** At most this many uploads staged in files at once, all connections together (the node sets it from its descriptor budget). */
export const STAGING = { maxFiles: 2048 };

export function openStagedFiles(): number {
  return stagedFiles;
}

class FileSink implements ValueSink {
  private fd: number | null;
  private readonly tmp: string;
  size = 0;
  constructor(
    private readonly dir: string,
    private readonly max: number,
  ) {
    // Unfinished uploads must not take every descriptor (then accept fails and every client hangs).
    if (stagedFiles >= STAGING.maxFiles) throw new ClipError("BUSY", `the server has ${stagedFiles} large uploads in progress; try again later`);
    this.tmp = `${blobName(dir)}.part`;
    this.fd = openSync(this.tmp, "wx", 0o600);
    stagedFiles++;
  }
  write(chunk: Uint8Array): void {
    if (this.fd === null) throw new ClipError("INTERNAL", "write to a closed value sink");
    const need = this.size + chunk.length;
    if (need > this.max) throw tooBig(need, this.max);
    let off = 0;
    while (off < chunk.length) off += writeSync(this.fd, chunk, off, chunk.length - off);
    this.size = need;
  }
  commit(): Value {
    if (this.fd === null) throw new ClipError("INTERNAL", "commit of a closed value sink");
    closeSync(this.fd);
    this.fd = null;
    stagedFiles--;
    const file = this.tmp.slice(0, -".part".length);
    renameSync(this.tmp, file);
    return { size: this.size, file };
  }
  abort(): void {
    if (this.fd === null) return;
    try {
      closeSync(this.fd);
    } catch {}
    this.fd = null;
    stagedFiles--;
    try {
      unlinkSync(this.tmp);
    } catch {}
  }
}

/** Reads a value in pieces; opening happens at construction. */
/**
 * Value files open for readers, shared: 1,000 waiters sent one value hold
 * one descriptor, not 1,000 (reads are positional, and a blob's name is
 * never reused, so one fd serves every reader of that file).
 */
const openFiles = new Map<string, { fd: number; refs: number }>();

/** Distinct value files held open in this process (each is a descriptor). */
export function openValueFiles(): number {
  return openFiles.size;
}

export function isValueFileOpen(file: string): boolean {
  return openFiles.has(file);
}

export class ValueReader {
  readonly size: number;
  private fd: number | null = null;
  private pos = 0;
  constructor(private readonly value: Value) {
    this.size = value.size;
    if (value.file !== undefined) {
      try {
        const shared = openFiles.get(value.file);
        if (shared) shared.refs++;
        else openFiles.set(value.file, { fd: openSync(value.file, "r"), refs: 1 });
        this.fd = openFiles.get(value.file)!.fd;
      } catch (e) {
        throw new ClipError("INTERNAL", `value file ${value.file} is missing: ${(e as Error).message}`, { cause: e });
      }
    }
  }
  get remaining(): number {
    return this.size - this.pos;
  }
  /** Fills `into` with the next bytes; returns how many (0 at the end). */
  readInto(into: Uint8Array): number {
    const want = Math.min(into.length, this.remaining);
    if (want <= 0) return 0;
    if (this.value.bytes) {
      into.set(this.value.bytes.subarray(this.pos, this.pos + want));
    } else {
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
  /** The next bytes without copying when they are in memory. */
  next(max: number): Uint8Array {
    const want = Math.min(max, this.remaining);
    if (this.value.bytes) {
      const out = this.value.bytes.subarray(this.pos, this.pos + want);
      this.pos += want;
      return out;
    }
    const out = new Uint8Array(want);
    this.readInto(out);
    return out;
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


/** The first `n` bytes, for previews. */
export function readHead(value: Value, n: number): Uint8Array {
  if (value.bytes) return value.bytes.subarray(0, Math.min(n, value.size));
  const r = new ValueReader(value);
  try {
    const out = new Uint8Array(Math.min(n, value.size));
    r.readInto(out);
    return out;
  } finally {
    r.close();
  }
}

