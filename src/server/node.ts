// A clip server, whatever its place in a tree: the state it holds, the
// sessions connected to it, who watches what, and the one path by which
// writes are ordered and applied. Transports (net/) hand it Conns; the tree
// (tree/) swaps its sequencer when it has a parent.

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { CloseReason, Conn, ConnHandler } from "../net/conn.ts";
import { ClipError } from "../protocol/errors.ts";
import { FrameType, encodeFrame } from "../protocol/frame.ts";
import { VERSION } from "../version.ts";
import { FailureDelay, TurnGate } from "./auth.ts";
import { SESSION_LIMITS } from "./limits.ts";
import type { Logger } from "./log.ts";
import type { RequestTimer } from "./request.ts";
import { type Handler, Session, type SessionHost } from "./session.ts";
import { type Applied, Store, type WriteOp } from "./store.ts";
import type { Upload } from "./upload.ts";
import { STAGING, type Stage, type StageOptions, type Value } from "./values.ts";
import { HybridClock } from "./version.ts";
import { Watchers } from "./watchers.ts";
import { Expiry } from "./expiry.ts";
import { SNIFF_BYTES, sniff } from "../value/mediatype.ts";
import type { ValueSource } from "../value/source.ts";

export { VERSION };

/** This process's descriptor limit (Linux /proc; 1024 when unknown). */
function descriptorLimit(): number {
  try {
    const m = /Max open files\s+(\d+|unlimited)/.exec(readFileSync("/proc/self/limits", "utf8"));
    if (m) return m[1] === "unlimited" ? 1 << 20 : Number(m[1]);
  } catch {}
  return 1024;
}

/**
 * Splits the descriptors: an eighth for value files being sent, an eighth
 * for uploads being staged, 64 for the store and listeners, the rest for
 * connections. Past its share each is refused on its own, so no one kind
 * can run the process out (at the limit, accept fails and clients hang).
 */
function descriptorBudget(): { connections: number; files: number } {
  const fds = descriptorLimit();
  const files = Math.max(8, Math.floor(fds / 8));
  const env = Number(process.env.CLIP_MAX_CONNECTIONS);
  const connections = Number.isInteger(env) && env > 0 ? env : Math.max(16, Math.min(100_000, fds - 2 * files - 64));
  return { connections, files };
}

export interface NodeOptions {
  name?: string;
  /** Folder for state; null keeps nothing (--memory). */
  dataDir: string | null;
  maxSize: number;
  /** Earlier values kept per region and key (--history). */
  history: number;
  /** Cluster token; required for TCP listeners unless insecure. */
  token?: string;
  insecure?: boolean;
  log: Logger;
}

/** A write on its way to its place in the order. */
export interface Write {
  /** Its value is null while `upload` is still arriving. */
  op: WriteOp;
  /** The value, arriving: a server with a parent passes it up as it comes (cut-through). */
  upload?: Upload | null;
  /** The child link it came up through: its bytes go back down everywhere but there. */
  via?: object | null;
  /** Write only if the entry is at this revision (0: absent); decided where the write is ordered. */
  ifRev?: number;
}

/** Orders writes. The root's applies them at once; a child's sends them up first. */
export interface Sequencer {
  /** Resolves with the write's revision once it is applied on this server. */
  submit(w: Write): Promise<number>;
  /** True while writes go up to a parent (this server is not the root). */
  readonly isChild?: boolean;
}

/** Told of every applied write, in order (the tree relays them; apps, expiry, metrics listen). */
export type AppliedListener = (op: WriteOp, rev: number, applied: Applied, via: object | null) => void;

/**
 * Messages delivered to every server of the tree but never stored (chat).
 * The default delivers locally; the tree replaces `route` so a message goes
 * up to the root and the root sends it down to everyone, in one order.
 */
export interface Bus {
  route(topic: string, msg: Record<string, unknown>): void;
  /** Whether the server with this id is in our tree now (its messages can still reach us); absent: only ourselves. */
  reaches?(serverId: string): boolean;
}

/**
 * The ordering server's say over a bus message before every server gets it
 * (chat's names): the message, another in its place, or null to drop it.
 */
export type BusGate = (topic: string, msg: Record<string, unknown>) => Record<string, unknown> | null;

/** What an entry's key is, in a person's words: "region 3", the key's own name, "group G". */
export function describeKey(key: string): string {
  if (key.startsWith("r/")) return `region ${key.slice(2)}`;
  if (key.startsWith("g/")) return `group ${key.slice(2)}`;
  if (key.startsWith("k/")) return key.slice(key.indexOf("/", 2) + 1);
  return key;
}

export class ClipNode implements SessionHost {
  readonly store: Store;
  readonly id: string;
  readonly name: string;
  readonly clock: HybridClock;
  readonly startedAt = Date.now();
  readonly handlers = new Map<string, Handler>();
  readonly sessions = new Set<Session>();
  readonly watchers = new Watchers();
  readonly log: Logger;
  readonly authDelay = new FailureDelay();
  /** Token checks take turns after a failure (see TurnGate). */
  readonly tokenTurns = new TurnGate();
  sequencer: Sequencer;
  private readonly closedListeners = new Set<(s: Session, reason: CloseReason) => void>();
  private readonly appliedListeners = new Set<AppliedListener>();
  readonly statusSources: (() => Record<string, unknown>)[] = [];
  bus: Bus = {
    route: (topic, msg) => {
      const m = this.gateBus(topic, msg);
      if (m) this.deliver(topic, m);
    },
  };
  /** Run by the server that orders the bus (the root), in order, on every message (see BusGate). */
  readonly busGates: BusGate[] = [];
  private readonly topics = new Map<string, Set<(msg: Record<string, unknown>) => void>>();
  private closing = false;
  /**
   * Which numbering our revisions belong to: a root's own, adopted by its
   * children. It changes when a heal renumbers us, so that a watch resuming
   * from a revision counted by the old numbering is told, not given a gap.
   */
  lineage: string;
  readonly expiry: Expiry;
  /** Most connections at once (CLIP_MAX_CONNECTIONS, else what the descriptor budget allows). */
  readonly maxConnections = descriptorBudget().connections;
  private lastRefuseLog = 0;
  /** Where each transport's request durations go, when the server keeps metrics (serve --http). */
  readonly timers = new Map<Conn["transport"], RequestTimer>();

  constructor(readonly opts: NodeOptions) {
    this.log = opts.log;
    const { files } = descriptorBudget();
    SESSION_LIMITS.maxOpenValueFiles = Math.min(SESSION_LIMITS.maxOpenValueFiles, files);
    STAGING.maxFiles = Math.min(STAGING.maxFiles, files);
    this.store = new Store({ dir: opts.dataDir, maxSize: opts.maxSize, history: opts.history });
    let id = this.store.facts.get("id");
    if (!id) {
      id = randomBytes(6).toString("hex");
      this.store.setFact("id", id);
    }
    this.id = id;
    this.name = opts.name ?? hostname();
    this.clock = new HybridClock(this.id);
    for (const e of this.store.all()) this.clock.observe(e.ver);
    this.sequencer = { submit: (w) => this.applyLocal(w) };
    // Kept with the data (a restart continues the numbering); a server that keeps nothing starts a new one.
    this.lineage = this.store.facts.get("lineage") ?? this.newLineage();
    this.expiry = new Expiry(this);
  }

  /** Starts a numbering of our own (a new root, or a split from our parent's). */
  newLineage(): string {
    this.adoptLineage(`${this.id}.${randomBytes(4).toString("hex")}`);
    return this.lineage;
  }

  adoptLineage(lineage: string): void {
    this.lineage = lineage;
    this.store.setFact("lineage", lineage);
  }

  /** This server orders writes itself (it has no parent, or lost it). */
  isRoot(): boolean {
    return !this.sequencer.isChild;
  }

  /** Registers request handlers (each module brings its own set). */
  use(handlers: Record<string, Handler>): this {
    for (const [op, h] of Object.entries(handlers)) this.handlers.set(op, h);
    return this;
  }

  // --- SessionHost ---

  stage(expected?: number, opts?: StageOptions): Stage {
    return this.store.stage(expected, opts);
  }

  source(v: Value): ValueSource {
    return this.store.source(v);
  }

  release(v: Value | null): void {
    this.store.values.release(v);
  }

  requestTimer(transport: Conn["transport"]): RequestTimer | undefined {
    return this.timers.get(transport);
  }

  sessionClosed(s: Session, reason: CloseReason): void {
    this.sessions.delete(s);
    for (const fn of this.closedListeners) fn(s, reason);
  }

  /** A new connection: the transport adapters call this. */
  accept(conn: Conn): ConnHandler {
    if (this.closing) {
      conn.close("local");
      return { data() {}, closed() {} };
    }
    // Every connection costs a descriptor and up to a queue's worth of memory:
    // past the limit a newcomer is told why and closed, and a connection that
    // has not finished its handshake gives way before one that has.
    if (this.sessions.size >= this.maxConnections) {
      const idle = this.oldestHandshaking();
      if (!idle) {
        this.refuseNote();
        conn.send(encodeFrame(FrameType.ERR, 0, new ClipError("BUSY", `the server holds its limit of ${this.maxConnections} connections; try again later`).toWire()));
        // Closing at once can beat the client's connect to the finish (it then
        // sees "no server"); close once it speaks, or shortly.
        const t = setTimeout(() => conn.close("local"), 1000);
        return {
          data: () => conn.close("local"),
          closed: () => clearTimeout(t),
        };
      }
      idle.close("local", new ClipError("BUSY", "too many connections: handshake not finished, closed for a newer one"));
    }
    const s = new Session(conn, this);
    this.sessions.add(s);
    return s;
  }

  private refuseNote(): void {
    if (Date.now() - this.lastRefuseLog < 10_000) return;
    this.lastRefuseLog = Date.now();
    this.log("warn", "connection refused", `the limit of ${this.maxConnections} connections is reached (raise ulimit -n or CLIP_MAX_CONNECTIONS)`);
  }

  private oldestHandshaking(): Session | undefined {
    for (const s of this.sessions) if (s.state === "hello" || s.state === "auth") return s;
    return undefined;
  }

  /** Calls `fn` as each session ends (the apps listing records departures). */
  onSessionClosed(fn: (s: Session, reason: CloseReason) => void): () => void {
    this.closedListeners.add(fn);
    return () => this.closedListeners.delete(fn);
  }

  // --- writes ---

  /**
   * Orders (through the sequencer) and applies a write made on this server.
   * Applied in memory (and relayed) at once; acknowledged only once
   * committed (group commit), so an acknowledged write survives kill -9.
   */
  submit(w: Write): Promise<number> {
    if (this.closing) {
      w.upload?.fail(new ClipError("SHUTDOWN", "the server is shutting down"));
      return Promise.reject(new ClipError("SHUTDOWN", "the server is shutting down"));
    }
    const applied = this.sequencer.submit(w);
    if (!this.store.persistent) return applied;
    return applied.then((rev) => {
      const d = this.store.durable();
      return d ? d.then(() => rev) : rev;
    });
  }

  /**
   * A root's submit: wait for the value, then order and apply it here. A
   * value already whole (most: it fits its request's one frame) is applied
   * in this same turn, with no await.
   */
  applyLocal(w: Write): Promise<number> {
    if (w.upload) {
      const value = w.upload.take();
      if (!value) {
        return w.upload.whole().then((v) => {
          w.op.value = v;
          return this.applyWhole(w);
        });
      }
      w.op.value = value;
    }
    try {
      return Promise.resolve(this.applyWhole(w));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private applyWhole(w: Write): number {
    this.prepare(w);
    return this.order(w);
  }

  /**
   * What the root decides of a value before ordering it, so that every
   * server holds the same: its media type, recognised from its first bytes
   * when the writer named none.
   */
  private prepare(w: Write): void {
    const { op } = w;
    if (op.value && op.meta.type === undefined && (op.key.startsWith("r/") || op.key.startsWith("k/"))) {
      // The op's meta is this write's own (writeMeta made it), so it is set in place.
      op.meta.type = sniff(this.store.values.head(op.value, SNIFF_BYTES), op.value.size <= SNIFF_BYTES);
    }
  }

  /**
   * The root's rule: only the root assigns revisions. A server without a
   * parent is a root, so this is where its writes get theirs; a condition
   * (ifRev) is decided here too, in the same step, so two conditional
   * writes against one revision can never both pass.
   */
  order(w: Write): number {
    const { op } = w;
    if (w.ifRev !== undefined) {
      const at = this.store.get(op.key)?.rev ?? 0;
      if (at !== w.ifRev) {
        this.store.values.release(op.value);
        throw new ClipError("CONDITION", `${describeKey(op.key)} is at revision ${at}, not ${w.ifRev}`, { rev: at });
      }
    }
    const rev = this.store.rev + 1;
    this.applyOrdered(op, rev, w.via ?? null);
    return rev;
  }

  /** Applies a write that has its place in the order (ours, or from the parent). Takes over its value's reference. */
  applyOrdered(op: WriteOp, rev: number, via: object | null = null): Applied {
    this.clock.observe(op.ver);
    const applied = this.store.apply(op, rev);
    for (const l of this.appliedListeners) l(op, rev, applied, via);
    for (const c of applied.changes) this.watchers.notify(c);
    return applied;
  }

  onApplied(fn: AppliedListener): () => void {
    this.appliedListeners.add(fn);
    return () => this.appliedListeners.delete(fn);
  }

  // --- the bus (chat) ---

  /** Sends a message to every subscriber of `topic` on every server. */
  publish(topic: string, msg: Record<string, unknown>): void {
    this.bus.route(topic, msg);
  }

  /** What the ordering server passes on of a message (BusGate): null drops it. */
  gateBus(topic: string, msg: Record<string, unknown>): Record<string, unknown> | null {
    let m: Record<string, unknown> | null = msg;
    for (const gate of this.busGates) if (m) m = gate(topic, m);
    return m;
  }

  /** Hands a routed message to this server's subscribers. */
  deliver(topic: string, msg: Record<string, unknown>): void {
    const set = this.topics.get(topic);
    if (set) for (const fn of [...set]) fn(msg);
  }

  subscribe(topic: string, fn: (msg: Record<string, unknown>) => void): () => void {
    let set = this.topics.get(topic);
    if (!set) this.topics.set(topic, (set = new Set()));
    set.add(fn);
    return () => {
      set!.delete(fn);
      if (set!.size === 0) this.topics.delete(topic);
    };
  }

  // --- what it reports ---

  /**
   * Applications connected now: the long-lived (libraries, shells, watches,
   * chats), or with `oneShot` the one-shot commands still running (the one
   * asking among them). `clip status` and `clip tree` count the first as
   * clients: a one-shot command is over before anyone reads the count.
   */
  clients(oneShot = false): number {
    let n = 0;
    for (const s of this.sessions) if (s.kind !== "peer" && s.state === "ready" && s.oneShot === oneShot) n++;
    return n;
  }

  status(): Record<string, unknown> {
    const base: Record<string, unknown> = {
      name: this.name,
      id: this.id,
      version: VERSION,
      uptime: Math.round((Date.now() - this.startedAt) / 1000),
      role: "root",
      parent: null,
      children: [],
      clients: this.clients(),
      commands: this.clients(true),
      regions: this.store.count("r/"),
      groups: this.store.count("g/"),
      keys: this.store.count("k/"),
      rev: this.store.rev,
      lineage: this.lineage,
      history: this.store.historyMax,
      persistent: this.store.persistent,
    };
    for (const src of this.statusSources) Object.assign(base, src());
    return base;
  }

  get isClosing(): boolean {
    return this.closing;
  }

  /** Tells every session the server is going, then closes the store. */
  shutdown(): void {
    if (this.closing) return;
    this.closing = true;
    const err = new ClipError("SHUTDOWN", "the server is shutting down");
    for (const s of [...this.sessions]) s.close("local", err);
    this.expiry.stop();
    this.store.close();
  }
}
