// The library's key-value store: `await client.kv({ group, secret })` proves
// the secret once on the connection and returns a handle for that group;
// `watch(key)` is an async iterator (breaking out unsubscribes). Also the
// admin calls for groups and apps. Built on the multiplexer's requests.

import { ClipError } from "../protocol/errors.ts";
import { type AppInfo, type AppsReport, type GroupInfo, type KeyInfo, checkGroupName, checkKey } from "../protocol/messages.ts";

export type { AppInfo, AppsReport, GroupInfo, KeyInfo };
import { FrameType } from "../protocol/frame.ts";
import { collect } from "../value/sink.ts";
import { type SourceLike, toSource } from "../value/source.ts";
import type { Head, Message, Mux, Subscription } from "./mux.ts";

type Client = Mux;

export interface PutOptions {
  /** Progress callback: bytes sent so far, and the total when known. */
  onProgress?: (sent: number, total: number | undefined) => void;
  signal?: AbortSignal;
}

export interface KvOptions {
  group: string;
  secret: string;
}

export type KvEvent =
  | ({ event: "put"; value: Uint8Array } & KeyInfo)
  | { event: "del"; key: string; rev: number; at: number; by: string };

export interface WatchOptions {
  signal?: AbortSignal;
  /**
   * Changes held for a consumer that has not taken them yet. Past this the
   * watch ends with ClipError("SLOW"): a consumer that cannot keep up is
   * told, not buffered without end. Default 1024.
   */
  maxQueued?: number;
}

const dec = new TextDecoder();
/** Values up to this size are sent in the request frame itself. */
const SMALL_VALUE = 64 << 10;

async function jsonBody<T>(c: Client, op: string, meta: Record<string, unknown>): Promise<T> {
  const r = await c.callValue(op, meta);
  return JSON.parse(dec.decode(r.bytes)) as T;
}

/** Proves the group's secret on this connection. */
export async function openKv(c: Client, opts: KvOptions): Promise<Kv> {
  const group = checkGroupName(opts.group);
  if (typeof opts.secret !== "string" || opts.secret === "") throw new ClipError("AUTH", "a group secret is needed: --secret S or CLIP_SECRET");
  await c.call("kv.auth", { group, secret: opts.secret });
  return new Kv(c, group);
}

/** Bounds the uploads one client has in flight (the server refuses more than 16 per connection). */
class Gate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly max: number) {}
  acquire(): Promise<void> {
    if (this.active < this.max) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}

const gates = new WeakMap<Client, Gate>();
function uploadGate(c: Client): Gate {
  let g = gates.get(c);
  if (!g) gates.set(c, (g = new Gate(8)));
  return g;
}

export class Kv {
  constructor(
    private readonly c: Client,
    readonly group: string,
  ) {}

  /** Sets `key` to `value` (bytes, string, Blob or stream); resolves once applied on this server. */
  async put(key: string, value: SourceLike, opts: PutOptions = {}): Promise<{ rev: number; size: number }> {
    checkKey(key);
    const source = toSource(value);
    const up = () => this.c.upload("kv.put", { group: this.group, key }, source, { signal: opts.signal, onProgress: opts.onProgress && ((n) => opts.onProgress!(n, source.size)) });
    // Short values go whole in one frame: the common case, and no upload slot is held on the server.
    if (source.size !== undefined && source.size <= SMALL_VALUE) return (await up()) as { rev: number; size: number };
    // The server takes 16 uploads at once per connection; more wait here instead of failing BUSY.
    const gate = uploadGate(this.c);
    await gate.acquire();
    try {
      return (await up()) as { rev: number; size: number };
    } finally {
      gate.release();
    }
  }

  /** The value of `key`; a missing key rejects with ClipError("NOTFOUND"). */
  async get(key: string): Promise<Uint8Array> {
    return (await this.c.callValue("kv.get", { group: this.group, key: checkKey(key) })).bytes;
  }

  /** The value decoded as UTF-8. */
  async getText(key: string): Promise<string> {
    return dec.decode(await this.get(key));
  }

  /** The value as a stream, for values too large to hold; call done() when finished. */
  async getStream(key: string): Promise<Message & { done(): void }> {
    return await this.c.request("kv.get", { group: this.group, key: checkKey(key) });
  }

  /** Deletes `key`; a missing key rejects with ClipError("NOTFOUND"). */
  async del(key: string): Promise<{ rev: number }> {
    return (await this.c.call("kv.del", { group: this.group, key: checkKey(key) })) as { rev: number };
  }

  /** The keys (optionally under a prefix), in key order. */
  async list(prefix = ""): Promise<KeyInfo[]> {
    if (prefix !== "") checkKey(prefix);
    return await jsonBody<KeyInfo[]>(this.c, "kv.list", { group: this.group, prefix });
  }

  /**
   * Every later change of `key`, in order. The watch starts at once (await
   * `.ready` to know the server has it in place); iterate it with for await,
   * and break out (or call close()) to unsubscribe.
   */
  watch(key: string, opts: WatchOptions = {}): KvWatch {
    return new KvWatch(this.c, this.group, checkKey(key), opts);
  }
}

const STOPPED = new ClipError("LOST", "watch closed");

export class KvWatch implements AsyncIterableIterator<KvEvent> {
  /** Resolves once the server has the watch in place; rejects if it refused it. */
  readonly ready: Promise<void>;
  private readonly queue: KvEvent[] = [];
  private waiter: { resolve: (r: IteratorResult<KvEvent>) => void; reject: (e: unknown) => void } | null = null;
  private error: ClipError | null = null;
  private finished = false;
  private readonly ctl = new AbortController();
  private readonly max: number;

  constructor(c: Client, group: string, key: string, opts: WatchOptions) {
    this.max = opts.maxQueued ?? 1024;
    let ready!: () => void;
    let refused!: (e: unknown) => void;
    this.ready = new Promise<void>((res, rej) => {
      ready = res;
      refused = rej;
    });
    this.ready.catch(() => {}); // surfaced through next() as well
    if (opts.signal) {
      const sig = opts.signal;
      if (sig.aborted) this.close();
      else sig.addEventListener("abort", () => this.close(), { once: true });
    }
    this.markReady = ready;
    this.pump(() => c.subscription("kv.watch", { group, key }, this.ctl.signal, (m) => this.take(m)), refused);
  }

  private markReady: () => void;
  /** The pump is reading a value longer than its frame: later changes wait their turn. */
  private collecting = false;

  /**
   * A change whose value is whole in its frame, handled as the frame
   * arrives: a 1000-watcher fan-out pays no promise or generator per
   * watcher. False leaves it to the pump (the end of the stream, or while
   * the pump reads a long value, so changes stay in order).
   */
  private take(m: Head): boolean {
    if (this.collecting || m.type === FrameType.RES) return false;
    this.handle(m, m.payload);
    return true;
  }

  private handle(m: Head, value: Uint8Array): void {
    const ev = m.meta.event;
    if (ev === "watching") this.markReady();
    else if (ev === "put") {
      // The meta is this head's own (parsed from its frame): it becomes the event, no copy.
      m.meta.value = value;
      this.push(m.meta as unknown as KvEvent);
    } else if (ev === "del") this.push(m.meta as unknown as KvEvent);
    if (this.queue.length > this.max) this.fail(new ClipError("SLOW", `the watch fell more than ${this.max} changes behind its reader and was cut off`));
  }

  /** What take() left: a value longer than its frame, the end, an error. */
  private async pump(open: () => Subscription, refused: (e: unknown) => void): Promise<void> {
    let sub: Subscription | undefined;
    try {
      sub = open(); // a closed client fails the watch through next()/ready, as before
      while (!this.finished) {
        const m = await sub.next();
        if (m.type === FrameType.RES) break; // the server ended the watch
        if (m.fin) this.handle(m, m.payload);
        else {
          this.collecting = true;
          try {
            this.handle(m, await collect(sub.rest(m)));
          } finally {
            this.collecting = false;
          }
        }
      }
      this.fail(null);
    } catch (e) {
      this.fail(e === STOPPED ? null : e instanceof ClipError ? e : new ClipError("INTERNAL", String(e)));
    } finally {
      sub?.close();
      refused(this.error ?? STOPPED);
    }
  }

  private push(e: KvEvent): void {
    if (this.finished) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve({ value: e, done: false });
    } else this.queue.push(e);
  }

  /** Ends the stream after what is queued: with an error, or normally (null). */
  private fail(e: ClipError | null): void {
    if (this.finished) return;
    this.finished = true;
    this.error = e;
    this.ctl.abort(STOPPED);
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      if (e) w.reject(e);
      else w.resolve({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<KvEvent>> {
    const e = this.queue.shift();
    if (e) return Promise.resolve({ value: e, done: false });
    if (this.finished) return this.error ? Promise.reject(this.error) : Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** Unsubscribes (the server stops sending at once). */
  close(): void {
    this.queue.length = 0;
    this.fail(null);
  }

  return(): Promise<IteratorResult<KvEvent>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/** Admin calls on groups (unix socket, or a client that proved the cluster token). */
export class Groups {
  constructor(private readonly c: Client) {}

  /** Creates a group; resolves with its secret, which is shown only now. */
  async create(group: string): Promise<string> {
    return String((await this.c.call("group.create", { group: checkGroupName(group) })).secret);
  }

  /** Issues a new secret; sessions that proved the old one are disconnected. */
  async rotate(group: string): Promise<string> {
    return String((await this.c.call("group.rotate", { group: checkGroupName(group) })).secret);
  }

  /** Deletes a group and its keys; its connected applications are disconnected. */
  async delete(group: string): Promise<{ keys: number }> {
    return (await this.c.call("group.delete", { group: checkGroupName(group) })) as { keys: number };
  }

  async info(group: string): Promise<GroupInfo> {
    return (await this.c.call("group.info", { group: checkGroupName(group) })) as unknown as GroupInfo;
  }

  list(): Promise<GroupInfo[]> {
    return jsonBody<GroupInfo[]>(this.c, "group.list", {});
  }
}

/** The applications connected to the server, and those that left in the last hour. */
export function listApps(c: Client): Promise<AppsReport> {
  return jsonBody<AppsReport>(c, "apps", {});
}
