// Values handed over by path, the client's side (the server's is
// server/handoff.ts, which says why it is safe). Over the server's unix
// socket a large regular file is named rather than sent (`from`), and a
// paste to stdout may take the value's file and copy it there itself, with
// sendfile. Each side checks the file it opens against the device, inode and
// size the other described, and falls back to the bytes on the socket when
// anything differs, so a handoff is only ever a faster way to the same bytes.
//
// A pipe is not named (the server could open it as /proc/PID/fd/0): Bun's
// pipe reader in the server cost as much as the socket hop it saved
// (measured within ±10% of streaming, 1 GiB), for more machinery.
//
// CLIP_HANDOFF=0 turns it off (tests run both paths).
//
// Loaded only where a handoff may happen: node:fs costs start-up time that a
// small paste must not pay.

import type { BigIntStats } from "node:fs";
import { SEAL_MAGIC, isSealed } from "../crypto/magic.ts";
import { ClipError } from "../protocol/errors.ts";
import { FileSource, type ValueSource } from "./source.ts";

/** A file as the server will check it: device and inode in decimal (64-bit: strings, not numbers). */
export interface FileRef {
  path: string;
  dev: string;
  ino: string;
  size: number;
}

/** Below this, the bytes on the socket cost less than the server's open, stat and thread-pool turns. */
export const HANDOFF_MIN = 1 << 20;

/** Whether a source may go by path at all (then describeFile decides): a large regular file. */
export const mayGoByPath = (source: ValueSource): boolean => source instanceof FileSource && source.size !== undefined && source.size >= HANDOFF_MIN;

export const handoffWanted = (): boolean => process.env.CLIP_HANDOFF !== "0";

const fs = () => require("node:fs") as typeof import("node:fs");

/**
 * The regular file behind a source, described for the server; null when it
 * cannot go by path: not a FileSource, small, not read from its start (stdin
 * after a `read`), deleted, or not what it was when its size was taken.
 */
export function describeFile(source: ValueSource): FileRef | null {
  if (!mayGoByPath(source)) return null;
  try {
    const { readFileSync, readlinkSync, statSync, fstatSync } = fs();
    if (!(source instanceof FileSource) || source.size === undefined) return null;
    let path: string;
    let st: BigIntStats;
    if (typeof source.file === "number") {
      // An open fd (stdin from a file): its name, if it still has one, and only from its start.
      const pos = /^pos:\s*([0-9]+)/m.exec(readFileSync(`/proc/self/fdinfo/${source.file}`, "utf8"));
      if (!pos || pos[1] !== "0") return null;
      path = readlinkSync(`/proc/self/fd/${source.file}`);
      st = fstatSync(source.file, { bigint: true });
    } else {
      path = (require("node:path") as typeof import("node:path")).resolve(source.file);
      st = statSync(path, { bigint: true });
    }
    // A deleted file (a memfd, a temp file unlinked) has no name the server could open.
    if (!path.startsWith("/") || path.endsWith(" (deleted)") || !st.isFile() || st.size !== BigInt(source.size)) return null;
    return { path, dev: String(st.dev), ino: String(st.ino), size: source.size };
  } catch {
    return null;
  }
}

/**
 * Opens the file a reply named (`file: {path, dev, ino}`) and checks it is
 * that value's file, `size` bytes long; its fd, or null when the bytes must
 * come the ordinary way (replaced and unlinked meanwhile, another view of
 * the filesystem, no permission).
 */
export function openNamed(raw: unknown, size: unknown): number | null {
  const r = raw as Record<string, unknown> | null;
  if (!r || typeof r !== "object" || typeof r.path !== "string" || typeof r.dev !== "string" || typeof r.ino !== "string" || typeof size !== "number") return null;
  const { openSync, fstatSync, closeSync, constants } = fs();
  let fd: number;
  try {
    fd = openSync(r.path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch {
    return null;
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    if (st.isFile() && String(st.dev) === r.dev && String(st.ino) === r.ino && st.size === BigInt(size)) return fd;
  } catch {}
  closeSync(fd);
  return null;
}

/**
 * Copies a value's file (an fd from openNamed, at its start) to stdout:
 * sendfile or copy_file_range where the kernel can. Bun's copy_file_range
 * fails on a file opened to append (`>>`), so that one is copied by hand.
 */
export async function fileToStdout(fd: number, size: number): Promise<void> {
  const { closeSync, fstatSync, readFileSync, readSync, writeSync } = fs();
  try {
    if (fstatSync(1).isFile() && appending(readFileSync)) {
      const buf = new Uint8Array(Math.min(size, 1 << 20));
      for (let pos = 0; pos < size; ) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
        if (n === 0) throw new ClipError("INTERNAL", `the value's file ended after ${pos} of its ${size} bytes`);
        for (let o = 0; o < n; ) o += writeSync(1, buf, o, n - o);
        pos += n;
      }
      return;
    }
    const n = await Bun.write(Bun.stdout, Bun.file(fd));
    if (n !== size) throw new ClipError("INTERNAL", `wrote ${n} of the value's ${size} bytes`);
  } finally {
    closeSync(fd);
  }
}

/** Whether stdout was opened with O_APPEND (Linux's fdinfo; where there is none, assume so: the loop is always right). */
function appending(read: (p: string, e: "utf8") => string): boolean {
  try {
    const m = /^flags:\s*([0-7]+)/m.exec(read("/proc/self/fdinfo/1", "utf8"));
    return !m || (parseInt(m[1], 8) & 0o2000) !== 0;
  } catch {
    return true;
  }
}

/** A reply that named its value's file (`file`, `size`): copied to stdout; false when that file cannot be used (then ask for the bytes). */
export async function namedToStdout(meta: Record<string, unknown>): Promise<boolean> {
  const fd = openNamed(meta.file, meta.size);
  if (fd === null) return false;
  // A sealed value (whatever the server said of it: the bytes decide) is opened on the way, as bytes.
  const head = new Uint8Array(SEAL_MAGIC.length);
  const { closeSync, readSync } = fs();
  if (readSync(fd, head, 0, head.length, 0) === head.length && isSealed(head)) {
    closeSync(fd);
    return false;
  }
  await fileToStdout(fd, meta.size as number);
  return true;
}
