// One connection seen from the server: a client (cli or library) or a peer
// server. It decodes frames, runs the handshake, gathers uploaded values
// and hands whole requests to handlers; it knows nothing of the transport.
//
//   hello ──▶ auth ──▶ ready ──▶ closed
//     │         ▲         (auth only on a TCP listener with a token)
//     └─────────┘

import type { Conn, CloseReason } from "../net/conn.ts";
import { FramePool } from "../net/pool.ts";
import { ClipError, asClipError } from "../protocol/errors.ts";
import { FrameDecoder, FrameType, HEADER_SIZE, MAX_CHUNK, MAX_FRAME, encodeFrame, withStreamId, writeHeader, type Frame } from "../protocol/frame.ts";
import type { PeerKind } from "../protocol/messages.ts";
import type { ClipNode } from "./node.ts";
import { type Value, type ValueSink, ValueReader, isValueFileOpen, openValueFiles } from "./values.ts";

export type SessionState =
  | "hello" // waiting for the first request, which must be `hello`
  | "auth" // hello done; a token proof is due before anything else
  | "ready" // requests flow
  | "closed"; // the connection is gone

/** A request handed to a handler, with everything it needs to answer. */
export interface RequestContext {
  readonly id: number;
  readonly meta: Record<string, unknown>;
  /** The uploaded value, for ops that carry one. */
  readonly value: Value | null;
  readonly session: Session;
  readonly node: ClipNode;
  /** Sends the RES (with a value, streamed); ends the request unless it is a subscription. */
  reply(meta: object, value?: Value | null): Promise<void>;
  /** Sends one EVT on a subscription; events on one stream never interleave. */
  event(meta: object, value?: Value | null): Promise<void>;
  /** Runs when the client cancels this stream or the connection closes. */
  onCancel(fn: () => void): void;
  /** Ends a subscription from the server's side with an error. */
  fail(err: ClipError): void;
  /** Ends a subscription normally, once what was sent on it has left. */
  end(): void;
  readonly cancelled: boolean;
}

export interface Handler {
  /** Needs admin rights (unix socket, or a proved token over TCP). */
  admin?: boolean;
  /** Allowed before the handshake finishes (hello, auth). */
  preAuth?: boolean;
  /** Whether a value is uploaded with the request. */
  value?: "none" | "required";
  /** Checks the request before any value byte is stored; throw ClipError("USAGE") to refuse. */
  check?(meta: Record<string, unknown>, session: Session): void;
  /**
   * Handles the request. Return an object to answer with it (RES, no value);
   * return undefined when the handler answered itself (reply/event).
   */
  run(ctx: RequestContext): Promise<object | undefined> | object | undefined;
  /** The request stays open after run() (a subscription): it ends on cancel or fail. */
  subscription?: boolean;
  /** Events a subscription may have queued before its reader counts as too slow (default SESSION_LIMITS.maxPendingEvents). */
  maxPending?: number;
}

/** Requests open in this process, all sessions together (see maxOpenTotal). */
let openTotal = 0;

/** How many requests are open across all sessions (tests check it returns to 0). */
export function openRequests(): number {
  return openTotal;
}

/** Per-connection bounds: what one client can make the server hold. */
export const SESSION_LIMITS = {
  /** Requests open at once (uploads, waits, watches, replies in flight). */
  maxOpen: 1024,
  /**
   * Requests open at once across every connection: 1024 per connection times
   * thousands of connections would be gigabytes (a wait holds about 0.8 KiB).
   */
  maxOpenTotal: 256 << 10,
  /** Value uploads at once. */
  maxUploads: 16,
  /** The handshake must finish within this. */
  handshakeMs: 10_000,
  /** Events queued on one subscription before its reader counts as too slow. */
  maxPendingEvents: 64,
  /**
   * Value files held open (shared by every send of one value) for sends not
   * yet made: each is a descriptor, and readers that fall behind on many
   * different values would otherwise run the process out of them (EMFILE
   * for everyone). Past it, the connection with the most files waiting (the
   * slowest reader) is closed, and its files with it.
   */
  maxOpenValueFiles: 2048,
  /**
   * A value chunk is sent only while the connection's queue is at most this.
   * Checked right before each send, so many replies woken together (100
   * waits on one connection) take turns instead of each adding 1 MiB past
   * the queue's hard limit, which would cut the connection off as slow.
   */
  sendRoom: 4 << 20,
};

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

/**
 * One request being handled: the context its handler gets and the state of
 * its stream. A class rather than closures: a small kv request used to
 * allocate seven closures, an accessor object and a promise per request.
 */
class Open implements RequestContext {
  /** Run on cancel (CANCEL from the client, connection closed) or fail(). */
  cancelHooks: (() => void)[] | null = null;
  cancelled = false;
  /** fail() was called: its ERR is queued on the chain; nothing may overtake it. */
  failing = false;
  /** Serialises sends on this stream. */
  chain: Promise<void> = SENT;
  /** Sends queued on the chain and not yet handed to the connection. */
  pending = 0;

  constructor(
    readonly session: Session,
    readonly id: number,
    readonly meta: Record<string, unknown>,
    readonly value: Value | null,
    readonly handler: Handler,
  ) {}

  get node(): ClipNode {
    return this.session.node;
  }

  /** The request is over: its id may be used again. */
  finish(): void {
    this.session.finished(this);
  }

  private send(type: FrameType, m: object, v: Value | null | undefined): Promise<void> {
    const s = this.session;
    if (this.cancelled || s.state === "closed") return SENT;
    const maxPending = this.handler.maxPending ?? SESSION_LIMITS.maxPendingEvents;
    if (this.pending >= maxPending) {
      // A subscriber that does not read is cut off, not buffered without end.
      this.fail(new ClipError("SLOW", `the reader fell more than ${maxPending} events behind and was cut off`));
      return SENT;
    }
    // Nothing queued on this stream and the value whole in memory within one
    // frame (most replies and events: small kv values): send it now, with
    // no promise chain. Anything else keeps its turn on the chain.
    if (this.pending === 0 && !this.failing && s.conn.queued <= SESSION_LIMITS.sendRoom && (!v || v.size === 0 || (v.bytes?.length === v.size && v.size <= MAX_CHUNK))) {
      s.conn.send(Object.isFrozen(m) ? sharedFrame(type, this.id, m, v) : encodeFrame(type, this.id, m, v && v.size > 0 ? v.bytes : undefined));
      return SENT;
    }
    if (v?.file !== undefined && !isValueFileOpen(v.file) && openValueFiles() >= SESSION_LIMITS.maxOpenValueFiles) {
      let victim = s;
      for (const o of s.node.sessions) if (o.pendingFiles > victim.pendingFiles) victim = o;
      victim.close("slow", new ClipError("SLOW", `${victim.pendingFiles} values wait for this reader while the server holds ${openValueFiles()} value files open; cut off`));
      if (victim === s) return SENT;
    }
    // Open the value now: a file replaced meanwhile stays readable through the fd.
    const reader = v && v.size > 0 ? new ValueReader(v) : null;
    const file = v?.file !== undefined;
    if (file) s.pendingFiles++;
    this.pending++;
    const p = this.chain
      .then(() => s.sendValue(type, this.id, m, reader, this))
      .finally(() => {
        this.pending--;
        if (file) s.pendingFiles--;
        if (this.cancelled) reader?.close();
      });
    this.chain = p.catch(() => {});
    return p;
  }

  reply(m: object, v?: Value | null): Promise<void> {
    const p = this.send(FrameType.RES, m, v);
    if (!this.handler.subscription) {
      if (p === SENT) this.finish();
      else p.finally(() => this.finish());
    }
    return p;
  }

  event(m: object, v?: Value | null): Promise<void> {
    return this.send(FrameType.EVT, m, v);
  }

  onCancel(fn: () => void): void {
    if (this.cancelled) fn();
    else (this.cancelHooks ??= []).push(fn);
  }

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

  end(): void {
    this.chain.then(() => this.finish());
  }

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

export class Session {
  state: SessionState = "hello";
  /** Sends on this connection waiting with a value file open (see maxOpenValueFiles). */
  pendingFiles = 0;
  kind: PeerKind = "cli";
  pid = 0;
  name = "";
  readonly since = Date.now();
  /** May run admin ops: unix socket, proved token, or an --insecure server. */
  admin = false;
  /** The nonce this server offered for the token proof. */
  snonce = "";
  /** Free-form facts other modules attach (group, watches, peer link). */
  readonly tags = new Map<string, unknown>();
  private readonly decoder = new FrameDecoder(MAX_FRAME, { streamData: true }); // DATA as views of the socket chunks: no 1 MiB copy per frame
  private readonly uploads = new Map<number, { sink: ValueSink; meta: Record<string, unknown>; handler: Handler }>();
  /** Streams whose remaining DATA frames we drop (refused upload). */
  private readonly discarding = new Set<number>();
  private readonly open = new Map<number, Open>();
  private handshakeTimer: ReturnType<typeof setTimeout> | null;
  private closeHooks: ((reason: CloseReason) => void)[] = [];

  constructor(
    readonly conn: Conn,
    readonly node: ClipNode,
  ) {
    this.handshakeTimer = setTimeout(() => this.close("timeout", new ClipError("PROTOCOL", "handshake not finished in time")), SESSION_LIMITS.handshakeMs);
  }

  get transport(): Conn["transport"] {
    return this.conn.transport;
  }

  /** Called once the handshake is complete. */
  ready(): void {
    this.state = "ready";
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
  }

  onClose(fn: (reason: CloseReason) => void): void {
    this.closeHooks.push(fn);
  }

  // --- from the connection ---

  data(chunk: Uint8Array): void {
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (e) {
      const err = asClipError(e);
      this.node.log("warn", "protocol error", `from ${this.describe()}: ${err.message}; closing`);
      this.close("protocol", err);
      return;
    }
    for (const f of frames) {
      if (this.state === "closed") return;
      this.frame(f);
    }
  }

  closed(reason: CloseReason): void {
    if (this.state === "closed") return;
    this.state = "closed";
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    for (const u of this.uploads.values()) u.sink.abort(); // a half copy never lands
    this.uploads.clear();
    for (const id of [...this.open.keys()]) this.cancelStream(id);
    for (const fn of this.closeHooks) {
      try {
        fn(reason);
      } catch {}
    }
    this.node.sessionClosed(this, reason);
  }

  /** Sends a final ERR (on stream 0) and closes. */
  close(reason: CloseReason, err?: ClipError): void {
    if (err) this.conn.send(encodeFrame(FrameType.ERR, 0, err.toWire()));
    this.conn.close(reason);
  }

  describe(): string {
    const who = this.name ? `${this.kind} ${this.name}` : this.kind;
    return `${who}${this.pid ? ` pid ${this.pid}` : ""} (${this.conn.remote})`;
  }

  // --- frames ---

  private frame(f: Frame): void {
    switch (f.type) {
      case FrameType.REQ:
        return this.request(f);
      case FrameType.DATA:
        return this.uploadData(f);
      case FrameType.CANCEL:
        return this.cancelStream(f.id);
      default:
        // RES/ERR/EVT flow server → client only; peers (tree links) use their own handler.
        this.sendError(f.id, new ClipError("PROTOCOL", `unexpected frame type ${f.type} from a client`));
    }
  }

  private request(f: Frame): void {
    const op = f.meta.op;
    const handler = typeof op === "string" ? this.node.handlers.get(op) : undefined;
    try {
      if (this.open.has(f.id) || this.uploads.has(f.id)) throw new ClipError("PROTOCOL", `stream id ${f.id} is already in use`);
      if (!handler) throw new ClipError("PROTOCOL", `unknown op ${JSON.stringify(op)}`);
      if (this.state !== "ready" && !handler.preAuth) {
        throw new ClipError(this.state === "auth" ? "AUTH" : "PROTOCOL", this.state === "auth" ? "prove the cluster token first" : "say hello first");
      }
      if (handler.admin && !this.admin) throw new ClipError("DENIED", `"${op}" is an admin command: use the unix socket, or a client that proved the cluster token`);
      if (this.open.size + this.uploads.size >= SESSION_LIMITS.maxOpen) throw new ClipError("BUSY", `more than ${SESSION_LIMITS.maxOpen} requests open on one connection`);
      // The handshake is exempt: it is short, one per connection, and bounded by the connection limit.
      if (openTotal >= SESSION_LIMITS.maxOpenTotal && !handler.preAuth) throw new ClipError("BUSY", `the server holds ${SESSION_LIMITS.maxOpenTotal} requests open; try again later`);
      handler.check?.(f.meta, this);
      if (handler.value === "required") {
        if (this.uploads.size >= SESSION_LIMITS.maxUploads) throw new ClipError("BUSY", `more than ${SESSION_LIMITS.maxUploads} uploads at once on one connection`);
        const size = f.meta.size;
        const sink = this.node.store.stage(typeof size === "number" && size >= 0 ? size : undefined);
        this.uploads.set(f.id, { sink, meta: f.meta, handler });
        this.uploadData(f);
        return;
      }
    } catch (e) {
      if (!f.fin) this.discarding.add(f.id);
      this.sendError(f.id, asClipError(e));
      return;
    }
    this.run(f.id, handler, f.meta, null);
  }

  private uploadData(f: Frame): void {
    const up = this.uploads.get(f.id);
    if (!up) {
      if (this.discarding.has(f.id)) {
        if (f.fin) this.discarding.delete(f.id);
        return;
      }
      this.sendError(f.id, new ClipError("PROTOCOL", `data for stream ${f.id}, which has no upload open`));
      return;
    }
    try {
      if (f.payload.length > 0) up.sink.write(f.payload);
    } catch (e) {
      up.sink.abort();
      this.uploads.delete(f.id);
      if (!f.fin) this.discarding.add(f.id);
      this.sendError(f.id, asClipError(e));
      return;
    }
    if (!f.fin) return;
    this.uploads.delete(f.id);
    let value: Value;
    try {
      value = up.sink.commit();
    } catch (e) {
      up.sink.abort();
      this.sendError(f.id, asClipError(e));
      return;
    }
    this.run(f.id, up.handler, up.meta, value);
  }

  /** @internal Ends a stream: the client cancelled it, the connection closed, or fail(). */
  cancelStream(id: number): void {
    const up = this.uploads.get(id);
    if (up) {
      up.sink.abort();
      this.uploads.delete(id);
    }
    const o = this.open.get(id);
    if (!o) return;
    this.open.delete(id);
    openTotal--;
    o.cancelled = true;
    o.runHooks();
  }

  /** @internal A request ended: its id may be used again. */
  finished(o: Open): void {
    if (this.open.get(o.id) === o) {
      this.open.delete(o.id);
      openTotal--;
    }
  }

  private run(id: number, handler: Handler, meta: Record<string, unknown>, value: Value | null): void {
    const o = new Open(this, id, meta, value, handler);
    this.open.set(id, o);
    openTotal++;
    let result: Promise<object | undefined> | object | undefined;
    try {
      result = handler.run(o);
    } catch (e) {
      o.finish();
      this.sendError(id, asClipError(e));
      return;
    }
    if (result === undefined) return; // the handler answers (or answered) itself
    Promise.resolve(result).then(
      (r) => {
        if (r !== undefined) {
          o.finish();
          if (!o.cancelled) this.conn.send(encodeFrame(FrameType.RES, id, r));
        }
      },
      (e) => {
        o.finish();
        if (!o.cancelled) this.sendError(id, asClipError(e));
        if (handler.subscription) this.cancelStream(id);
      },
    );
  }

  sendError(id: number, err: ClipError): void {
    if (this.state === "closed") return;
    this.conn.send(encodeFrame(FrameType.ERR, id, err.toWire()));
  }

  /**
   * Streams a value: the opening frame carries meta and the first bytes, DATA
   * frames the rest. Each chunk is read straight into its frame buffer and
   * waits for the connection's queue to drain, so a slow reader holds back
   * the disk, not our memory.
   */
  /** @internal */
  async sendValue(type: FrameType, id: number, meta: object, reader: ValueReader | null, o: Open): Promise<void> {
    if (!reader) {
      this.conn.send(encodeFrame(type, id, meta));
      return;
    }
    let pool: FramePool | undefined; // DATA frame buffers, reused once the kernel has them
    try {
      let first = true;
      while (reader.remaining > 0 || first) {
        if (o.cancelled || this.conn.isClosed) return;
        while (!this.conn.isClosed && this.conn.queued > SESSION_LIMITS.sendRoom) await this.conn.drained(SESSION_LIMITS.sendRoom);
        if (o.cancelled || this.conn.isClosed) return;
        if (first) {
          const chunk = reader.next(MAX_CHUNK);
          this.conn.send(encodeFrame(type, id, meta, chunk, reader.remaining === 0));
          first = false;
          continue;
        }
        pool ??= new FramePool(this.conn, HEADER_SIZE + MAX_CHUNK);
        const buf = await pool.take();
        while (!this.conn.isClosed && this.conn.queued > SESSION_LIMITS.sendRoom) await this.conn.drained(SESSION_LIMITS.sendRoom);
        if (o.cancelled || this.conn.isClosed) return;
        const n = Math.min(MAX_CHUNK, reader.remaining);
        reader.readInto(buf.subarray(HEADER_SIZE, HEADER_SIZE + n));
        writeHeader(buf, FrameType.DATA, id, 0, n, reader.remaining === 0);
        pool.send(buf, HEADER_SIZE + n);
      }
    } finally {
      reader.close();
    }
  }
}
