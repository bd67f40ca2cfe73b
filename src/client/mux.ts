// One connection to a server, carrying many requests at once, each on its
// own stream id, so a wait in flight never blocks a paste on the same
// connection: the client's multiplexer. It opens the connection (hello, and
// the token proof over TCP), routes each frame to its stream's inbox,
// applies backpressure (the socket stops being read while too much waits),
// and offers the request shapes the API (client.ts, kv.ts) and the tree
// (tree/upstream.ts) are built from.

import { type Address, clientAddress, formatAddress, parseAddress } from "../net/address.ts";
import type { Conn, ConnHandler } from "../net/conn.ts";
import { dial } from "../net/dial.ts";
import { ClipError, asClipError, isClipError } from "../protocol/errors.ts";
import { COPY_BELOW, FrameDecoder, FrameType, MAX_CHUNK, MAX_FRAME, PROTOCOL_VERSION, encodeFrame, type Frame } from "../protocol/frame.ts";
import type { PeerKind, WelcomeMeta } from "../protocol/messages.ts";
import { describeFile, handoffWanted, mayGoByPath } from "../value/handoff.ts";
import { SEND_ROOM, sendValue } from "../value/send.ts";
import { collect } from "../value/sink.ts";
import type { ValueSource } from "../value/source.ts";
import { Inbox, type Item } from "./inbox.ts";

export interface ConnectOptions {
  /** Address: unix:/path, /path, tcp:host:port, host:port. Default: $CLIP_SERVER or the default socket. */
  server?: string | Address;
  /** Cluster token, proved (never sent) when the server asks for it over TCP. */
  token?: string;
  /** Who we are, for `clip apps`. */
  kind?: PeerKind;
  name?: string;
  /**
   * This connection serves one command and ends with it (a `clip copy`):
   * `clip apps` then counts it without listing it, unless it opens
   * something that lasts (a follow, a watch, a chat).
   */
  once?: boolean;
  /** CA file (PEM) to trust for a TLS server; `true` for the system's CAs. */
  tls?: { ca?: string } | boolean;
  /** Connect timeout in ms. */
  timeoutMs?: number;
}

/** One message head on a subscription (see Mux.subscription). */
export type Head = Extract<Item, { t: "head" }>;

export interface Subscription {
  next(): Promise<Head>;
  /** The rest of a value longer than its opening frame (`fin` false). */
  rest(head: Head): AsyncGenerator<Uint8Array>;
  close(): void;
}

/** A value as a message carried it: facts (meta) and a stream of bytes. */
export interface Message {
  type: number;
  meta: Record<string, unknown>;
  body: AsyncIterable<Uint8Array>;
  /**
   * The whole value, when it came in the message's own frame (a small one):
   * the same bytes as `body`, without iterating it (read one or the other).
   * Possibly a view of the socket's chunk, as body's pieces are.
   */
  whole?: Uint8Array;
}

export interface UploadOptions {
  /** Bytes sent so far. */
  onProgress?: (sent: number) => void;
  signal?: AbortSignal;
}

const HIGH_WATER = 16 << 20;
const LOW_WATER = 4 << 20;

export class Mux {
  private conn!: Conn;
  private readonly decoder: FrameDecoder;
  private nextId = 1;
  private readonly streams = new Map<number, Inbox>();
  private buffered = 0;
  private paused = false;
  private closedError: ClipError | null = null;
  private readonly flow = { account: (d: number) => this.account(d) };
  welcome!: WelcomeMeta;
  private greeting!: Promise<WelcomeMeta>;

  private constructor(
    readonly address: Address,
    peer: boolean,
  ) {
    // DATA as views of the socket chunks: no 1 MiB copy per frame. A server's link to its parent keeps
    // each event's frame, to relay it to its own children as it came.
    this.decoder = new FrameDecoder(MAX_FRAME, { streamData: true, eventFrames: peer });
  }

  /** Dials and says hello (and proves the token over TCP). */
  static async open(opts: ConnectOptions = {}): Promise<Mux> {
    const addr = typeof opts.server === "object" ? opts.server : opts.server ? parseAddress(opts.server) : clientAddress();
    const m = new Mux(addr, opts.kind === "peer");
    const tls = opts.tls === true ? true : opts.tls && opts.tls.ca ? { caFile: opts.tls.ca } : undefined;
    const timeoutMs = opts.timeoutMs ?? 10_000;
    m.conn = await dial(addr, () => m.handler(), { tls, timeoutMs });
    await m.start(opts, timeoutMs);
    return m;
  }

  /** Over a Conn made elsewhere (an in-memory pair in tests). */
  static async over(conn: Conn & { handler: ConnHandler | null }, address: Address, opts: ConnectOptions = {}): Promise<Mux> {
    const m = new Mux(address, opts.kind === "peer");
    m.conn = conn;
    conn.handler = m.handler();
    await m.start(opts, opts.timeoutMs ?? 10_000);
    return m;
  }

  private handler(): ConnHandler {
    return {
      data: (chunk: Uint8Array) => this.data(chunk),
      closed: () => this.lost(new ClipError("LOST", `connection to ${formatAddress(this.address)} was lost`)),
    };
  }

  /**
   * The handshake. Where no token proof can be asked for (a unix socket),
   * hello is not waited for: the first request goes in the same write, and
   * a refused hello fails whatever follows it with its own error. Something
   * that accepts and never speaks (a wrong port, a stuck peer) must not hold
   * a command forever: the wait has a deadline.
   */
  private async start(opts: ConnectOptions, timeoutMs: number): Promise<void> {
    const hello = { v: PROTOCOL_VERSION, kind: opts.kind ?? "lib", pid: process.pid, name: opts.name, ...(opts.once ? { once: true } : {}) };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const silent = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ClipError("NOSERVER", `no answer from ${formatAddress(this.address)} within ${Math.round(timeoutMs / 1000)} s (is it a clip server?)`)), timeoutMs);
    });
    silent.catch(() => {});
    this.greeting = Promise.race([this.call("hello", hello), silent])
      .then((w) => (this.welcome = w as unknown as WelcomeMeta))
      .finally(() => clearTimeout(timer));
    if (this.address.kind === "unix" && !opts.token && opts.kind !== "peer") {
      // What a unix socket always answers; the real welcome replaces it when it comes.
      this.welcome = { v: PROTOCOL_VERSION, server: "", id: "", auth: "none", admin: true };
      this.greeting.catch((e) => {
        this.lost(asClipError(e));
        this.conn.close("local");
      });
      return;
    }
    try {
      await this.greeting.then((w) => this.prove(w, opts.token));
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** The server's welcome (who it is), once it has come. */
  ready(): Promise<WelcomeMeta> {
    return this.greeting;
  }

  private async prove(w: WelcomeMeta, token: string | undefined): Promise<void> {
    if (w.auth !== "token") return;
    if (!token) throw new ClipError("AUTH", `the server at ${formatAddress(this.address)} requires the cluster token (use --token-file, CLIP_TOKEN or --token)`);
    const { clientProof, nonce, sameHex, serverProof } = await import("../protocol/proof.ts");
    const cnonce = nonce();
    const snonce = String(w.nonce ?? "");
    const res = await this.call("auth", { cnonce, proof: clientProof(token, snonce, cnonce) });
    if (typeof res.proof !== "string" || !sameHex(res.proof, serverProof(token, snonce, cnonce))) {
      throw new ClipError("AUTH", "the server could not prove it holds the cluster token");
    }
    this.welcome.admin = true;
  }

  // --- frames in ---

  private data(chunk: Uint8Array): void {
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (e) {
      this.lost(new ClipError("PROTOCOL", `${formatAddress(this.address)} sent bytes that are not clip's protocol (is it a clip server?): ${asClipError(e).message}`));
      this.conn.close("protocol");
      return;
    }
    for (const f of frames) this.frame(f);
  }

  private frame(f: Frame): void {
    if (f.type === FrameType.ERR && f.id === 0) {
      // The server is closing the whole connection, and says why.
      this.lost(ClipError.fromWire(f.meta));
      return;
    }
    const inbox = this.streams.get(f.id);
    if (!inbox) return; // a stream we cancelled; its last frames may still come
    switch (f.type) {
      case FrameType.RES:
      case FrameType.EVT:
        inbox.push({ t: "head", type: f.type, meta: f.meta, payload: f.payload, fin: f.fin, raw: f.raw });
        break;
      case FrameType.DATA:
        inbox.push({ t: "data", payload: f.payload, fin: f.fin });
        break;
      case FrameType.ERR:
        inbox.push({ t: "err", err: ClipError.fromWire(f.meta) });
        break;
    }
  }

  private account(delta: number): void {
    this.buffered += delta;
    if (!this.paused && this.buffered > HIGH_WATER) {
      this.paused = true;
      this.conn.pause();
    } else if (this.paused && this.buffered <= LOW_WATER) {
      this.paused = false;
      this.conn.resume();
    }
  }

  private lost(err: ClipError): void {
    if (this.closedError) return;
    this.closedError = err;
    for (const inbox of this.streams.values()) inbox.push({ t: "err", err });
  }

  // --- streams ---

  private openStream(): { id: number; inbox: Inbox } {
    if (this.closedError) throw this.closedError;
    const id = this.nextId++;
    if (this.nextId > 0xffffffff) this.nextId = 1;
    const inbox = new Inbox(this.flow);
    this.streams.set(id, inbox);
    return { id, inbox };
  }

  private endStream(id: number, cancel: boolean): void {
    const inbox = this.streams.get(id);
    if (!inbox) return;
    this.streams.delete(id);
    inbox.drain();
    if (cancel && !this.closedError) this.conn.send(encodeFrame(FrameType.CANCEL, id, null));
  }

  private send(type: FrameType, id: number, meta: object, payload?: Uint8Array, fin = true): void {
    this.conn.send(encodeFrame(type, id, meta, payload, fin));
  }

  /** Reads the next message (RES or EVT head plus its streamed body). */
  private async message(inbox: Inbox): Promise<Message> {
    const head = await inbox.next();
    if (head.t === "err") throw head.err;
    if (head.t !== "head") throw new ClipError("PROTOCOL", "value data before its message");
    return { type: head.type, meta: head.meta, body: this.body(head, inbox), whole: head.fin ? head.payload : undefined };
  }

  private async *body(head: Head, inbox: Inbox): AsyncGenerator<Uint8Array> {
    if (head.payload.length > 0) yield head.payload;
    let fin = head.fin;
    while (!fin) {
      const item = await inbox.next();
      if (item.t === "err") throw item.err;
      if (item.t !== "data") throw new ClipError("PROTOCOL", "a new message before the last value ended");
      fin = item.fin;
      if (item.payload.length > 0) yield item.payload;
    }
  }

  /** A request without a value, answered by a RES without one. */
  async call(op: string, meta: Record<string, unknown> = {}, payload?: Uint8Array): Promise<Record<string, unknown>> {
    const { id, inbox } = this.openStream();
    try {
      this.send(FrameType.REQ, id, { ...meta, op }, payload);
      return (await this.answer(inbox, false)).meta;
    } finally {
      this.endStream(id, false);
    }
  }

  /**
   * The reply on a stream, its value whole (or dropped: `value` false). A
   * value that fits the reply frame (FIN on the head: small kv gets, pastes,
   * plain answers) is taken as it is, with no body generator per request.
   */
  private async answer(inbox: Inbox, value: boolean): Promise<{ meta: Record<string, unknown>; bytes: Uint8Array }> {
    const head = await inbox.next();
    if (head.t === "err") throw head.err;
    if (head.t !== "head") throw new ClipError("PROTOCOL", "value data before its message");
    const size = value && typeof head.meta.size === "number" ? head.meta.size : undefined;
    if (!head.fin) {
      if (value) return { meta: head.meta, bytes: await collect(this.body(head, inbox), size) };
      for await (const _ of this.body(head, inbox));
      return { meta: head.meta, bytes: new Uint8Array(0) };
    }
    if (size !== undefined && head.payload.length !== size) throw new ClipError("PROTOCOL", `value of ${head.payload.length} bytes, ${size} announced`);
    // Small payloads are copies already (frame.ts); a larger one is a view of the socket's chunk.
    return { meta: head.meta, bytes: head.payload.length < COPY_BELOW ? head.payload : head.payload.slice() };
  }

  /** A request whose reply carries a value, collected whole. */
  async callValue(op: string, meta: Record<string, unknown> = {}, signal?: AbortSignal): Promise<{ meta: Record<string, unknown>; bytes: Uint8Array }> {
    if (!signal) {
      const { id, inbox } = this.openStream();
      let whole = false;
      try {
        this.send(FrameType.REQ, id, { ...meta, op });
        const r = await this.answer(inbox, true);
        whole = true;
        return r;
      } finally {
        this.endStream(id, !whole); // cancels a value cut short
      }
    }
    const r = await this.request(op, meta, signal);
    try {
      return { meta: r.meta, bytes: await collect(r.body, typeof r.meta.size === "number" ? r.meta.size : undefined) };
    } finally {
      r.done();
    }
  }

  /**
   * Opens a request and returns its reply with the value as a stream. Call
   * done() when finished (cancels the stream if the body was not read whole).
   */
  async request(op: string, meta: Record<string, unknown>, signal?: AbortSignal): Promise<Message & { done(): void }> {
    const { id, inbox } = this.openStream();
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      this.endStream(id, true);
    };
    const onAbort = () => inbox.push({ t: "err", err: abortError(signal!) });
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) onAbort();
    try {
      this.send(FrameType.REQ, id, { ...meta, op });
      const m = await this.message(inbox);
      if (m.whole !== undefined) {
        // Nothing more comes on this stream: it ends now, whether the body is read or not.
        finished = true;
        this.endStream(id, false);
        signal?.removeEventListener("abort", onAbort);
      }
      const self = this;
      return {
        ...m,
        body: (async function* () {
          try {
            yield* m.body;
            finished = true;
            self.endStream(id, false);
          } finally {
            signal?.removeEventListener("abort", onAbort);
          }
        })(),
        done,
      };
    } catch (e) {
      signal?.removeEventListener("abort", onAbort);
      done();
      throw e;
    }
  }

  /** A subscription: every EVT on the stream, until the caller stops or the server ends it. */
  async *subscribe(op: string, meta: Record<string, unknown>, signal?: AbortSignal): AsyncGenerator<Message> {
    const { id, inbox } = this.openStream();
    const onAbort = () => inbox.push({ t: "err", err: abortError(signal!) });
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) onAbort();
    try {
      this.send(FrameType.REQ, id, { ...meta, op });
      while (true) {
        const m = await this.message(inbox);
        yield m;
        if (m.type === FrameType.RES) return; // the server ended the subscription
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      this.endStream(id, true);
    }
  }

  /**
   * A subscription read message by message with no generator per event, for
   * consumers that take small values whole (kv watch, the tree's join
   * stream): next() resolves with each RES/EVT head, whose `payload` is the
   * whole value when `fin` is set; a longer value continues in rest(head).
   * `tap` may take a head whose value is whole as it arrives (in the data
   * callback: no promise per event); what it leaves comes through next().
   * close() cancels the stream.
   */
  subscription(op: string, meta: Record<string, unknown>, signal?: AbortSignal, tap?: (head: Head) => boolean): Subscription {
    const { id, inbox } = this.openStream();
    if (tap) inbox.tap = (item) => item.t === "head" && item.fin && tap(owned(item));
    const onAbort = () => inbox.push({ t: "err", err: abortError(signal!) });
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) onAbort();
    this.send(FrameType.REQ, id, { ...meta, op });
    let closed = false;
    return {
      next: async () => {
        const head = await inbox.next();
        if (head.t === "err") throw head.err;
        if (head.t !== "head") throw new ClipError("PROTOCOL", "value data before its message");
        return head.fin ? owned(head) : head;
      },
      rest: (head) => this.body(head, inbox),
      close: () => {
        if (closed) return;
        closed = true;
        signal?.removeEventListener("abort", onAbort);
        this.endStream(id, true);
      },
    };
  }

  /**
   * A request with a value, streamed (value/send.ts) as the connection
   * drains. The server may refuse it before it is whole (over --max-size, a
   * bad name): sending stops at its answer. Resolves with the reply's meta.
   */
  async upload(op: string, meta: Record<string, unknown>, source: ValueSource, opts: UploadOptions = {}): Promise<Record<string, unknown>> {
    if (!opts.signal && this.address.kind === "unix" && mayGoByPath(source)) {
      const res = await this.uploadByPath(op, meta, source, opts);
      if (res) return res;
    }
    if (!opts.signal && source.bytes && source.bytes.length <= MAX_CHUNK && this.conn.queued <= SEND_ROOM) {
      source.close();
      return this.uploadWhole(op, meta, source.bytes, opts);
    }
    let stream: { id: number; inbox: Inbox };
    try {
      stream = this.openStream();
    } catch (e) {
      source.close();
      throw e;
    }
    const { id, inbox } = stream;
    let early: ClipError | null = null;
    // An answer before the value is whole is a refusal: it stops the sending.
    const answer = inbox.next().then((item) => {
      if (item.t === "err") early = item.err;
      return item;
    });
    // The sender asks stop() only between frames; a source with nothing to give yet (an idle
    // pipe, a stream fed by hand) would hold the caller until its next chunk. A refusal, a lost
    // connection or an abort ends the upload at once; the source is closed to let go of it.
    let onAbort: (() => void) | undefined;
    const stopped = new Promise<never>((_, reject) => {
      answer.then((item) => item.t === "err" && reject(item.err));
      onAbort = () => reject(abortError(opts.signal!));
      opts.signal?.addEventListener("abort", onAbort, { once: true });
    });
    stopped.catch(() => source.close());
    try {
      const sending = sendValue(this.conn, FrameType.REQ, id, { ...meta, op }, source, {
        onProgress: opts.onProgress,
        stop: () => early ?? this.closedError ?? (opts.signal?.aborted ? abortError(opts.signal) : null),
      });
      sending.catch(() => {}); // when `stopped` wins, the sender ends on its own at its next frame
      await Promise.race([sending, stopped]);
      const item = await answer;
      if (item.t === "err") throw item.err;
      if (item.t !== "head") throw new ClipError("PROTOCOL", "unexpected reply to an upload");
      return item.meta;
    } catch (e) {
      if (!early && !this.closedError) this.conn.send(encodeFrame(FrameType.CANCEL, id, null));
      throw e;
    } finally {
      if (onAbort) opts.signal?.removeEventListener("abort", onAbort);
      this.streams.delete(id);
    }
  }

  /**
   * A value in memory that fits one frame (most kv puts): the request and its
   * value leave in one frame now, and the answer is the reply, with none of
   * a streamed upload's machinery (nothing to stop part way).
   */
  private uploadWhole(op: string, meta: Record<string, unknown>, bytes: Uint8Array, opts: UploadOptions): Promise<Record<string, unknown>> {
    const answered = this.call(op, { ...meta, size: bytes.length }, bytes);
    opts.onProgress?.(bytes.length);
    return answered;
  }

  /**
   * A large local file named rather than sent, where the
   * server takes that (its welcome says `handoff`): it reads it itself
   * (value/handoff.ts). Null: send the bytes (the server could not open that
   * very file: NOTFOUND).
   */
  private async uploadByPath(op: string, meta: Record<string, unknown>, source: ValueSource, opts: UploadOptions): Promise<Record<string, unknown> | null> {
    if (!handoffWanted() || !(await this.ready() as WelcomeMeta & { handoff?: boolean }).handoff) return null;
    const from = describeFile(source);
    if (!from) return null;
    try {
      const res = await this.call(op, { ...meta, size: from.size, from });
      opts.onProgress?.(from.size);
      source.close();
      return res;
    } catch (e) {
      if (isClipError(e, "NOTFOUND") && !this.closedError) return null;
      source.close();
      throw e;
    }
  }

  get closed(): boolean {
    return this.closedError !== null;
  }

  close(): void {
    // Wakes every stream still waiting (a watch, a subscription) with the error.
    this.lost(new ClipError("LOST", "the client was closed"));
    this.conn?.close("local");
  }
}

/** A head whose whole value is the caller's: small payloads are copies already (frame.ts); a larger one is a view of the socket's chunk. */
function owned(head: Head): Head {
  if (head.payload.length >= COPY_BELOW) head.payload = head.payload.slice();
  return head;
}

export function abortError(signal: AbortSignal): ClipError {
  const r = signal.reason;
  if (r instanceof ClipError) return r;
  return new ClipError("TIMEOUT", "aborted", { cause: r });
}
