// The one interface the server core and the client see of a connection.
// Bun's sockets write what the kernel takes and return the count; the rest
// is ours to queue. The queue is bounded: a peer that stops reading is cut
// off (SLOW) rather than growing our memory.

export interface ConnHandler {
  /** Bytes arrived. Replies sent during this call are coalesced into one write. */
  data(chunk: Uint8Array): void;
  /** The connection is gone (peer closed, error, or close() called). Called once. */
  closed(reason: CloseReason): void;
}

/** Why a connection closed. */
export type CloseReason =
  | "peer" // the other side closed or the socket failed
  | "local" // we called close()
  | "slow" // our outbound queue passed its hard limit
  | "protocol" // the peer sent bytes that are not our protocol
  | "timeout"; // a deadline (handshake, idle) passed

export interface Conn {
  readonly transport: "unix" | "tcp" | "memory";
  /** Human-readable peer address, for logs and `clip apps`. */
  readonly remote: string;
  /** Queues a frame; returns false if the connection is closed (the frame is dropped). */
  send(frame: Uint8Array): boolean;
  /** Bytes accepted by send() but not yet taken by the kernel. */
  readonly queued: number;
  /**
   * Resolves once at most `below` bytes are queued (default: the low-water
   * mark), at once if that is so already, or when the connection closes.
   */
  drained(below?: number): Promise<void>;
  /** Stop reading: the peer sees TCP backpressure. */
  pause(): void;
  resume(): void;
  close(reason?: CloseReason): void;
  readonly isClosed: boolean;
}

export interface QueueLimits {
  /** drained() waits until queued bytes fall to this. */
  lowWater: number;
  /** Past this, the connection is closed as "slow". */
  hardLimit: number;
}

export const DEFAULT_LIMITS: QueueLimits = { lowWater: 4 << 20, hardLimit: 64 << 20 };

/** Counts a listener's bytes (the server's metrics); one add per read and per write, nothing else. */
export interface ByteMeter {
  readonly received: { inc(n: number): void };
  readonly sent: { inc(n: number): void };
}

/** What a Bun socket gives us; the listener and the dialer both produce it (node.ts makes one of a Node socket). */
export interface RawSocket {
  /** Bytes taken (the rest stays queued until onDrain), or -1 when the socket is gone. */
  write(data: Uint8Array): number;
  /**
   * Bytes write() took that the kernel has not (Node buffers a write; Bun
   * never does). Counted in `queued`: a sender reuses a frame's buffer once
   * `queued` says it left (net/pool.ts), so it must not have left only ours.
   */
  readonly pendingBytes?: number;
  end(): void;
  pause?(): void;
  resume?(): void;
}

/**
 * A Conn over a Bun socket (or a Node one made to look like it, node.ts).
 * The adapters (listen.ts, dial.ts, node.ts) forward the socket's callbacks
 * to onData/onDrain/onClose.
 */
export class SocketConn implements Conn {
  handler: ConnHandler | null = null;
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private corked = false;
  private flushQueued = false;
  private closedFlag = false;
  private waiters: { below: number; wake: () => void }[] = [];

  constructor(
    private readonly socket: RawSocket,
    readonly transport: Conn["transport"],
    readonly remote: string,
    private readonly limits: QueueLimits = DEFAULT_LIMITS,
    private readonly meter?: ByteMeter,
  ) {}

  get queued(): number {
    return this.queuedBytes + (this.socket.pendingBytes ?? 0);
  }

  get isClosed(): boolean {
    return this.closedFlag;
  }

  send(frame: Uint8Array): boolean {
    if (this.closedFlag) return false;
    const queued = this.queued;
    if (queued + frame.length > this.limits.hardLimit && queued > 0) {
      this.close("slow");
      return false;
    }
    this.queue.push(frame);
    this.queuedBytes += frame.length;
    this.scheduleFlush();
    return true;
  }

  /**
   * Writes on a microtask rather than at once: the frames sent in one run of
   * the event loop (replies that finish after an await, 16 pipelined
   * requests, CANCELs) leave in one coalesced write instead of one syscall
   * each, and still before the loop waits for I/O again.
   */
  private scheduleFlush(): void {
    if (this.corked || this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(this.flushTask);
  }

  private readonly flushTask = () => {
    this.flushQueued = false;
    if (!this.closedFlag && !this.corked) this.flush();
  };

  drained(below = this.limits.lowWater): Promise<void> {
    if (this.closedFlag || this.queued <= below) return Promise.resolve();
    return new Promise((wake) => this.waiters.push({ below, wake }));
  }

  pause(): void {
    this.socket.pause?.();
  }

  resume(): void {
    this.socket.resume?.();
  }

  close(reason: CloseReason = "local"): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    // Give queued frames (an ERR saying why, say) one chance to leave.
    if (this.queue.length > 0 && reason !== "slow") this.writeOut();
    try {
      this.socket.end();
    } catch {}
    this.finish(reason);
  }

  // --- called by the Bun adapters ---

  onData(chunk: Uint8Array): void {
    this.meter?.received.inc(chunk.length);
    if (this.closedFlag || !this.handler) return;
    this.corked = true;
    try {
      this.handler.data(chunk);
    } finally {
      // Replies sent before the flush runs (at once, or one resolved await
      // deep, as a kv.get) join this write; deeper ones the next, same tick.
      this.corked = false;
      if (!this.closedFlag && this.queue.length > 0) this.scheduleFlush();
    }
  }

  onDrain(): void {
    this.flush();
  }

  onClose(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.finish("peer");
  }

  private finish(reason: CloseReason): void {
    this.queue = [];
    this.queuedBytes = 0;
    this.wakeWaiters();
    const h = this.handler;
    this.handler = null;
    h?.closed(reason);
  }

  private flush(): void {
    if (this.queue.length > 1) this.coalesce();
    this.writeOut();
    this.wakeWaiters();
  }

  /** Joins small queued frames so one read's replies leave in one write. */
  private coalesce(): void {
    const SMALL = 64 << 10;
    const out: Uint8Array[] = [];
    let run: Uint8Array[] = [];
    let runBytes = 0;
    const endRun = () => {
      if (run.length === 1) out.push(run[0]);
      else if (run.length > 1) {
        const joined = new Uint8Array(runBytes);
        let o = 0;
        for (const f of run) {
          joined.set(f, o);
          o += f.length;
        }
        out.push(joined);
      }
      run = [];
      runBytes = 0;
    };
    for (const f of this.queue) {
      if (f.length >= SMALL || runBytes + f.length > SMALL) endRun();
      if (f.length >= SMALL) out.push(f);
      else {
        run.push(f);
        runBytes += f.length;
      }
    }
    endRun();
    this.queue = out;
  }

  private writeOut(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0];
      let n: number;
      try {
        n = this.socket.write(head);
      } catch {
        n = -1;
      }
      if (n < 0) {
        // The socket is gone; onClose will follow from Bun.
        return;
      }
      if (n > 0) this.meter?.sent.inc(n);
      this.queuedBytes -= n;
      if (n === head.length) this.queue.shift();
      else {
        this.queue[0] = head.subarray(n);
        return;
      }
    }
  }

  /** Wakes the waiters whose mark the queue is now under (all of them once closed). */
  private wakeWaiters(): void {
    if (this.waiters.length === 0) return;
    const all = this.closedFlag;
    const queued = this.queued;
    const ready = this.waiters.filter((w) => all || queued <= w.below);
    if (ready.length === 0) return;
    this.waiters = all ? [] : this.waiters.filter((w) => queued > w.below);
    for (const w of ready) w.wake();
  }
}
