// The library (`import { connect } from "clip"`): the clipboard, the
// admin calls, and kv() for keys, on one multiplexed connection (mux.ts).
// The CLI, the shell and the tests use exactly this.

import type { Address } from "../net/address.ts";
import { ClipError } from "../protocol/errors.ts";
import { type RegionInfo, type WelcomeMeta, parseRegion } from "../protocol/messages.ts";
import { collect } from "../value/sink.ts";
import { type SourceLike, toSource } from "../value/source.ts";
import { type AppsReport, Groups, type Kv, type KvOptions, listApps, openKv } from "./kv.ts";
import { type ConnectOptions, type Message, Mux, type Subscription, type UploadOptions } from "./mux.ts";

export type { ConnectOptions, Head, Message, Subscription } from "./mux.ts";
export { FileSource } from "../value/source.ts";
export { collect } from "../value/sink.ts";

/** What copy() and kv put() take: bytes, a string, a Blob, a stream, a file (FileSource) or any ValueSource. */
export type CopySource = SourceLike;

export interface CopyOptions {
  /** Progress callback: bytes sent so far, and the total when known. */
  onProgress?: (sent: number, total: number | undefined) => void;
  signal?: AbortSignal;
}

export interface WaitOptions {
  signal?: AbortSignal;
  /** Seconds; on expiry the promise rejects with ClipError("TIMEOUT"). */
  timeout?: number;
}

export class Client {
  private constructor(readonly mux: Mux) {}

  static async connect(opts: ConnectOptions = {}): Promise<Client> {
    return new Client(await Mux.open(opts));
  }

  /** A client over a multiplexer opened elsewhere (an in-memory connection in tests). */
  static over(mux: Mux): Client {
    return new Client(mux);
  }

  get address(): Address {
    return this.mux.address;
  }

  get welcome(): WelcomeMeta {
    return this.mux.welcome;
  }

  /** The server's welcome (its name and id), once it has come. */
  ready(): Promise<WelcomeMeta> {
    return this.mux.ready();
  }

  // --- the clipboard ---

  /** Stores `data` in region 0-9; resolves with the write's revision once it is applied on this server. */
  async copy(region: number, data: CopySource, opts: CopyOptions = {}): Promise<{ rev: number; size: number }> {
    const r = parseRegion(region);
    const source = toSource(data);
    const res = await this.mux.upload("copy", { r }, source, { signal: opts.signal, onProgress: opts.onProgress && ((n) => opts.onProgress!(n, source.size)) });
    return res as { rev: number; size: number };
  }

  /** Region 0-9's bytes (empty when never written). */
  async paste(region: number): Promise<Uint8Array> {
    return (await this.mux.callValue("paste", { r: parseRegion(region) })).bytes;
  }

  /** paste as a stream, for values too large to hold; call done() when finished. */
  pasteStream(region: number): Promise<Message & { done(): void }> {
    return this.mux.request("paste", { r: parseRegion(region) });
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
    return withTimeout(opts, (signal) => this.mux.request("wait", { r }, signal));
  }

  /** Every later write to `region`, as whole values, until the loop breaks or the signal aborts. */
  async *follow(region: number, opts: { signal?: AbortSignal } = {}): AsyncGenerator<Uint8Array> {
    for await (const m of this.followStream(region, opts)) yield await collect(m.body, typeof m.meta.size === "number" ? m.meta.size : undefined);
  }

  followStream(region: number, opts: { signal?: AbortSignal } = {}): AsyncGenerator<Message> {
    return this.mux.subscribe("wait", { r: parseRegion(region), follow: true }, opts.signal);
  }

  async list(): Promise<RegionInfo[]> {
    return (await this.mux.call("list")).regions as RegionInfo[];
  }

  // --- admin ---

  status(): Promise<Record<string, unknown>> {
    return this.mux.call("status");
  }

  /** The whole tree as this server sees it: `{root, self}`, each server with its children. */
  tree(): Promise<Record<string, unknown>> {
    return this.mux.call("tree.show");
  }

  /** Create, rotate, delete, inspect and list groups. */
  get groups(): Groups {
    return new Groups(this.mux);
  }

  /** The applications connected to the server, and those that left lately. */
  apps(): Promise<AppsReport> {
    return listApps(this.mux);
  }

  // --- groups and keys ---

  /** Proves a group's secret on this connection and returns its key-value store. */
  kv(opts: KvOptions): Promise<Kv> {
    return openKv(this.mux, opts);
  }

  // --- the protocol itself, for ops without a method of their own (chat) ---

  call(op: string, meta: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.mux.call(op, meta);
  }

  subscribe(op: string, meta: Record<string, unknown>, signal?: AbortSignal): AsyncGenerator<Message> {
    return this.mux.subscribe(op, meta, signal);
  }

  subscription(op: string, meta: Record<string, unknown>, signal?: AbortSignal): Subscription {
    return this.mux.subscription(op, meta, signal);
  }

  request(op: string, meta: Record<string, unknown>, signal?: AbortSignal): Promise<Message & { done(): void }> {
    return this.mux.request(op, meta, signal);
  }

  upload(op: string, meta: Record<string, unknown>, data: CopySource, opts?: UploadOptions): Promise<Record<string, unknown>> {
    return this.mux.upload(op, meta, toSource(data), opts);
  }

  get closed(): boolean {
    return this.mux.closed;
  }

  close(): void {
    this.mux.close();
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
export function connect(opts: ConnectOptions | string = {}): Promise<Client> {
  return Client.connect(typeof opts === "string" ? { server: opts } : opts);
}
