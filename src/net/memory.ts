// Two Conns joined in memory: what one side sends, the other receives. Each
// side is a real SocketConn over a fake socket whose "kernel buffer" holds at
// most KERNEL_BYTES, delivered a macrotask later, so queueing, coalescing,
// drained(), pause() and close behave as on a socket. The server core, the
// client and the tree run on it in unit tests, with no socket and no binary.

import type { Conn } from "./conn.ts";
import { type QueueLimits, type RawSocket, SocketConn, DEFAULT_LIMITS } from "./conn.ts";

/** What a socket's kernel buffers would hold between the two ends. */
const KERNEL_BYTES = 256 << 10;

class MemorySocket implements RawSocket {
  peer!: MemorySocket;
  conn!: SocketConn;
  private inbox: Uint8Array[] = [];
  private inboxBytes = 0;
  private paused = false;
  private scheduled = false;
  /** Our write() found the peer's buffer full: tell our conn when it has room. */
  private wantsDrain = false;
  /** The peer ended: after what is in our inbox, we see the close. */
  private peerEnded = false;
  private ended = false;
  private closedSeen = false;

  write(data: Uint8Array): number {
    if (this.ended || this.peer.closedSeen) return -1;
    const room = KERNEL_BYTES - this.peer.inboxBytes;
    if (room <= 0) {
      this.wantsDrain = true;
      return 0;
    }
    const n = Math.min(room, data.length);
    // A copy: the sender may reuse its buffer once write() says the bytes are taken.
    this.peer.inbox.push(data.slice(0, n));
    this.peer.inboxBytes += n;
    this.peer.schedule();
    if (n < data.length) this.wantsDrain = true;
    return n;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.peer.peerEnded = true;
    this.peer.schedule();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.deliver());
  }

  private deliver(): void {
    this.scheduled = false;
    if (this.closedSeen) return;
    while (!this.paused && this.inbox.length > 0) {
      const chunk = this.inbox.shift()!;
      this.inboxBytes -= chunk.length;
      this.conn.onData(chunk);
      if (this.closedSeen) return;
    }
    if (this.peer.wantsDrain && this.inboxBytes < KERNEL_BYTES) {
      this.peer.wantsDrain = false;
      this.peer.conn.onDrain();
    }
    if (this.peerEnded && this.inbox.length === 0) {
      this.closedSeen = true;
      this.conn.onClose();
    }
  }
}

export interface MemoryPairOptions {
  /** What each side reports as its transport (admin rights and token proofs depend on it). */
  transport?: Conn["transport"];
  limits?: QueueLimits;
}

/** A connected pair: [the dialing side, the accepting side]. Attach handlers before data flows. */
export function memoryPair(opts: MemoryPairOptions = {}): [SocketConn, SocketConn] {
  const a = new MemorySocket();
  const b = new MemorySocket();
  a.peer = b;
  b.peer = a;
  const transport = opts.transport ?? "memory";
  a.conn = new SocketConn(a, transport, "memory:a", opts.limits ?? DEFAULT_LIMITS);
  b.conn = new SocketConn(b, transport, "memory:b", opts.limits ?? DEFAULT_LIMITS);
  return [a.conn, b.conn];
}
