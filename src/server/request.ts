// One request on a connection, seen from the server: what its handler gets
// to answer with (reply, event, fail, end) and the state of its stream.
// Sends on one stream leave in order, one at a time; a value is streamed by
// value/send.ts and opened when its send is queued (a newer write may unlink
// its file meanwhile). A subscriber that stops reading is cut off at
// maxPending queued events, not buffered without end.
//
// A class rather than closures: a small kv request used to allocate seven
// closures, an accessor object and a promise per request.

import type { Conn } from "../net/conn.ts";
import { ClipError } from "../protocol/errors.ts";
import { FrameType, MAX_CHUNK, encodeFrame, withStreamId } from "../protocol/frame.ts";
import { sendValue } from "../value/send.ts";
import { isValueSource, type ValueSource } from "../value/source.ts";
import { SESSION_LIMITS } from "./limits.ts";
import type { Upload } from "./upload.ts";
import type { Value } from "./values.ts";

/** What a request needs of the connection it arrived on. */
export interface StreamOwner {
  readonly conn: Conn;
  readonly isClosed: boolean;
  /** File sends queued and not yet made (descriptor pressure). */
  pendingFiles: number;
  /** The request is over: its id may be used again. */
  finished(r: Request<StreamOwner>): void;
  sendError(id: number, err: ClipError): void;
  cancelStream(id: number): void;
  /** Opens a stored value for sending. */
  source(v: Value): ValueSource;
  /** May one more value file be opened for a send (see pressure.ts)? False: this connection was cut. */
  admitFile(file: string): boolean;
  /** Times requests (metrics): seconds from arrival to the first answer. */
  readonly timer?: RequestTimer;
}

/** Where request durations go (a histogram of the server's metrics). */
export interface RequestTimer {
  observe(seconds: number): void;
}

export interface RequestOptions {
  /** The request stays open after its handler returns (a subscription): it ends on cancel, fail or end. */
  subscription?: boolean;
  /** Events a subscription may have queued before its reader counts as too slow. */
  maxPending?: number;
}

/**
 * An event already encoded as a whole frame (meta and value), sent as these
 * bytes with the request's own stream id: a server relays its parent's
 * events to its children so, with no JSON encoded again per hop.
 */
export class Preencoded {
  constructor(readonly frame: Uint8Array) {}
}

/** What reply() and event() send: a stored value, a source (a stage still filling), or nothing. */
export type Outgoing = Value | ValueSource | null | undefined;

/**
 * The last frame encoded from a frozen meta: a handler that hands the same
 * frozen meta and value to many streams in a row (a kv change woken on 1000
 * watchers) has it encoded once; each stream gets a copy with its own id.
 * Frozen, so the meta cannot have changed since; small frames only.
 */
let shared: { type: FrameType; meta: object; value: Value | null | undefined; frame: Uint8Array } | null = null;

function sharedFrame(type: FrameType, id: number, meta: object, value: Value | null | undefined): Uint8Array {
  if (shared && shared.type === type && shared.meta === meta && shared.value === value) return withStreamId(shared.frame, id);
  const frame = encodeFrame(type, id, meta, value && value.size > 0 ? value.bytes : undefined);
  shared = frame.length <= 64 << 10 ? { type, meta, value, frame } : null;
  return frame;
}

/** What send() returns when the frame went out at once (no chain). */
const SENT: Promise<void> = Promise.resolve();

const CANCELLED = new ClipError("LOST", "the request was cancelled");

export class Request<S extends StreamOwner = StreamOwner> {
  /** Run on cancel (CANCEL from the client, connection closed) or fail(). */
  private cancelHooks: (() => void)[] | null = null;
  cancelled = false;
  /** fail() was called: its ERR is queued on the chain; nothing may overtake it. */
  private failing = false;
  /** Serialises sends on this stream. */
  private chain: Promise<void> = SENT;
  /** Sends queued on the chain and not yet handed to the connection. */
  private pending = 0;
  /** When it arrived (performance.now()), until its first answer is timed; -1 after. */
  private arrived: number;

  constructor(
    readonly session: S,
    readonly id: number,
    readonly meta: Record<string, unknown>,
    /** The value uploaded with this request, arriving (null for requests without one). */
    readonly upload: Upload | null,
    private readonly opts: RequestOptions,
  ) {
    this.arrived = session.timer ? performance.now() : -1;
  }

  /** Times the request once, at its first answer (a watch: its first event; a plain request: its reply or error). */
  private answered(): void {
    if (this.arrived < 0) return;
    this.session.timer!.observe((performance.now() - this.arrived) / 1000);
    this.arrived = -1;
  }

  get subscription(): boolean {
    return this.opts.subscription === true;
  }

  /** The request is over: its id may be used again. */
  finish(): void {
    this.answered();
    this.session.finished(this);
  }

  private send(type: FrameType, m: object, v: Outgoing): Promise<void> {
    const s = this.session;
    this.answered();
    if (this.cancelled || s.isClosed) return SENT;
    const maxPending = this.opts.maxPending ?? SESSION_LIMITS.maxPendingEvents;
    if (this.pending >= maxPending) {
      // A subscriber that does not read is cut off, not buffered without end.
      this.fail(new ClipError("SLOW", `the reader fell more than ${maxPending} events behind and was cut off`));
      return SENT;
    }
    if (m instanceof Preencoded) return this.sendEncoded(m);
    const source = isValueSource(v) ? v : null;
    const value = source ? null : (v as Value | null | undefined);
    // Nothing queued on this stream and the value whole in memory within one
    // frame (most replies and events: small kv values): send it now, with
    // no promise chain. Anything else keeps its turn on the chain.
    if (!source && this.pending === 0 && !this.failing && s.conn.queued <= SESSION_LIMITS.sendRoom && (!value || value.size === 0 || (value.bytes?.length === value.size && value.size <= MAX_CHUNK))) {
      s.conn.send(Object.isFrozen(m) ? sharedFrame(type, this.id, m, value) : encodeFrame(type, this.id, m, value && value.size > 0 ? value.bytes : undefined));
      return SENT;
    }
    if (value?.file !== undefined && !s.admitFile(value.file)) return SENT;
    // Opened now: a file replaced meanwhile stays readable through the fd.
    const out = source ?? (value && value.size > 0 ? s.source(value) : null);
    const file = value?.file !== undefined;
    if (file) s.pendingFiles++;
    this.pending++;
    const p = this.chain
      .then(() => sendValue(s.conn, type, this.id, m as Record<string, unknown>, out, { room: SESSION_LIMITS.sendRoom, stop: () => (this.cancelled ? CANCELLED : null) }))
      .then(
        () => {},
        (e) => {
          out?.close();
          // Cancelled, or the connection went: nobody to tell. Anything else (a value that
          // did not arrive whole, a file that failed) ends the stream with the reason.
          if (!this.cancelled && !s.isClosed && !s.conn.isClosed) this.fail(e instanceof ClipError ? e : new ClipError("INTERNAL", String(e)));
        },
      )
      .finally(() => {
        this.pending--;
        if (file) s.pendingFiles--;
      });
    this.chain = p;
    return p;
  }

  /** A frame encoded elsewhere, in its turn on this stream. */
  private sendEncoded(m: Preencoded): Promise<void> {
    const s = this.session;
    if (this.pending === 0 && !this.failing && s.conn.queued <= SESSION_LIMITS.sendRoom) {
      s.conn.send(withStreamId(m.frame, this.id));
      return SENT;
    }
    this.pending++;
    const p = this.chain
      .then(async () => {
        while (!this.cancelled && !s.conn.isClosed && s.conn.queued > SESSION_LIMITS.sendRoom) await s.conn.drained(SESSION_LIMITS.sendRoom);
        if (!this.cancelled && !s.isClosed) s.conn.send(withStreamId(m.frame, this.id));
      })
      .finally(() => {
        this.pending--;
      });
    this.chain = p;
    return p;
  }

  /** Sends the reply (RES); ends the request unless it is a subscription. */
  reply(m: object, v?: Outgoing): Promise<void> {
    const p = this.send(FrameType.RES, m, v);
    if (!this.opts.subscription) {
      if (p === SENT) this.finish();
      else p.finally(() => this.finish());
    }
    return p;
  }

  /** Sends one event (EVT) on a subscription; events on one stream never interleave. */
  event(m: object, v?: Outgoing): Promise<void> {
    return this.send(FrameType.EVT, m, v);
  }

  /** Runs when the client cancels this stream or the connection closes. */
  onCancel(fn: () => void): void {
    if (this.cancelled) fn();
    else (this.cancelHooks ??= []).push(fn);
  }

  /** Ends the stream from the server's side with an error, after what is queued on it. */
  fail(err: ClipError): void {
    if (this.cancelled) return;
    this.failing = true;
    // Stop callbacks at once; the error leaves after what is already queued.
    this.runHooks();
    this.chain.then(() => {
      if (this.cancelled) return;
      this.session.sendError(this.id, err);
      this.session.cancelStream(this.id);
    });
  }

  /** Ends a subscription normally, once what was sent on it has left. */
  end(): void {
    this.chain.then(() => this.finish());
  }

  /** @internal */
  runHooks(): void {
    const hooks = this.cancelHooks;
    this.cancelHooks = null;
    if (!hooks) return;
    for (const fn of hooks) {
      try {
        fn();
      } catch {}
    }
  }
}
