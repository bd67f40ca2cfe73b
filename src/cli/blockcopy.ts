// `clip copy N FILE` (or `< FILE`) of a large regular file over a unix
// socket, with blocking libc calls (../net/libc.ts) on a socket whose send
// buffer is raised to 4 MiB (SO_SNDBUF, which a Bun socket cannot set): each
// 1 MiB DATA frame is read from the file into one buffer behind its header
// and written whole, and the server's reads find up to its 512 KiB read size
// waiting instead of the ~208 KiB a default unix socket holds. 1 GiB copy:
// 801-829 ms with the Client, 776-852 ms blocking with the default buffer,
// 663-696 ms with 4 MiB (same run, socat 440 ms). Same frames as
// Client.upload (hello, REQ copy with the size, DATA frames, FIN on the last);
// the reply is read the same way. Anything else (TCP, a small file, no glibc)
// takes the Client.

import { clientAddress, formatAddress } from "../net/address.ts";
import { BlockingSocket } from "../net/libc.ts";
import { ClipError } from "../protocol/errors.ts";
import { FrameType, HEADER_SIZE, MAX_CHUNK, MAX_FRAME, PROTOCOL_VERSION, encodeFrame, writeHeader } from "../protocol/frame.ts";

/** Files from this size go this way: below it, loading bun:ffi (~0.5 ms) is not paid back. */
export const BLOCKING_MIN = 16 << 20;
/** Asked for; Linux grants up to net.core.wmem_max (4 MiB here, 208 KiB on some systems: then it is as fast as the Client). */
const SNDBUF = 4 << 20;

/**
 * Uploads `size` bytes of `fd` as region `r`; false (nothing sent) when this
 * path does not apply here and the caller should use the Client.
 */
export function blockingCopy(r: number, fd: number, size: number, server: string | undefined, onProgress: (n: number) => void): boolean {
  if (size < BLOCKING_MIN) return false;
  const addr = clientAddress(server);
  if (addr.kind !== "unix") return false;
  const sock = BlockingSocket.open(addr.path, formatAddress(addr), SNDBUF);
  if (!sock) return false;
  try {
    const hello = encodeFrame(FrameType.REQ, 1, { op: "hello", v: PROTOCOL_VERSION, kind: "cli", pid: process.pid });
    const req = encodeFrame(FrameType.REQ, 2, { op: "copy", r, size }, new Uint8Array(0), false);
    const buf = new Uint8Array(HEADER_SIZE + MAX_CHUNK);
    buf.set(hello);
    buf.set(req, hello.length);
    sock.send(buf, 0, hello.length + req.length);
    // Required here: a static node:fs import would be hoisted into the chunk every command loads.
    const { readSync } = require("node:fs") as typeof import("node:fs");
    let sent = 0;
    while (true) {
      // The announced size and no more, even if the file grows meanwhile; less ends the value early.
      const want = Math.min(MAX_CHUNK, size - sent);
      let n = 0;
      while (n < want) {
        const got = readSync(fd, buf, HEADER_SIZE + n, want - n, null);
        if (got === 0) break;
        n += got;
      }
      const fin = n < want || sent + n >= size;
      writeHeader(buf, FrameType.DATA, 2, 0, n, fin);
      sock.send(buf, 0, HEADER_SIZE + n);
      sent += n;
      onProgress(sent);
      if (fin) break;
    }
    readReply(sock);
    return true;
  } finally {
    sock.close();
  }
}

/** Reads frames until the copy's reply (id 2): RES returns, ERR throws. */
function readReply(sock: BlockingSocket): void {
  let buf = new Uint8Array(64 << 10);
  let have = 0;
  while (true) {
    if (have === buf.length) {
      const bigger = new Uint8Array(buf.length * 2);
      bigger.set(buf);
      buf = bigger;
    }
    have += sock.read(buf, have);
    let off = 0;
    while (have - off >= HEADER_SIZE) {
      const total = (((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0) + 4;
      const type = buf[off + 4];
      const id = ((buf[off + 6] << 24) | (buf[off + 7] << 16) | (buf[off + 8] << 8) | buf[off + 9]) >>> 0;
      const metaLen = (buf[off + 10] << 8) | buf[off + 11];
      if (total < HEADER_SIZE || total > MAX_FRAME || metaLen > total - HEADER_SIZE) throw new ClipError("PROTOCOL", "the server sent bytes that are not clip's protocol");
      if (have - off < total) break;
      if (type === FrameType.ERR || (id === 2 && type === FrameType.RES)) {
        let meta: Record<string, unknown> = {};
        try {
          meta = JSON.parse(new TextDecoder().decode(buf.subarray(off + HEADER_SIZE, off + HEADER_SIZE + metaLen)));
        } catch {
          throw new ClipError("PROTOCOL", "the server sent bytes that are not clip's protocol: bad meta");
        }
        if (type === FrameType.ERR) throw ClipError.fromWire(meta);
        return;
      }
      off += total;
    }
    if (off > 0) {
      buf.copyWithin(0, off, have);
      have -= off;
    }
  }
}
