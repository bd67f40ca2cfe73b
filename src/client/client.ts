// The library (`import { connect } from "clip"`): the clipboard, the
// admin calls, and kv() for keys, on one multiplexed connection (mux.ts).
// The CLI, the shell and the tests use exactly this.

import type { Address } from "../net/address.ts";
import { ClipError } from "../protocol/errors.ts";
import { type HistoryRow, type RegionInfo, type WelcomeMeta, parseRegion } from "../protocol/messages.ts";
import { collect } from "../value/sink.ts";
import { type SourceLike, toSource } from "../value/source.ts";
import { type AppsReport, Groups, type Kv, type KvOptions, listApps, openKv } from "./kv.ts";
import { type ConnectOptions, type Message, Mux, type Subscription, type UploadOptions } from "./mux.ts";
import { openMessage, openReply, openWhole } from "./opened.ts";
import type { KeyOption, Sealing } from "./sealing.ts";
import { type Clip, type ReadOptions, type WriteOptions, type Written, clipOf, writeFields } from "./shapes.ts";
import { isLinkLoss, type Link, type Position } from "./watch.ts";

export type { Clip, ReadOptions, WriteOptions, Written } from "./shapes.ts";

export type { ConnectOptions, Head, Message, Subscription } from "./mux.ts";
export { FileSource } from "../value/source.ts";
export { collect } from "../value/sink.ts";

/** What copy() and kv put() take: bytes, a string, a Blob, a stream, a file (FileSource) or any ValueSource. */
export type CopySource = SourceLike;

export interface WaitOptions {
  signal?: AbortSignal;
  /** Seconds; on expiry the promise rejects with ClipError("TIMEOUT"). */
  timeout?: number;
  /** The next write after this revision (one still held comes at once). */
  since?: number;
}

export interface FollowOptions {
  signal?: AbortSignal;
  /** Every write after this revision that is still held first, then the live ones. */
  since?: number;
  /** Resume where it left off when the connection drops (default true). */
  resume?: boolean;
  /** Also report the region's value expiring (--ttl): follow() gives it as a clip with `event: "expire"` and no value. */
  expire?: boolean;
}

/** A write to a region as follow() gives it (or, with `expire`, the value expiring: `rev` is the expiry's, `value` empty). */
export interface RegionClip extends Clip {
  region: number;
  event?: "expire";
}

/** Keeps going when a connection drops: how long to keep trying, and where. */
export interface ReconnectOptions {
  /** Give up after this long without a connection (default 60 s). */
  timeoutMs?: number;
  /** Other servers of the same tree to try, after the first one. */
  servers?: (string | Address)[];
}

export interface ClientOptions extends ConnectOptions {
  reconnect?: ReconnectOptions;
  /**
   * End-to-end encryption: the key that opens sealed values (and that
   * `encrypt: true` seals with), a Key or the path of a key file. Without
   * it: $CLIP_KEY_FILE, else the default key file. Read only when a value
   * turns out to be sealed or a write asks for sealing: plain values never
   * need one.
   */
  key?: KeyOption;
}

export class Client implements Link {
  private current: Mux;
  private reviving: Promise<Mux> | null = null;
  private closedByUser = false;
  private sealingLoaded: Promise<Sealing> | null = null;

  private constructor(
    mux: Mux,
    private readonly opts: ClientOptions | null,
    private readonly key: KeyOption | undefined = opts?.key,
  ) {
    this.current = mux;
  }

  static async connect(opts: ClientOptions = {}): Promise<Client> {
    return new Client(await Mux.open(opts), opts);
  }

  /** A client over a multiplexer opened elsewhere (an in-memory connection in tests); it cannot reconnect. */
  static over(mux: Mux, opts: { key?: KeyOption } = {}): Client {
    return new Client(mux, null, opts.key);
  }

  /** End-to-end encryption (sealing.ts), loaded when a value first needs it: node:crypto is not free to load. */
  readonly sealing = (): Promise<Sealing> => (this.sealingLoaded ??= import("./sealing.ts").then((m) => new m.Sealing(this.key)));

  get mux(): Mux {
    return this.current;
  }

  get address(): Address {
    return this.current.address;
  }

  get welcome(): WelcomeMeta {
    return this.current.welcome;
  }

  /** The server's welcome (its name and id), once it has come. */
  ready(): Promise<WelcomeMeta> {
    return this.current.ready();
  }

  /**
   * The connection, opened again if it was lost: the first address, then
   * the others of `reconnect.servers`, with backoff, until the time limit.
   * Watches call this to resume; other requests fail with LOST as they were.
   */
  revive(): Promise<Mux> {
    if (!this.current.closed) return Promise.resolve(this.current);
    if (this.closedByUser || !this.opts) return Promise.reject(new ClipError("LOST", "the client was closed"));
    const opts = this.opts;
    this.reviving ??= (async () => {
      const servers = [opts.server, ...(opts.reconnect?.servers ?? [])];
      const deadline = Date.now() + (opts.reconnect?.timeoutMs ?? 60_000);
      let delay = 100;
      let last: unknown;
      while (Date.now() < deadline && !this.closedByUser) {
        for (const server of servers) {
          try {
            const m = await Mux.open({ ...opts, server, timeoutMs: Math.min(opts.timeoutMs ?? 10_000, Math.max(100, deadline - Date.now())) });
            await m.ready();
            if (this.closedByUser) {
              m.close();
              break;
            }
            this.current = m;
            return m;
          } catch (e) {
            last = e;
          }
        }
        await new Promise((wake) => setTimeout(wake, delay));
        delay = Math.min(delay * 2, 2000);
      }
      throw last instanceof ClipError ? last : new ClipError("LOST", "the connection was lost and could not be opened again");
    })().finally(() => {
      this.reviving = null;
    });
    return this.reviving;
  }

  // --- the clipboard ---

  /** Stores `data` in region 0-9; resolves with the write's revision once it is applied on this server. */
  async copy(region: number, data: CopySource, opts: WriteOptions = {}): Promise<Written> {
    const r = parseRegion(region);
    let source = toSource(data);
    let fields = writeFields(opts);
    if (opts.encrypt) ({ source, fields } = await (await this.sealing()).sealWrite(source, opts.encrypt, { region: r }, fields));
    const res = await this.current.upload("copy", { r, ...fields }, source, { signal: opts.signal, onProgress: opts.onProgress && ((n) => opts.onProgress!(n, source.size)) });
    return res as unknown as Written;
  }

  /** Region 0-9's bytes (empty when never written); `rev` or `back` read an earlier value. */
  async paste(region: number, at: ReadOptions = {}): Promise<Uint8Array> {
    const r = parseRegion(region);
    const { meta, bytes } = await this.current.callValue("paste", { r, ...at });
    return openWhole(this.sealing, { region: r }, meta, bytes);
  }

  /** The value with its revision, type and times; null when the region is empty. */
  async read(region: number, at: ReadOptions = {}): Promise<Clip | null> {
    const r = parseRegion(region);
    const { meta, bytes } = await this.current.callValue("paste", { r, ...at });
    const value = await openWhole(this.sealing, { region: r }, meta, bytes);
    return meta.rev ? clipOf(meta, value) : null;
  }

  /** paste as a stream, for values too large to hold; call done() when finished. */
  async pasteStream(region: number, at: ReadOptions = {}): Promise<Message & { done(): void }> {
    const r = parseRegion(region);
    return openReply(this.sealing, { region: r }, await this.current.request("paste", { r, ...at }));
  }

  /**
   * pasteStream, but a value the server keeps in a file may be answered with
   * that file named instead (`meta.file`; same machine only: value/handoff.ts
   * opens it and checks it). Anything else comes as pasteStream gives it.
   */
  async pasteByPath(region: number, at: ReadOptions = {}): Promise<Message & { done(): void }> {
    const r = parseRegion(region);
    const m = await this.current.request("paste", { r, ...at, file: true });
    return m.meta.file !== undefined ? m : openReply(this.sealing, { region: r }, m);
  }

  /** The region's values, newest first: the current one, then those history keeps (deletes and expiries as rows). */
  async history(region: number): Promise<HistoryRow[]> {
    const r = await this.current.callValue("history", { r: parseRegion(region) });
    return JSON.parse(new TextDecoder().decode(r.bytes)) as HistoryRow[];
  }

  /** Resolves with the next value written to `region` after this call (or after `since`). */
  async wait(region: number, opts: WaitOptions = {}): Promise<Clip> {
    const r = parseRegion(region);
    const m = await this.waitRaw(r, opts);
    try {
      const raw = await collect(m.body, typeof m.meta.size === "number" ? m.meta.size : undefined);
      return clipOf(m.meta, await openWhole(this.sealing, { region: r }, m.meta, raw));
    } finally {
      m.done();
    }
  }

  async waitStream(region: number, opts: WaitOptions = {}): Promise<Message & { done(): void }> {
    const r = parseRegion(region);
    return openReply(this.sealing, { region: r }, await this.waitRaw(r, opts));
  }

  private waitRaw(r: number, opts: WaitOptions): Promise<Message & { done(): void }> {
    const meta: Record<string, unknown> = { r };
    if (opts.since !== undefined) meta.since = opts.since;
    return withTimeout(opts, (signal) => this.current.request("wait", meta, signal));
  }

  /**
   * Every later write to `region` (after `since`, if given), whole, with its
   * revision and type, until the loop breaks or the signal aborts. When the
   * connection drops it resumes from the last one delivered (see watch.ts).
   */
  async *follow(region: number, opts: FollowOptions = {}): AsyncGenerator<RegionClip> {
    const r = parseRegion(region);
    for await (const m of this.followRaw(r, opts)) {
      if (m.meta.event === "expire") {
        yield { ...clipOf(m.meta, new Uint8Array(0)), region: r, event: "expire" };
        continue;
      }
      const raw = await collect(m.body, typeof m.meta.size === "number" ? m.meta.size : undefined);
      const value = await openWhole(this.sealing, { region: r }, m.meta, raw);
      yield { ...clipOf(m.meta, value), region: Number(m.meta.r) };
    }
  }

  /**
   * follow() with each value as a stream (for values too large to hold); read each body before the next.
   * An expiry (with `expire`) is a message whose meta has `event: "expire"` and an empty body.
   */
  async *followStream(region: number, opts: FollowOptions = {}): AsyncGenerator<Message> {
    const r = parseRegion(region);
    for await (const m of this.followRaw(r, opts)) yield m.meta.event === "expire" ? m : await openMessage(this.sealing, { region: r }, m);
  }

  private async *followRaw(region: number, opts: FollowOptions): AsyncGenerator<Message> {
    const r = parseRegion(region);
    const at: Position = { rev: opts.since, lineage: undefined };
    for (;;) {
      const meta: Record<string, unknown> = { r, follow: true };
      if (opts.expire) meta.expire = true;
      if (at.rev !== undefined) meta.since = at.rev;
      if (at.lineage !== undefined) meta.lineage = at.lineage;
      try {
        for await (const m of this.current.subscribe("wait", meta, opts.signal)) {
          if (m.meta.watching === true) {
            // In place: from here on, a resume starts where this says.
            at.lineage = String(m.meta.lineage ?? "");
            at.rev ??= Number(m.meta.rev ?? 0);
            continue;
          }
          yield m;
          at.rev = Number(m.meta.rev ?? at.rev);
        }
        return;
      } catch (e) {
        if (opts.resume === false || opts.signal?.aborted || !isLinkLoss(e) || this.closedByUser) throw e;
        await this.revive();
      }
    }
  }

  async list(): Promise<RegionInfo[]> {
    return (await this.current.call("list")).regions as RegionInfo[];
  }

  // --- admin ---

  status(): Promise<Record<string, unknown>> {
    return this.current.call("status");
  }

  /** The whole tree as this server sees it: `{root, self}`, each server with its children. */
  tree(): Promise<Record<string, unknown>> {
    return this.current.call("tree.show");
  }

  /** Create, rotate, delete, inspect and list groups. */
  get groups(): Groups {
    return new Groups(this.current);
  }

  /** The applications connected to the server, and those that left lately. */
  apps(): Promise<AppsReport> {
    return listApps(this.current);
  }

  // --- groups and keys ---

  /** Proves a group's secret on this connection and returns its key-value store. */
  kv(opts: KvOptions): Promise<Kv> {
    return openKv(this, opts, this.sealing);
  }

  // --- the protocol itself, for ops without a method of their own (chat) ---

  call(op: string, meta: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.current.call(op, meta);
  }

  subscribe(op: string, meta: Record<string, unknown>, signal?: AbortSignal): AsyncGenerator<Message> {
    return this.current.subscribe(op, meta, signal);
  }

  subscription(op: string, meta: Record<string, unknown>, signal?: AbortSignal): Subscription {
    return this.current.subscription(op, meta, signal);
  }

  request(op: string, meta: Record<string, unknown>, signal?: AbortSignal): Promise<Message & { done(): void }> {
    return this.current.request(op, meta, signal);
  }

  upload(op: string, meta: Record<string, unknown>, data: CopySource, opts?: UploadOptions): Promise<Record<string, unknown>> {
    return this.current.upload(op, meta, toSource(data), opts);
  }

  get closed(): boolean {
    return this.current.closed;
  }

  close(): void {
    this.closedByUser = true;
    this.current.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
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
export function connect(opts: ClientOptions | string = {}): Promise<Client> {
  return Client.connect(typeof opts === "string" ? { server: opts } : opts);
}
