// A response body that clip writes into as it goes (event streams, downloads),
// with a bound on how far its reader may fall behind.
//
// It is a Bun "direct" ReadableStream: `controller.write()` hands bytes to the
// socket's buffer and returns a number when they fit, or a Promise when the
// client is not reading fast enough; the bytes are accepted either way and
// wait in Bun's memory. So the bytes written since the first pending write
// (until the latest one drains) are an upper bound on what the reader is
// behind by. Past `maxBytes` or `maxEvents` the body is cut off: the
// connection is reset (controller.close(error)), which frees what Bun holds
// at once. A graceful end would first try to send all of it, and Bun's idle
// timeout does not fire while a response waits on a reader (measured), so a
// reset is the only way out. An EventSource reconnects with Last-Event-ID and
// resumes; a download fails visibly.
//
// A writer that can wait (a download from a file) awaits `drained()` between
// chunks and is never cut off; one that cannot (events fanned out to many
// streams) writes without waiting and relies on the cut-off.

export type CloseReason =
  /** the body ended normally (end()) */
  | "done"
  /** the client went away (its request was aborted, or a write found no one there) */
  | "client"
  /** the reader fell too far behind and was cut off */
  | "slow"
  /** the server ended it (abort()), e.g. shutting down */
  | "server";

export interface OutboundLimits {
  /** Bytes a reader may fall behind before it is cut off. SPEC: 64 MiB. */
  maxBytes: number;
  /** Events (writes marked as events) a reader may fall behind. SPEC: 64. */
  maxEvents: number;
}

export const SPEC_LIMITS: OutboundLimits = { maxBytes: 64 << 20, maxEvents: 64 };

type Controller = ReadableStreamDirectController;

export class Outbound {
  readonly body: ReadableStream<Uint8Array>;
  private controller: Controller | undefined;
  /** Writes made before Bun asked for the body (it does so once the response starts). */
  private early: (string | Uint8Array)[] = [];
  private endAsked = false;
  private behindBytes = 0;
  private behindEvents = 0;
  /** The latest pending write: when it settles, the reader has caught up. */
  private latest: Promise<number> | undefined;
  private waiters: (() => void)[] = [];
  private finished: CloseReason | undefined;
  private resolveDone!: () => void;
  private readonly done = new Promise<void>((r) => (this.resolveDone = r));

  constructor(
    private readonly limits: OutboundLimits = SPEC_LIMITS,
    private readonly onClose?: (reason: CloseReason) => void,
    signal?: AbortSignal,
  ) {
    this.body = new ReadableStream({
      type: "direct",
      pull: (c: Controller) => {
        this.controller = c;
        const early = this.early;
        this.early = [];
        this.behindBytes = this.behindEvents = 0;
        for (const chunk of early) if (!this.push(chunk, false)) break;
        if (this.endAsked) this.end();
        if (!this.latest) this.wake(); // a writer waiting in drained() may go on
        // The stream stays open while this promise is pending (Bun's rule for a direct pull).
        return this.done;
      },
      cancel: () => this.finish("client"),
    } satisfies Bun.DirectUnderlyingSource);
    if (signal?.aborted) this.finish("client");
    else signal?.addEventListener("abort", () => this.finish("client"), { once: true });
  }

  /** Why the body closed, or undefined while it is open. */
  get closed(): CloseReason | undefined {
    return this.finished;
  }

  /** What was written that the reader may not have taken yet (0 while it keeps up). */
  get behind(): { bytes: number; events: number } {
    return { bytes: this.behindBytes, events: this.behindEvents };
  }

  /**
   * Writes without waiting. Returns false once the body is closed (the caller
   * should stop: unsubscribe, close its source), including when this write
   * is the one that put the reader past a limit.
   */
  write(chunk: string | Uint8Array, isEvent = false): boolean {
    if (this.finished) return false;
    if (!this.controller) {
      this.early.push(chunk);
      return this.account(byteLength(chunk), isEvent);
    }
    return this.push(chunk, isEvent);
  }

  /** Resolves once the reader has caught up (at once if it has), or the body closed. */
  drained(): Promise<void> {
    if (this.finished || (this.controller && !this.latest)) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  /** Ends the body normally, after what was written. */
  end(): void {
    if (this.finished) return;
    if (!this.controller) {
      this.endAsked = true; // Bun has not asked for the body yet: end it once it has
      return;
    }
    this.finish("done");
    this.controller.close();
  }

  /** Ends the body at once, resetting the connection: what was not sent is lost. */
  abort(reason: CloseReason = "server"): void {
    if (this.finished) return;
    this.finish(reason);
    this.controller?.close(resetReason(reason));
  }

  private push(chunk: string | Uint8Array, isEvent: boolean): boolean {
    const n = byteLength(chunk);
    const r = this.controller!.write(chunk);
    if (typeof r === "number") {
      // 0 for a non-empty chunk: nobody is there any more.
      if (r === 0 && n > 0) {
        this.finish("client");
        return false;
      }
      // With no write pending, Bun's buffer took it all: the reader keeps up.
      return this.latest ? this.account(n, isEvent) : true;
    }
    this.latest = r;
    r.then(
      () => {
        if (this.latest !== r) return;
        this.latest = undefined;
        this.behindBytes = this.behindEvents = 0;
        this.wake();
      },
      () => this.finish("client"),
    );
    return this.account(n, isEvent);
  }

  private account(bytes: number, isEvent: boolean): boolean {
    this.behindBytes += bytes;
    if (isEvent) this.behindEvents++;
    if (this.behindBytes <= this.limits.maxBytes && this.behindEvents <= this.limits.maxEvents) return true;
    this.abort("slow");
    return false;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private finish(reason: CloseReason): void {
    if (this.finished) return;
    this.finished = reason;
    this.early = [];
    this.resolveDone();
    this.wake();
    this.onClose?.(reason);
  }
}

/**
 * The error that resets a body. Bun prints the reason of every failed body on
 * stderr, with the stack it was made with; an error made without frames is
 * printed as one line, as a server log line should be.
 */
function resetReason(reason: CloseReason): Error {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new Error(reason === "slow" ? "http: a reader fell too far behind (64 MiB or 64 events) and was cut off" : `http: a response was cut short (${reason})`);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

function byteLength(chunk: string | Uint8Array): number {
  return typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.byteLength;
}
