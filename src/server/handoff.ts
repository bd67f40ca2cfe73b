// Values handed over by path, on a unix socket, the server's side. A client
// on this machine need not push a large file's bytes through the socket:
// its request names the file (`from`: path, device, inode, size) and the
// server reads it itself; a paste may ask (`file: true`) for the value's
// file, which the client then copies to its stdout with sendfile. Both move
// each byte once instead of four times, and the client's event loop and
// ours never touch them.
//
// Why this is safe: the unix socket is 0600, so the peer runs as our user
// (or root) and could read any file we can; we open what it names with its
// rights and ours alike, never follow a name a TCP peer sends, and check
// after opening that the file is the one described (device and inode: a
// container with another view of the filesystem, or a file swapped since,
// does not match) and regular (a fifo or a device is refused, and opened
// non-blocking so a fifo cannot hang us). Whatever does not match is
// answered NOTFOUND, and the client sends the bytes the ordinary way.
//
// The copy runs on Bun's thread pool, chunk by chunk (a chunk is read while
// the one before is written), into the upload's stage as if the chunks had
// come from the socket: the stage is readable while it fills (a parent
// reads it as it grows), a CANCEL or a closed connection aborts it, and the
// event loop keeps serving other clients.

import { close, fstat, open, constants as fsc, read, statSync } from "node:fs";
import { ClipError } from "../protocol/errors.ts";
import type { Stage, Value } from "./values.ts";

/** A file as a client describes it: device and inode in decimal (64-bit: strings, not numbers). */
export interface FileRef {
  path: string;
  dev: string;
  ino: string;
  size: number;
}

/** Off with CLIP_HANDOFF=0 (tests run both paths; a server can refuse it outright). */
export const handoffOn = (): boolean => process.env.CLIP_HANDOFF !== "0";

/** Values taken and handed out by path in this process (`clip status`: tests and users can tell which way a value went). */
const counts = { in: 0, out: 0 };

export function handoffStatus(): { handoffs: { in: number; out: number } } {
  return { handoffs: { ...counts } };
}

/** Bytes read per turn of the thread pool: large enough that the hop costs nothing, small enough to stream on. */
const CHUNK = 4 << 20;

export function parseFileRef(raw: unknown): FileRef {
  const bad = (why: string) => new ClipError("PROTOCOL", `bad file handoff: ${why}`);
  if (!raw || typeof raw !== "object") throw bad("not an object");
  const r = raw as Record<string, unknown>;
  if (typeof r.path !== "string" || !r.path.startsWith("/") || r.path.length > 4096 || r.path.includes("\0")) throw bad("path");
  if (typeof r.dev !== "string" || !/^[0-9]{1,20}$/.test(r.dev)) throw bad("dev");
  if (typeof r.ino !== "string" || !/^[0-9]{1,20}$/.test(r.ino)) throw bad("ino");
  if (typeof r.size !== "number" || !Number.isSafeInteger(r.size) || r.size < 0) throw bad("size");
  return { path: r.path, dev: r.dev, ino: r.ino, size: r.size };
}

const notThere = (ref: FileRef, why: string) => new ClipError("NOTFOUND", `cannot take ${ref.path} by path: ${why}; send its bytes`);

const call = <T>(f: (cb: (e: NodeJS.ErrnoException | null, v: T) => void) => void) =>
  new Promise<T>((resolve, reject) => f((e, v) => (e ? reject(e) : resolve(v))));

/** Opens the file a client described and checks it is that file; its fd. */
async function openChecked(ref: FileRef): Promise<number> {
  let fd: number;
  try {
    fd = await call<number>((cb) => open(ref.path, fsc.O_RDONLY | fsc.O_NONBLOCK | fsc.O_NOCTTY, cb));
  } catch (e) {
    throw notThere(ref, (e as NodeJS.ErrnoException).code ?? String(e));
  }
  try {
    const st = await call<import("node:fs").BigIntStats>((cb) => fstat(fd, { bigint: true }, cb));
    if (!st.isFile()) throw notThere(ref, "not a regular file");
    if (String(st.dev) !== ref.dev || String(st.ino) !== ref.ino) throw notThere(ref, "another file than the one described (another filesystem view, or replaced)");
    if (st.size !== BigInt(ref.size)) throw notThere(ref, `its size is ${st.size}, not ${ref.size}`);
    return fd;
  } catch (e) {
    close(fd, () => {});
    throw e;
  }
}

/** Where a value taken by path goes: the upload's stage, and the session's ways to end it. */
export interface Taker {
  readonly stage: Stage;
  /** Still wanted (not cancelled or failed, the connection still there). */
  alive(): boolean;
  /** The last byte is in: commit, as a FIN frame would. False if that failed (the client was told). */
  finish(): boolean;
  /** Ends the upload with an error the client is told. */
  fail(err: ClipError): void;
}

/**
 * Reads a described file into an upload: a chunk is read while the one
 * before it is written to the stage, both off the event loop.
 */
export async function takeFile(raw: unknown, t: Taker): Promise<void> {
  let ref: FileRef;
  let fd: number;
  try {
    ref = parseFileRef(raw);
    fd = await openChecked(ref);
  } catch (e) {
    t.fail(e instanceof ClipError ? e : new ClipError("INTERNAL", String(e)));
    return;
  }
  // The write in flight; its failure (over --max-size, the disk) is the upload's.
  let writing: Promise<void> = Promise.resolve();
  const write = (chunk: Uint8Array) => {
    writing = t.stage.writeAsync(chunk);
    writing.catch(() => {});
  };
  try {
    const size = ref.size;
    // Two buffers: one being written while the other is read into.
    const len = Math.min(CHUNK, Math.max(size, 1));
    const bufs = [new Uint8Array(len), new Uint8Array(len)];
    for (let pos = 0, k = 0; pos < size; k++) {
      const buf = bufs[k & 1];
      const n = await call<number>((cb) => read(fd, buf, 0, Math.min(buf.length, size - pos), pos, cb));
      await writing;
      if (!t.alive()) return;
      if (n === 0) throw new ClipError("PROTOCOL", `${ref.path} ended after ${pos} of its ${size} bytes (did it shrink while it was read?)`);
      pos += n;
      write(buf.subarray(0, n));
    }
    await writing;
    if (!t.alive() || !t.finish()) return;
    counts.in++;
  } catch (e) {
    if (t.alive()) t.fail(e instanceof ClipError ? e : new ClipError("INTERNAL", `reading ${ref.path}: ${(e as Error).message}`));
  } finally {
    await writing.catch(() => {});
    close(fd, () => {});
  }
}

/**
 * What a reply says in place of a value's bytes when the client asked for
 * its file (`file: true`) on a unix socket and the value is in one: where
 * it is, which file it is, and its size; null: send the bytes.
 */
export function fileOf(value: Value | null | undefined): { path: string; dev: string; ino: string } | null {
  if (!value?.file || !handoffOn()) return null;
  try {
    const st = statSync(value.file, { bigint: true });
    counts.out++;
    return { path: value.file, dev: String(st.dev), ino: String(st.ino) };
  } catch {
    return null; // gone already: the stream path reports it
  }
}

/** What replyValue needs of a request (a structural slice of session.ts's Request, which imports this file). */
interface Replier {
  readonly meta: Record<string, unknown>;
  readonly session: { readonly transport: string };
  reply(m: object, v?: Value | null): Promise<void>;
}

/** Replies with a value: by path when the client asked for that and may have it (see fileOf), else its bytes. */
export function replyValue(ctx: Replier, meta: object, value: Value | null): Promise<void> {
  const file = ctx.meta.file === true && ctx.session.transport === "unix" ? fileOf(value) : null;
  return file ? ctx.reply({ ...meta, file }) : ctx.reply(meta, value);
}
