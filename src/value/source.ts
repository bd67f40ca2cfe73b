// Where a value's bytes come from. Every value clip moves (an upload from the
// CLI or the library, a reply from a server, a write relayed up or down the
// tree) is read from a ValueSource straight into the buffer of the frame that
// carries it (send.ts), so a byte is copied once on its way to the socket.
//
// read() may answer synchronously (a file, bytes in memory) or with a promise
// (a pipe, a value still arriving): callers test which, so that a file read
// costs no promise per chunk.

import { ClipError } from "../protocol/errors.ts";

export interface ValueSource {
  /** The value's length, when known before it is read (announced to the receiver). */
  readonly size: number | undefined;
  /** Fills `into` from its start; the count, 0 at the end. May fill less than asked. */
  read(into: Uint8Array): number | Promise<number>;
  /** Lets go of what the source holds (an fd, a reference). Safe to call more than once. */
  close(): void;
  /** The whole value, when the source is just bytes in memory (a small one then goes out in one frame, at once). */
  readonly bytes?: Uint8Array;
  /** Its bytes are in a file: holding the source open costs a descriptor, not memory (queues count it so). */
  readonly inFile?: boolean;
}

/** Bytes in memory. */
export function bytesSource(bytes: Uint8Array): ValueSource {
  let pos = 0;
  return {
    size: bytes.length,
    bytes,
    read(into) {
      const n = Math.min(into.length, bytes.length - pos);
      into.set(bytes.subarray(pos, pos + n));
      pos += n;
      return n;
    },
    close() {},
  };
}

/**
 * A regular file, by path or as an open fd read from its current offset,
 * opened at the first read. `size` (when known) bounds the read: the
 * announced length is what is sent, even if the file grows meanwhile; a file
 * that shrinks ends the value short, which the receiver refuses.
 */
export class FileSource implements ValueSource {
  private fd: number | null = null;
  private left: number;
  private done = false;
  readonly size: number | undefined;
  constructor(
    readonly file: string | number,
    size?: number,
  ) {
    this.size = size;
    this.left = size ?? Infinity;
  }

  read(into: Uint8Array): number {
    if (this.done || this.left <= 0) return 0;
    // Required here: a static node:fs import would be loaded by every command.
    const fs = require("node:fs") as typeof import("node:fs");
    this.fd ??= typeof this.file === "number" ? this.file : fs.openSync(this.file, "r");
    const n = fs.readSync(this.fd, into, 0, Math.min(into.length, this.left), null);
    this.left -= n;
    return n;
  }

  close(): void {
    this.done = true;
    if (this.fd !== null && typeof this.file !== "number") (require("node:fs") as typeof import("node:fs")).closeSync(this.fd);
    this.fd = null;
  }
}

/** Chunks from an async iterable (a pipe's stream, a Blob's, a generator), packed into the reader's buffers. */
export function iterableSource(chunks: AsyncIterable<Uint8Array>, size?: number): ValueSource {
  const it = chunks[Symbol.asyncIterator]();
  let rest: Uint8Array | null = null;
  let done = false;
  return {
    size,
    async read(into) {
      let n = 0;
      while (n < into.length && !done) {
        if (!rest || rest.length === 0) {
          // Hand back what we have rather than wait for more: the caller decides.
          if (n > 0) break;
          const r = await it.next();
          if (r.done) {
            done = true;
            break;
          }
          rest = r.value;
          continue;
        }
        const take = Math.min(into.length - n, rest.length);
        into.set(rest.subarray(0, take), n);
        rest = rest.subarray(take);
        n += take;
      }
      return n;
    },
    close() {
      done = true;
      it.return?.().catch(() => {});
    },
  };
}

export type SourceLike = Uint8Array | string | Blob | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | ValueSource;

const encoder = new TextEncoder();

export function isValueSource(x: unknown): x is ValueSource {
  return typeof x === "object" && x !== null && typeof (x as ValueSource).read === "function" && typeof (x as ValueSource).close === "function";
}

/** Whatever a library caller hands to copy() or put(), as a source. */
export function toSource(x: SourceLike): ValueSource {
  if (x instanceof Uint8Array) return bytesSource(x);
  if (typeof x === "string") return bytesSource(encoder.encode(x));
  // A file Blob of a fifo or a device says Infinity: its size is not known.
  if (x instanceof Blob) return iterableSource(x.stream() as unknown as AsyncIterable<Uint8Array>, Number.isFinite(x.size) ? x.size : undefined);
  if (isValueSource(x)) return x;
  if (typeof (x as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === "function") return iterableSource(x as AsyncIterable<Uint8Array>);
  throw new ClipError("USAGE", "a value is bytes, a string, a Blob, a stream of Uint8Array or a ValueSource");
}

export interface Filled {
  n: number;
  ended: boolean;
}

/**
 * Reads into `into` until it is full or the source ends. Synchronous while
 * the source answers synchronously (a file, bytes in memory): senders rely on
 * that to check for room and send with no await in between. A source that
 * answers with a promise (a pipe, a value still arriving) makes it a promise.
 */
export function fill(source: ValueSource, into: Uint8Array, n = 0): Filled | Promise<Filled> {
  while (n < into.length) {
    const r = source.read(n === 0 ? into : into.subarray(n));
    if (typeof r !== "number") return r.then((k) => (k === 0 ? { n, ended: true } : fill(source, into, n + k)));
    if (r === 0) return { n, ended: true };
    n += r;
  }
  return { n, ended: false };
}

/**
 * stdin when it is a regular file (`< FILE`), read from where it stands: a
 * shell's `read` before us may have taken its first line, and those bytes are
 * not ours. The size left is announced when the offset can be known (Linux's
 * /proc); elsewhere the file is read to its end with no size announced. Null
 * when stdin is not a regular file (a pipe, a terminal: those stream).
 */
export function stdinFile(): FileSource | null {
  const fs = require("node:fs") as typeof import("node:fs");
  const st = fs.fstatSync(0);
  if (!st.isFile()) return null;
  let pos: number | undefined;
  try {
    const m = /^pos:\s*([0-9]+)/m.exec(fs.readFileSync("/proc/self/fdinfo/0", "utf8"));
    if (m) pos = Number(m[1]);
  } catch {} // no /proc: size unknown
  return new FileSource(0, pos === undefined ? undefined : Math.max(0, st.size - pos));
}
