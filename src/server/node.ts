// A clip server, whatever its place in a tree: the state it holds, the
// sessions connected to it, who watches which entry, and the one path by
// which writes are ordered and applied. Transports (net/) hand it Conns;
// the tree (tree/) swaps its sequencer when it has a parent.

import type { Conn, ConnHandler, CloseReason } from "../net/conn.ts";
import { ClipError } from "../protocol/errors.ts";
import { hostname } from "node:os";
import { readFileSync } from "node:fs";
import { FrameType, encodeFrame } from "../protocol/frame.ts";
import { randomBytes } from "node:crypto";
import type { Logger } from "./log.ts";
import { SESSION_LIMITS, Session, type Handler } from "./session.ts";
import { STAGING } from "./values.ts";
import { type Change, Store, type WriteOp } from "./store.ts";
import { HybridClock } from "./version.ts";
import { FailureDelay, TurnGate } from "./auth.ts";

import { VERSION } from "../version.ts";
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
  /** Cluster token; required for TCP listeners unless insecure. */
  token?: string;
  insecure?: boolean;
  log: Logger;
}

/** Orders writes. The root's applies them at once; a child's sends them up first. */
export interface Sequencer {
  /** Resolves with the sequence number once the write is applied on this server. */
  submit(op: WriteOp): Promise<number>;
}

export type Watcher = (change: Change) => void;

/**
 * Messages delivered to every server of the tree but never stored (chat).
 * The default delivers locally; the tree replaces `route` so a message goes
 * up to the root and the root sends it down to everyone, in one order.
 */
export interface Bus {
  route(topic: string, msg: Record<string, unknown>): void;
}

/** Hooks that the tree adds to what status reports. */
export interface StatusSource {
  (): Record<string, unknown>;
}

export class ClipNode {
  readonly store: Store;
  readonly id: string;
  readonly name: string;
  readonly clock: HybridClock;
  readonly startedAt = Date.now();
  readonly handlers = new Map<string, Handler>();
  readonly sessions = new Set<Session>();
  readonly log: Logger;
  readonly authDelay = new FailureDelay();
  /** Token checks take turns after a failure (see TurnGate). */
  readonly tokenTurns = new TurnGate();
  sequencer: Sequencer;
  private readonly watchers = new Map<string, Set<Watcher>>();
  private readonly prefixWatchers = new Set<{ prefix: string; fn: Watcher }>();
  private readonly closedListeners = new Set<(s: Session, reason: CloseReason) => void>();
  private readonly appliedListeners = new Set<(op: WriteOp, seq: number, changes: Change[]) => void>();
  readonly statusSources: StatusSource[] = [];
  bus: Bus = { route: (topic, msg) => this.deliver(topic, msg) };
  private readonly topics = new Map<string, Set<(msg: Record<string, unknown>) => void>>();
  private closing = false;

  constructor(readonly opts: NodeOptions) {
    this.log = opts.log;
    const { files } = descriptorBudget();
    SESSION_LIMITS.maxOpenValueFiles = Math.min(SESSION_LIMITS.maxOpenValueFiles, files);
    STAGING.maxFiles = Math.min(STAGING.maxFiles, files);
    this.store = new Store({ dir: opts.dataDir, maxSize: opts.maxSize });
    let id = this.store.state.get("id");
    if (!id) {
      id = randomBytes(6).toString("hex");
      this.store.setFact("id", id);
    }
    this.id = id;
    this.name = opts.name ?? hostname();
    this.clock = new HybridClock(this.id);
    for (const e of this.store.all()) this.clock.observe(e.ver);
    this.sequencer = { submit: async (op) => this.applyLocal(op) };
  }

  /** Registers request handlers (each module brings its own set). */
  use(handlers: Record<string, Handler>): this {
    for (const [op, h] of Object.entries(handlers)) this.handlers.set(op, h);
    return this;
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

  /** Most connections at once (CLIP_MAX_CONNECTIONS, else what the descriptor budget allows). */
  readonly maxConnections = descriptorBudget().connections;
  private lastRefuseLog = 0;

  private refuseNote(): void {
    if (Date.now() - this.lastRefuseLog < 10_000) return;
    this.lastRefuseLog = Date.now();
    this.log("warn", "connection refused", `the limit of ${this.maxConnections} connections is reached (raise ulimit -n or CLIP_MAX_CONNECTIONS)`);
  }

  private oldestHandshaking(): Session | undefined {
    for (const s of this.sessions) if (s.state === "hello" || s.state === "auth") return s;
    return undefined;
  }

  sessionClosed(s: Session, reason: CloseReason): void {
    this.sessions.delete(s);
    for (const fn of this.closedListeners) fn(s, reason);
  }

  /** Calls `fn` as each session ends (the apps listing records departures). */
  onSessionClosed(fn: (s: Session, reason: CloseReason) => void): () => void {
    this.closedListeners.add(fn);
    return () => this.closedListeners.delete(fn);
  }

  /** Orders (through the sequencer) and applies a write made on this server. */
  submit(op: WriteOp): Promise<number> {
    if (this.closing) return Promise.reject(new ClipError("SHUTDOWN", "the server is shutting down"));
    const applied = this.sequencer.submit(op);
    if (!this.store.persistent) return applied;
    // Applied in memory (and relayed) at once; acknowledged only once committed (group commit).
    return applied.then((seq) => {
      const d = this.store.durable();
      return d ? d.then(() => seq) : seq;
    });
  }

  /**
   * The root's rule: only the root assigns sequence numbers. A server
   * without a parent is a root, so this is where its writes get theirs.
   */
  applyLocal(op: WriteOp): number {
    const seq = this.store.seq + 1;
    this.applyOrdered(op, seq);
    return seq;
  }

  /** Applies a write that already has its place in the order (local or from the parent). */
  applyOrdered(op: WriteOp, seq: number): Change[] {
    this.clock.observe(op.ver);
    const changes = this.store.apply(op, seq);
    for (const l of this.appliedListeners) l(op, seq, changes);
    for (const c of changes) this.notify(c);
    return changes;
  }

  onApplied(fn: (op: WriteOp, seq: number, changes: Change[]) => void): () => void {
    this.appliedListeners.add(fn);
    return () => this.appliedListeners.delete(fn);
  }

  /** Calls `fn` for every later change of `key`. Returns the unsubscribe. */
  watch(key: string, fn: Watcher): () => void {
    let set = this.watchers.get(key);
    if (!set) this.watchers.set(key, (set = new Set()));
    set.add(fn);
    return () => {
      set!.delete(fn);
      if (set!.size === 0) this.watchers.delete(key);
    };
  }

  /** Calls `fn` for every later change under `prefix`. */
  watchPrefix(prefix: string, fn: Watcher): () => void {
    const w = { prefix, fn };
    this.prefixWatchers.add(w);
    return () => this.prefixWatchers.delete(w);
  }

  /** Sends a message to every subscriber of `topic` on every server. */
  publish(topic: string, msg: Record<string, unknown>): void {
    this.bus.route(topic, msg);
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

  watcherCount(key: string): number {
    return this.watchers.get(key)?.size ?? 0;
  }

  private notify(c: Change): void {
    const set = this.watchers.get(c.entry.key);
    if (set) for (const fn of [...set]) fn(c);
    for (const w of this.prefixWatchers) if (c.entry.key.startsWith(w.prefix)) w.fn(c);
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
      clients: [...this.sessions].filter((s) => s.kind !== "peer" && s.state === "ready").length,
      regions: this.store.count("r/"),
      groups: this.store.count("g/"),
      keys: this.store.count("k/"),
      seq: this.store.seq,
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
    this.store.close();
  }
}
