// The client everything else uses: the library (`import { connect } from
// "clip"`), the CLI, the shell and the tree's tests. One connection carries
// many requests at once, each on its own stream id, so a wait in flight
// never blocks a paste on the same connection.

import { type Address, clientAddress, formatAddress, parseAddress } from "../net/address.ts";
import type { Conn } from "../net/conn.ts";
import { dial } from "../net/dial.ts";
import { FramePool } from "../net/pool.ts";
import { ClipError, asClipError } from "../protocol/errors.ts";
import { COPY_BELOW, FrameDecoder, FrameType, HEADER_SIZE, MAX_CHUNK, MAX_FRAME, PROTOCOL_VERSION, encodeFrame, writeHeader, type Frame } from "../protocol/frame.ts";
import { type PeerKind, type RegionInfo, type WelcomeMeta, parseRegion } from "../protocol/messages.ts";
import { Inbox, type Item } from "./inbox.ts";
import { type AppsReport, Groups, type Kv, type KvOptions, listApps, openKv } from "./kv.ts";

export interface ConnectOptions {
  /** Address: unix:/path, /path, tcp:host:port, host:port. Default: $CLIP_SERVER or the default socket. */
  server?: string | Address;
  /** Cluster token, proved (never sent) when the server asks for it over TCP. */
  token?: string;
  /** Who we are, for `clip apps`. */
  kind?: PeerKind;
  name?: string;
  /** CA file (PEM) to trust for a TLS server; `true` for the system's CAs. */
  tls?: { ca?: string } | boolean;
  /** Connect timeout in ms. */
  timeoutMs?: number;
}

/** One message head on a subscription (see Client.subscription). */
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
}

export type CopySource = Uint8Array | string | Blob | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | FileSource;

/**
 * A file (a path, or an open fd read from its current offset) copied by
 * reading it straight into frame buffers: no stream, no intermediate chunk.
 * `size`, when known, is announced to the server.
 */
export class FileSource {
  constructor(
    readonly file: string | number,
    readonly size?: number,
  ) {}
}

export interface CopyOptions {
  /** Progress callback: bytes sent so far. */
  onProgress?: (sent: number, total: number | undefined) => void;
  signal?: AbortSignal;
}

export interface WaitOptions {
  signal?: AbortSignal;
  /** Seconds; on expiry the promise rejects with ClipError("TIMEOUT"). */
  timeout?: number;
}

const HIGH_WATER = 16 << 20;
const LOW_WATER = 4 << 20;

const encoder = new TextEncoder();

export class Client {
  private conn!: Conn;
  private readonly decoder = new FrameDecoder(MAX_FRAME, { streamData: true }); // DATA as views of the socket chunks: no 1 MiB copy per frame
  private nextId = 1;
  private readonly streams = new Map<number, Inbox>();
  private buffered = 0;
  private paused = false;
  private closedError: ClipError | null = null;
  private readonly flow = { account: (d: number) => this.account(d) };
  welcome!: WelcomeMeta;
  readonly address: Address;

  private constructor(address: Address) {
    this.address = address;
  }

  static async connect(opts: ConnectOptions = {}): Promise<Client> {
    const addr = typeof opts.server === "object" ? opts.server : opts.server ? parseAddress(opts.server) : clientAddress();
    const c = new Client(addr);
    const tls = opts.tls === true ? true : opts.tls && opts.tls.ca ? { ca: Bun.file(opts.tls.ca) } : undefined;
    const timeoutMs = opts.timeoutMs ?? 10_000;
    c.conn = await dial(addr, () => c.handler(), { tls, timeoutMs });
    // Something that accepts and never speaks (a wrong port, a stuck peer)
    // must not hold a command forever. The server's own deadline is 10 s.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const silent = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ClipError("NOSERVER", `no answer from ${formatAddress(addr)} within ${Math.round(timeoutMs / 1000)} s (is it a clip server?)`)), timeoutMs);
    });
    try {
      await Promise.race([c.handshake(opts), silent]);
    } catch (e) {
      c.close();
      throw e;
    } finally {
      clearTimeout(timer);
    }
    return c;
  }

  private handler() {
    return {
      data: (chunk: Uint8Array) => this.data(chunk),
      closed: () => this.lost(new ClipError("LOST", `connection to ${formatAddress(this.address)} was lost`)),
    };
  }

  private async handshake(opts: ConnectOptions): Promise<void> {
    const hello = { op: "hello", v: PROTOCOL_VERSION, kind: opts.kind ?? "lib", pid: process.pid, name: opts.name };
    this.welcome = (await this.call("hello", hello)) as unknown as WelcomeMeta;
    if (this.welcome.auth !== "token") return;
    if (!opts.token) throw new ClipError("AUTH", `the server at ${formatAddress(this.address)} requires the cluster token (use --token-file, CLIP_TOKEN or --token)`);
    const { clientProof, nonce, sameHex, serverProof } = await import("../server/auth.ts");
    const cnonce = nonce();
    const snonce = String(this.welcome.nonce ?? "");
    const res = await this.call("auth", { cnonce, proof: clientProof(opts.token, snonce, cnonce) });
    if (typeof res.proof !== "string" || !sameHex(res.proof, serverProof(opts.token, snonce, cnonce))) {
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
        inbox.push({ t: "head", type: f.type, meta: f.meta, payload: f.payload, fin: f.fin });
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

  /** Reads the next message (RES or EVT head plus its streamed body). */
  private async message(id: number, inbox: Inbox): Promise<Message> {
    const head = await inbox.next();
    if (head.t === "err") throw head.err;
    if (head.t !== "head") throw new ClipError("PROTOCOL", "value data before its message");
    const body = this.body(head, inbox);
    return { type: head.type, meta: head.meta, body };
  }

  private async *body(head: Extract<Item, { t: "head" }>, inbox: Inbox): AsyncGenerator<Uint8Array> {
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
  async call(op: string, meta: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const { id, inbox } = this.openStream();
    try {
      this.conn.send(encodeFrame(FrameType.REQ, id, { ...meta, op }));
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
        this.conn.send(encodeFrame(FrameType.REQ, id, { ...meta, op }));
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
      this.conn.send(encodeFrame(FrameType.REQ, id, { ...meta, op }));
      const m = await this.message(id, inbox);
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
      this.conn.send(encodeFrame(FrameType.REQ, id, { ...meta, op }));
      while (true) {
        const m = await this.message(id, inbox);
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
   * consumers that take small values whole (kv watch): next() resolves with
   * each RES/EVT head, whose `payload` is the whole value when `fin` is set;
   * a longer value continues in rest(head). close() cancels the stream.
   */
  subscription(op: string, meta: Record<string, unknown>, signal?: AbortSignal, tap?: (head: Head) => boolean): Subscription {
    const { id, inbox } = this.openStream();
    // `tap` may take a head whose value is whole as it arrives; what it leaves comes through next().
    if (tap) inbox.tap = (item) => item.t === "head" && item.fin && tap(owned(item));
    const onAbort = () => inbox.push({ t: "err", err: abortError(signal!) });
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) onAbort();
    this.conn.send(encodeFrame(FrameType.REQ, id, { ...meta, op }));
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
   * A request whose small value rides whole in the REQ frame (one frame, no
   * upload bookkeeping): what kv puts of short values use. Larger values go
   * through upload().
   */
  async callWith(op: string, meta: Record<string, unknown>, value: Uint8Array): Promise<Record<string, unknown>> {
    if (value.length > MAX_CHUNK) return this.upload(op, meta, value);
    const { id, inbox } = this.openStream();
    try {
      this.conn.send(encodeFrame(FrameType.REQ, id, { ...meta, op, size: value.length }, value, true));
      return (await this.answer(inbox, false)).meta;
    } finally {
      this.endStream(id, false);
    }
  }

  /** Sends a request with a value, streamed in frames as the connection drains. */
  async upload(op: string, meta: Record<string, unknown>, source: CopySource, opts: CopyOptions = {}): Promise<Record<string, unknown>> {
    const { id, inbox } = this.openStream();
    let failed: ClipError | null = null;
    // Watch for an early ERR (a refused or oversize value): stop sending at once.
    const early = inbox.next().then((item) => {
      if (item.t === "err") failed = item.err;
      return item;
    });
    try {
      const whole = source instanceof Uint8Array ? source : typeof source === "string" ? encoder.encode(source) : null;
      if (whole && whole.length <= MAX_CHUNK) {
        // A value that fits one frame rides in the request itself: no frame
        // pool (a 1 MiB buffer per 16-byte copy was most of a small copy's cost).
        if (opts.signal?.aborted) throw abortError(opts.signal);
        this.conn.send(encodeFrame(FrameType.REQ, id, { ...meta, op, size: whole.length }, whole, true));
        opts.onProgress?.(whole.length, whole.length);
        const item = await early;
        if (item.t === "err") throw item.err;
        if (item.t !== "head") throw new ClipError("PROTOCOL", "unexpected reply to an upload");
        return item.meta;
      }
      const size = sizeOf(source);
      this.conn.send(encodeFrame(FrameType.REQ, id, { ...meta, op, ...(size !== undefined ? { size } : {}) }, new Uint8Array(0), false));
      const frame = new DataWriter(this.conn, new FramePool(this.conn, HEADER_SIZE + MAX_CHUNK), id, (sent) => opts.onProgress?.(sent, size));
      if (source instanceof FileSource) {
        // Loaded here: node:fs costs start-up time every other command would pay.
        const fs = require("node:fs") as typeof import("node:fs");
        const fd = typeof source.file === "number" ? source.file : fs.openSync(source.file, "r");
        try {
          while (await frame.fill((into) => fs.readSync(fd, into, 0, into.length, null))) {
            if (failed) throw failed;
            if (this.closedError) throw this.closedError;
            if (opts.signal?.aborted) throw abortError(opts.signal);
          }
        } finally {
          if (fd !== source.file) fs.closeSync(fd);
        }
      }
      for await (const chunk of chunks(source)) {
        if (failed) throw failed;
        if (this.closedError) throw this.closedError;
        if (opts.signal?.aborted) throw abortError(opts.signal);
        await frame.push(chunk);
        if (this.conn.queued > LOW_WATER) await this.conn.drained();
      }
      if (failed) throw failed;
      if (opts.signal?.aborted) throw abortError(opts.signal);
      await frame.end();
      const item = await early;
      if (item.t === "err") throw item.err;
      if (item.t !== "head") throw new ClipError("PROTOCOL", "unexpected reply to an upload");
      return item.meta;
    } catch (e) {
      if (!failed && !this.closedError) this.conn.send(encodeFrame(FrameType.CANCEL, id, null));
      throw e;
    } finally {
      this.streams.delete(id);
    }
  }

  // --- the clipboard ---

  copy(region: number, data: CopySource, opts?: CopyOptions): Promise<{ seq: number; size: number }> {
    const r = parseRegion(region);
    return this.upload("copy", { r }, data, opts) as Promise<{ seq: number; size: number }>;
  }

  async paste(region: number): Promise<Uint8Array> {
    return (await this.callValue("paste", { r: parseRegion(region) })).bytes;
  }

  /** paste as a stream, for values too large to hold. */
  pasteStream(region: number): Promise<Message & { done(): void }> {
    return this.request("paste", { r: parseRegion(region) });
  }

  /** Resolves with the next value written to `region` after this call. */
  async wait(region: number, opts: WaitOptions = {}): Promise<Uint8Array> {
    const m = await this.waitStream(region, opts);
    try {
      return await collect(m.body, typeof m.meta.size === "number" ? m.meta.size : undefined);
    } finally {
      m.done();
    }
  }

  waitStream(region: number, opts: WaitOptions = {}): Promise<Message & { done(): void }> {
    const r = parseRegion(region);
    return withTimeout(opts, (signal) => this.request("wait", { r }, signal));
  }

  /** Every later write to `region`, as whole values, until the loop breaks or the signal aborts. */
  async *follow(region: number, opts: { signal?: AbortSignal } = {}): AsyncGenerator<Uint8Array> {
    for await (const m of this.followStream(region, opts)) yield await collect(m.body, typeof m.meta.size === "number" ? m.meta.size : undefined);
  }

  followStream(region: number, opts: { signal?: AbortSignal } = {}): AsyncGenerator<Message> {
    return this.subscribe("wait", { r: parseRegion(region), follow: true }, opts.signal);
  }

  async list(): Promise<RegionInfo[]> {
    return (await this.call("list")).regions as RegionInfo[];
  }

  status(): Promise<Record<string, unknown>> {
    return this.call("status");
  }

  /** The whole tree as this server sees it: `{root, self}`, each server with its children (admin). */
  tree(): Promise<Record<string, unknown>> {
    return this.call("tree.show");
  }

  // --- groups and keys (src/client/kv.ts) ---

  /** Proves a group's secret on this connection and returns its key-value store. */
  kv(opts: KvOptions): Promise<Kv> {
    return openKv(this, opts);
  }

  /** Admin: create, rotate, delete, inspect and list groups. */
  get groups(): Groups {
    return new Groups(this);
  }

  /** Admin: the applications connected to the server, and those that left lately. */
  apps(): Promise<AppsReport> {
    return listApps(this);
  }

  get closed(): boolean {
    return this.closedError !== null;
  }

  close(): void {
    // Wakes every stream still waiting (a watch, a subscription) with the error.
    this.lost(new ClipError("LOST", "the client was closed"));
    this.conn?.close("local");
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** A head whose whole value is the caller's: small payloads are copies already (frame.ts); a larger one is a view of the socket's chunk. */
function owned(head: Head): Head {
  if (head.payload.length >= COPY_BELOW) head.payload = head.payload.slice();
  return head;
}

/** Collects a body; preallocates when the size is known. */
export async function collect(body: AsyncIterable<Uint8Array>, size?: number): Promise<Uint8Array> {
  if (size !== undefined) {
    const out = new Uint8Array(size);
    let o = 0;
    for await (const c of body) {
      if (o + c.length > size) throw new ClipError("PROTOCOL", "value longer than announced");
      out.set(c, o);
      o += c.length;
    }
    if (o !== size) throw new ClipError("PROTOCOL", `value of ${o} bytes, ${size} announced`);
    return out;
  }
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of body) {
    parts.push(c.slice());
    n += c.length;
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Packs arbitrary chunks into DATA frames of MAX_CHUNK bytes, copying each
 * byte once, straight into a pooled frame buffer behind its header (the
 * pool also holds us back while the socket is behind).
 */
class DataWriter {
  private buf: Uint8Array | null = null;
  private n = 0;
  private sent = 0;
  constructor(
    private readonly conn: Conn,
    private readonly pool: FramePool,
    private readonly id: number,
    private readonly onFrame: (sent: number) => void,
  ) {}
  async push(chunk: Uint8Array): Promise<void> {
    let pos = 0;
    while (pos < chunk.length) {
      this.buf ??= await this.pool.take();
      const take = Math.min(MAX_CHUNK - this.n, chunk.length - pos);
      this.buf.set(chunk.subarray(pos, pos + take), HEADER_SIZE + this.n);
      this.n += take;
      pos += take;
      if (this.n === MAX_CHUNK) await this.sendFull();
    }
  }
  /** Reads straight into the frame being filled; resolves false once `read` returns 0 (the end). */
  async fill(read: (into: Uint8Array) => number): Promise<boolean> {
    this.buf ??= await this.pool.take();
    const k = read(this.buf.subarray(HEADER_SIZE + this.n, HEADER_SIZE + MAX_CHUNK));
    this.n += k;
    if (this.n === MAX_CHUNK) await this.sendFull();
    return k > 0;
  }
  private async sendFull(): Promise<void> {
    // Room on the connection, checked with no await before the send:
    // uploads sharing a connection (up to 16) each hold pool buffers in
    // flight, and together they must stay under the queue's hard limit
    // or the connection is cut as slow.
    while (!this.conn.isClosed && this.conn.queued > LOW_WATER) await this.conn.drained(LOW_WATER);
    this.send(false);
  }
  async end(): Promise<void> {
    this.buf ??= await this.pool.take();
    while (!this.conn.isClosed && this.conn.queued > LOW_WATER) await this.conn.drained(LOW_WATER);
    this.send(true);
  }
  private send(fin: boolean): void {
    writeHeader(this.buf!, FrameType.DATA, this.id, 0, this.n, fin);
    this.pool.send(this.buf!, HEADER_SIZE + this.n);
    this.sent += this.n;
    this.buf = null;
    this.n = 0;
    this.onFrame(this.sent);
  }
}

function sizeOf(source: CopySource): number | undefined {
  if (source instanceof Uint8Array) return source.length;
  if (typeof source === "string") return undefined;
  if (source instanceof Blob) return source.size;
  if (source instanceof FileSource) return source.size;
  return undefined;
}

async function* chunks(source: CopySource): AsyncGenerator<Uint8Array> {
  if (source instanceof FileSource) return; // read by upload() itself
  if (source instanceof Uint8Array) {
    yield source;
  } else if (typeof source === "string") {
    yield encoder.encode(source);
  } else if (source instanceof Blob) {
    yield* source.stream() as unknown as AsyncIterable<Uint8Array>;
  } else {
    yield* source as AsyncIterable<Uint8Array>;
  }
}

function abortError(signal: AbortSignal): ClipError {
  const r = signal.reason;
  if (r instanceof ClipError) return r;
  return new ClipError("TIMEOUT", "aborted", { cause: r });
}

async function withTimeout<T>(opts: WaitOptions, fn: (signal?: AbortSignal) => Promise<T>): Promise<T> {
  if (opts.timeout === undefined) return fn(opts.signal);
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new ClipError("TIMEOUT", `nothing arrived within ${opts.timeout} s`)), opts.timeout * 1000);
  const onAbort = () => ctl.abort(opts.signal!.reason);
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    return await fn(ctl.signal);
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
  }
}

/** Opens a client: the library's front door. */
export function connect(opts: ConnectOptions | string = {}): Promise<Client> {
  return Client.connect(typeof opts === "string" ? { server: opts } : opts);
}
