// The library's key-value store: `await client.kv({ group, secret })` proves
// the secret once on the connection and returns a handle for that group;
// `watch(key)` (or `watch({ prefix })`) is an async iterator: breaking out
// unsubscribes, and when the connection drops it resumes where it left off
// (watch.ts). Also the admin calls for groups and apps.

import { ClipError } from "../protocol/errors.ts";
import { type AppInfo, type AppsReport, type GroupInfo, type HistoryRow, type KeyInfo, checkGroupName, checkKey } from "../protocol/messages.ts";
import { FrameType } from "../protocol/frame.ts";
import { collect } from "../value/sink.ts";
import { type SourceLike, toSource } from "../value/source.ts";
import type { Head, Message, Mux, Subscription } from "./mux.ts";
import { type LoadSealing, openReply, openWhole } from "./opened.ts";
import { isSealed } from "../crypto/magic.ts";
import { type Clip, type ReadOptions, type WriteOptions, type Written, clipOf, writeFields } from "./shapes.ts";
import { isLinkLoss, type Link } from "./watch.ts";

export type { AppInfo, AppsReport, GroupInfo, HistoryRow, KeyInfo };

export type PutOptions = WriteOptions;

export interface KvOptions {
  group: string;
  secret: string;
}

/** One change of a key, in order: its value (put), or that it was deleted or expired. */
export type KvEvent = ({ event: "put"; value: Uint8Array } & KeyInfo) | ({ event: "del" | "expire" } & KeyInfo);

export interface WatchOptions {
  signal?: AbortSignal;
  /** Every change after this revision that is still held first, then the live ones. */
  since?: number;
  /** Resume where it left off when the connection drops (default true). */
  resume?: boolean;
  /**
   * Changes held here for a consumer that has not taken them yet. Past this
   * the watch stops reading them off the connection, which then stops
   * reading its socket: the server holds the rest, and cuts off (SLOW) a
   * watcher that falls too far behind rather than buffering it without end.
   * A burst (a replay from `since`) just waits its turn. Default 1024.
   */
  maxQueued?: number;
}

const dec = new TextDecoder();
/** Values up to this size are sent in the request frame itself. */
const SMALL_VALUE = 64 << 10;

async function jsonBody<T>(c: Mux, op: string, meta: Record<string, unknown>): Promise<T> {
  const r = await c.callValue(op, meta);
  return JSON.parse(dec.decode(r.bytes)) as T;
}

function checkSecret(secret: unknown): string {
  if (typeof secret !== "string" || secret === "") throw new ClipError("AUTH", "a group secret is needed: --secret S or CLIP_SECRET");
  return secret;
}

/** Proves the group's secret on this connection; `sealing` opens and seals values (the client's). */
export async function openKv(link: Link, opts: KvOptions, sealing: LoadSealing): Promise<Kv> {
  const group = checkGroupName(opts.group);
  const secret = checkSecret(opts.secret);
  await link.mux.call("kv.auth", { group, secret });
  return new Kv(link, group, secret, link.mux, sealing);
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

const gates = new WeakMap<Mux, Gate>();
function uploadGate(c: Mux): Gate {
  let g = gates.get(c);
  if (!g) gates.set(c, (g = new Gate(8)));
  return g;
}

export class Kv {
  constructor(
    private readonly link: Link,
    readonly group: string,
    private readonly secret: string,
    /** The connection the secret was proved on. */
    private provedOn: Mux,
    /** End-to-end encryption: the client's, loaded when first needed. */
    private readonly sealing: LoadSealing,
  ) {}

  /** The connection, with the secret proved on it (again, after a reconnect). */
  private conn(revive = false): Mux | Promise<Mux> {
    if (!revive && this.link.mux === this.provedOn) return this.provedOn; // the usual case: no promise
    return this.prove(revive);
  }

  private async prove(revive: boolean): Promise<Mux> {
    const m = revive ? await this.link.revive() : this.link.mux;
    if (m !== this.provedOn) {
      await m.call("kv.auth", { group: this.group, secret: this.secret });
      this.provedOn = m;
    }
    return m;
  }

  /** Sets `key` to `value` (bytes, string, Blob or stream); resolves with its revision once applied on this server. */
  async put(key: string, value: SourceLike, opts: PutOptions = {}): Promise<Written> {
    checkKey(key);
    const c = await this.conn();
    let source = toSource(value);
    let fields = writeFields(opts);
    if (opts.encrypt) ({ source, fields } = await (await this.sealing()).sealWrite(source, opts.encrypt, { group: this.group, key }, fields));
    const up = () => c.upload("kv.put", { group: this.group, key, ...fields }, source, { signal: opts.signal, onProgress: opts.onProgress && ((n) => opts.onProgress!(n, source.size)) });
    // Short values go whole in one frame: the common case, and no upload slot is held on the server.
    if (source.size !== undefined && source.size <= SMALL_VALUE) return (await up()) as unknown as Written;
    // The server takes 16 uploads at once per connection; more wait here instead of failing BUSY.
    const gate = uploadGate(c);
    await gate.acquire();
    try {
      return (await up()) as unknown as Written;
    } finally {
      gate.release();
    }
  }

  /** The value of `key` (`rev` or `back` for an earlier one); a missing key rejects with ClipError("NOTFOUND"). */
  async get(key: string, at?: ReadOptions): Promise<Uint8Array> {
    const { meta, bytes } = await (await this.conn()).callValue("kv.get", { group: this.group, key: checkKey(key), ...at });
    return openWhole(this.sealing, { group: this.group, key }, meta, bytes);
  }

  /** The value with its revision, type and times. */
  async read(key: string, at: ReadOptions = {}): Promise<Clip> {
    const { meta, bytes } = await (await this.conn()).callValue("kv.get", { group: this.group, key: checkKey(key), ...at });
    return clipOf(meta, await openWhole(this.sealing, { group: this.group, key }, meta, bytes));
  }

  /** The value decoded as UTF-8. */
  async getText(key: string, at: ReadOptions = {}): Promise<string> {
    return dec.decode(await this.get(key, at));
  }

  /** The value as a stream, for values too large to hold; call done() when finished. */
  async getStream(key: string, at: ReadOptions = {}): Promise<Message & { done(): void }> {
    const m = await (await this.conn()).request("kv.get", { group: this.group, key: checkKey(key), ...at });
    return openReply(this.sealing, { group: this.group, key }, m);
  }

  /** Deletes `key`; a missing key rejects with ClipError("NOTFOUND"). */
  async del(key: string, opts: { ifRev?: number } = {}): Promise<{ rev: number }> {
    return (await (await this.conn()).call("kv.del", { group: this.group, key: checkKey(key), ...writeFields(opts) })) as { rev: number };
  }

  /** The keys (optionally under a prefix), in key order. */
  async list(prefix = ""): Promise<KeyInfo[]> {
    if (prefix !== "") checkKey(prefix);
    return await jsonBody<KeyInfo[]>(await this.conn(), "kv.list", { group: this.group, prefix });
  }

  /** The key's values, newest first: the current one, then those history keeps (deletes and expiries as rows). */
  async history(key: string): Promise<HistoryRow[]> {
    return await jsonBody<HistoryRow[]>(await this.conn(), "kv.history", { group: this.group, key: checkKey(key) });
  }

  /**
   * Every later change of `key` (or of every key under `{ prefix }`), in
   * order, from `since` if given. The watch starts at once (await `.ready`
   * to know the server has it in place); iterate it with for await, and
   * break out (or call close()) to unsubscribe.
   */
  watch(what: string | { prefix: string }, opts: WatchOptions = {}): KvWatch {
    const target = typeof what === "string" ? { key: checkKey(what) } : { prefix: what.prefix === "" ? "" : checkKey(what.prefix) };
    return new KvWatch(async (revive) => this.conn(revive), this.group, target, opts, this.sealing);
  }
}

const STOPPED = new ClipError("LOST", "watch closed");

/** A change's value that is not sealed, as it came: it is not said to be encrypted, whatever the server says (opened.ts). */
function plain(m: Head): Uint8Array {
  delete m.meta.encrypted;
  return m.payload;
}

export class KvWatch implements AsyncIterableIterator<KvEvent> {
  /** Resolves once the server has the watch in place; rejects if it refused it. */
  readonly ready: Promise<void>;
  private readonly queue: KvEvent[] = [];
  private waiter: { resolve: (r: IteratorResult<KvEvent>) => void; reject: (e: unknown) => void } | null = null;
  private error: ClipError | null = null;
  private finished = false;
  private readonly ctl = new AbortController();
  private readonly max: number;
  /** Where the watch stands: what a resume asks for. */
  private rev: number | undefined;
  private lineage: string | undefined;
  private markReady!: () => void;
  /** The pump is reading a value longer than its frame: later changes wait their turn. */
  private collecting = false;
  /** Wakes the pump when a full queue has room again. */
  private roomy: (() => void) | null = null;

  constructor(
    private readonly conn: (revive: boolean) => Promise<Mux>,
    private readonly group: string,
    private readonly target: { key: string } | { prefix: string },
    private readonly opts: WatchOptions,
    private readonly sealing: LoadSealing,
  ) {
    this.max = opts.maxQueued ?? 1024;
    this.rev = opts.since;
    let refused!: (e: unknown) => void;
    this.ready = new Promise<void>((res, rej) => {
      this.markReady = res;
      refused = rej;
    });
    this.ready.catch(() => {}); // surfaced through next() as well
    if (opts.signal) {
      const sig = opts.signal;
      if (sig.aborted) this.close();
      else sig.addEventListener("abort", () => this.close(), { once: true });
    }
    this.run(refused);
  }

  /** Subscribes, and subscribes again after a lost connection, until the watch ends. */
  private async run(refused: (e: unknown) => void): Promise<void> {
    let revive = false;
    try {
      while (!this.finished) {
        const c = await this.conn(revive);
        const meta: Record<string, unknown> = { group: this.group, ...this.target };
        if (this.rev !== undefined) meta.since = this.rev;
        if (this.lineage !== undefined) meta.lineage = this.lineage;
        try {
          await this.pump(c.subscription("kv.watch", meta, this.ctl.signal, (m) => this.take(m)));
          break;
        } catch (e) {
          if (e === STOPPED || this.finished || this.opts.resume === false || !isLinkLoss(e)) throw e;
          revive = true;
        }
      }
      this.fail(null);
    } catch (e) {
      this.fail(e === STOPPED ? null : e instanceof ClipError ? e : new ClipError("INTERNAL", String(e)));
    } finally {
      refused(this.error ?? STOPPED);
    }
  }

  /**
   * A change whose value is whole in its frame, handled as the frame
   * arrives: a 1000-watcher fan-out pays no promise or generator per
   * watcher. False leaves it to the pump (the end of the stream, or while
   * the pump reads a long value, so changes stay in order).
   */
  private take(m: Head): boolean {
    if (this.collecting || m.type === FrameType.RES || this.queue.length >= this.max) return false;
    if (isSealed(m.payload)) {
      // Opened by the pump (the key may have to be loaded); later changes queue behind it, in order.
      this.collecting = true;
      return false;
    }
    this.handle(m, plain(m));
    return true;
  }

  private handle(m: Head, value: Uint8Array): void {
    const meta = m.meta;
    const ev = meta.event;
    if (ev === "watching") {
      this.lineage = String(meta.lineage ?? "");
      this.rev ??= Number(meta.rev ?? 0);
      this.markReady();
      return;
    }
    if (ev !== "put" && ev !== "del" && ev !== "expire") return;
    this.rev = Number(meta.rev ?? this.rev);
    // The meta is this head's own (parsed from its frame): it becomes the event, no copy.
    if (ev === "put") meta.value = value;
    this.push(meta as unknown as KvEvent);
  }

  /** What take() left: a value longer than its frame, the end, an error. */
  private async pump(sub: Subscription): Promise<void> {
    try {
      while (!this.finished) {
        // Full: leave the rest on the connection (its flow control reaches the server) until the consumer catches up.
        while (this.queue.length >= this.max && !this.finished) await new Promise<void>((r) => (this.roomy = r));
        const m = await sub.next();
        if (m.type === FrameType.RES) return; // the server ended the watch
        if (m.fin && !isSealed(m.payload)) this.handle(m, plain(m));
        else {
          this.collecting = true;
          try {
            const raw = m.fin ? m.payload : await collect(sub.rest(m));
            // A sealed value is opened for the key it belongs to (a prefix watch names it in each change).
            const value = m.meta.event === "put" ? await openWhole(this.sealing, { group: this.group, key: String(m.meta.key) }, m.meta, raw) : raw;
            this.handle(m, value);
          } finally {
            this.collecting = false;
          }
        }
      }
    } finally {
      sub.close();
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
    this.roomy?.();
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
    if (this.roomy && this.queue.length < this.max / 2) {
      const r = this.roomy;
      this.roomy = null;
      r();
    }
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
  constructor(private readonly c: Mux) {}

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
export function listApps(c: Mux): Promise<AppsReport> {
  return jsonBody<AppsReport>(c, "apps", {});
}
