// Blocking unix-socket I/O through libc (bun:ffi), for the CLI's large
// transfers (cli/quickpaste.ts, cli/blockcopy.ts). A Bun socket reads into its own
// buffer and copies each ~200 KiB read into a fresh JS buffer, and writes
// what the kernel takes, then waits for an event-loop turn to write more; a
// blocking read or write of a whole 1 MiB frame lets the kernel stream, as
// socat does. Linux with glibc only: anywhere else open() is null and the
// callers keep Bun's sockets. Loading costs ~0.5 ms, so small transfers
// never come here.

import type { Pointer } from "bun:ffi";
import { ClipError } from "../protocol/errors.ts";

// Required, not imported: the bundler hoists a static import of bun:ffi into
// the chunk every command loads, and loading it costs ~0.16 ms of a cold paste.
const { FFIType, dlopen, ptr, read: peek } = require("bun:ffi") as typeof import("bun:ffi");

const LIBC = {
  socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  connect: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  read: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
  write: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
  send: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
  setsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  poll: { args: [FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i32 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
  __errno_location: { args: [], returns: FFIType.ptr },
} as const;

const AF_UNIX = 1;
const SOCK_STREAM_CLOEXEC = 1 | 0o2000000;
const EINTR = 4;
const EAGAIN = 11;
const EPIPE = 32;
const POLLOUT = 4;
const SOL_SOCKET = 1;
const SO_SNDBUF = 7;
/** A closed peer is an error to report (LOST), not a SIGPIPE that kills the process. */
const MSG_NOSIGNAL = 0x4000;

/** A connected unix socket with blocking calls; `buf` is the caller's to fill and send from. */
export class BlockingSocket {
  private constructor(
    private readonly c: ReturnType<typeof dlopen<typeof LIBC>>["symbols"],
    readonly fd: number,
    private readonly where: string,
  ) {}

  /**
   * Connects to `path`; null when libc or the socket is not to be had (the
   * caller uses Bun's sockets). `sndbuf` asks for a larger send buffer (the
   * kernel caps it at net.core.wmem_max): on a unix socket the sender's
   * buffer bounds the bytes in flight, ~208 KiB by default.
   */
  static open(path: string, where: string, sndbuf = 0): BlockingSocket | null {
    if (process.platform !== "linux") return null;
    let c;
    try {
      c = dlopen("libc.so.6", LIBC).symbols;
    } catch {
      return null; // not glibc (musl names it otherwise)
    }
    const pathBytes = new TextEncoder().encode(path);
    if (pathBytes.length > 107) return null;
    const addr = new Uint8Array(110);
    addr[0] = AF_UNIX; // sa_family_t, little-endian on every Linux Bun runs on
    addr.set(pathBytes, 2);
    const fd = c.socket(AF_UNIX, SOCK_STREAM_CLOEXEC, 0);
    if (fd < 0) return null;
    if (sndbuf > 0) c.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, new Int32Array([sndbuf]), 4); // best effort

    if (c.connect(fd, addr, 2 + pathBytes.length + 1) !== 0) {
      c.close(fd);
      return null;
    }
    return new BlockingSocket(c, fd, where);
  }

  private errno(): number {
    return peek.i32(this.c.__errno_location()!, 0);
  }

  lost(): ClipError {
    return new ClipError("LOST", `connection to ${this.where} was lost`);
  }

  /** Reads into buf[at..]; the count (> 0). Throws LOST at the end or on an error. */
  read(buf: Uint8Array, at: number): number {
    const base = ptr(buf);
    while (true) {
      const r = Number(this.c.read(this.fd, (base + at) as Pointer, buf.length - at));
      if (r > 0) return r;
      if (r < 0 && this.errno() === EINTR) continue;
      throw this.lost();
    }
  }

  /** Writes buf[at..at+n] to the socket. */
  send(buf: Uint8Array, at: number, n: number): void {
    this.writeAll(this.fd, buf, at, n);
  }

  /** Writes buf[at..at+n] to stdout (fd 1), waiting when it is a full non-blocking pipe. */
  stdout(buf: Uint8Array, at: number, n: number): void {
    this.writeAll(1, buf, at, n);
  }

  private writeAll(to: number, buf: Uint8Array, at: number, n: number): void {
    const base = ptr(buf);
    let done = 0;
    while (done < n) {
      const p = (base + at + done) as Pointer;
      const w = Number(to === 1 ? this.c.write(to, p, n - done) : this.c.send(to, p, n - done, MSG_NOSIGNAL));
      if (w >= 0) {
        done += w;
        continue;
      }
      const e = this.errno();
      if (e === EINTR) continue;
      if (e === EAGAIN) {
        this.c.poll(new Int32Array([to, POLLOUT]), 1, -1);
        continue;
      }
      if (to !== 1) throw this.lost();
      throw Object.assign(new Error(e === EPIPE ? "broken pipe" : `cannot write to stdout (errno ${e})`), { code: e === EPIPE ? "EPIPE" : "EIO" });
    }
  }

  close(): void {
    this.c.close(this.fd);
  }
}
