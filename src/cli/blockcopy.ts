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
import { FrameDecoder, FrameType, HEADER_SIZE, MAX_CHUNK, encodeFrame, writeHeader } from "../protocol/frame.ts";
import { decode, helloAnd } from "./quickpaste.ts";

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
    const first = helloAnd(encodeFrame(FrameType.REQ, 2, { op: "copy", r, size }, new Uint8Array(0), false));
    sock.send(first, 0, first.length);
    const buf = new Uint8Array(HEADER_SIZE + MAX_CHUNK);
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
  const decoder = new FrameDecoder();
  const buf = new Uint8Array(64 << 10);
  while (true) {
    for (const f of decode(decoder, buf.subarray(0, sock.read(buf, 0)))) {
      if (f.type === FrameType.ERR) throw ClipError.fromWire(f.meta);
      if (f.id === 2 && f.type === FrameType.RES) return;
    }
  }
}
