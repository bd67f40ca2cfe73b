// Frame buffers for streaming a large value over one Conn, reused once the
// kernel has taken them. Touching fresh memory (zeroing, page faults) for
// every 1 MiB frame cost more than the copy into the socket; a handful of
// buffers in rotation keeps the working set small and warm.
//
// A buffer is free again when every byte of it has left our queue. Queues
// are FIFO, so if any byte of a buffer were still queued, every byte sent
// after it would be queued too: `queued <= bytes we sent after it` proves
// it is gone (bytes of other streams only make the test stricter).

import type { Conn } from "./conn.ts";

export class FramePool {
  private readonly free: Uint8Array[] = [];
  /** Buffers handed to the Conn, oldest first, with the send counter just after each. */
  private readonly inFlight: { buf: Uint8Array; end: number }[] = [];
  private sent = 0;

  constructor(
    private readonly conn: Conn,
    /** Bytes per buffer (header + payload). */
    readonly size: number,
    /** Buffers in flight before take() waits for the oldest to leave. */
    private readonly max = 6,
  ) {}

  /** A buffer at once, or null when `max` are still queued (then take() waits for one). */
  takeNow(): Uint8Array | null {
    this.reclaim();
    if (this.free.length === 0 && this.inFlight.length >= this.max) return null;
    return this.free.pop() ?? new Uint8Array(this.size);
  }

  /** A buffer to fill; waits (backpressure) while `max` are still queued. */
  async take(): Promise<Uint8Array> {
    this.reclaim();
    if (this.free.length === 0 && this.inFlight.length >= this.max) {
      await this.conn.drained(this.sent - this.inFlight[0].end);
      this.reclaim();
    }
    return this.free.pop() ?? new Uint8Array(this.size);
  }

  /** Sends the first `len` bytes of a buffer from take(); false if the connection is closed. */
  send(buf: Uint8Array, len: number): boolean {
    const ok = this.conn.send(len === buf.length ? buf : buf.subarray(0, len));
    this.sent += len;
    if (ok) this.inFlight.push({ buf, end: this.sent });
    return ok;
  }

  private reclaim(): void {
    const queued = this.conn.queued;
    while (this.inFlight.length > 0 && queued <= this.sent - this.inFlight[0].end) this.free.push(this.inFlight.shift()!.buf);
  }
}
