// The parent's side of the tree: the requests a child server makes of us.
//   tree.join     a subscription: our ancestry (`path`), a snapshot of every
//                 entry with its history (values streamed), `synced`, then
//                 every write in the root's order: we only relay.
//   tree.forward  a write made below us, on its way up to the root; its
//                 value is passed on as it arrives (cut-through).
//   tree.publish  a bus message (chat) on its way up to the root.
//   tree.report   the child's subtree, for `clip tree` and the cycle check.
//
// What goes down to each child is decided here: a write's bytes go to every
// child except the one it came up through (that child holds them: no echo),
// and a write ordered again at a version we already held (a merge) goes
// down held everywhere, since every synced child mirrors us.
//
// A child that does not keep up is dropped (SLOW) once QUEUE_BOUND events
// wait for it; it comes back and re-syncs by snapshot, so our memory stays
// bounded whatever it does.

import { ClipError } from "../protocol/errors.ts";
import type { ClipNode } from "../server/node.ts";
import { type Outgoing, Preencoded } from "../server/request.ts";
import type { Handler, RequestContext, Session } from "../server/session.ts";
import type { Entry, WriteOp } from "../server/store.ts";
import { Stage, type Value, markedSealed } from "../server/values.ts";
import type { Version } from "../server/version.ts";
import { isValueSource, type ValueSource } from "../value/source.ts";
import { type JoinEvent, type NodeInfo, metaToOp, opToMeta, parseNodeInfo, parseOpMeta, rowToMeta, subtreeIds, verKey } from "./wire.ts";

/**
 * What may wait for one child (buffered during its snapshot, or queued and
 * unsent) before it is dropped: events, value bytes held in memory (beyond the
 * one value in flight, which streams with backpressure whatever its size), and
 * values held open as files (one descriptor each, and no memory: a run of large
 * writes on a server with a disk queues files, not bytes).
 */
export const QUEUE_BOUND = 4096;
export const QUEUE_BYTES = 128 << 20;
export const QUEUE_FILES = 256;
const BEAT_MS = 1000;

/** What the downstream side needs from the rest of the tree. */
export interface TreeView {
  /** Ids of our ancestors, root first (empty when we are the root). */
  ancestors(): string[];
  /** Ourselves as the `path` event tells a child. */
  self(): NodeInfo;
  /** Resolves once our own upstream is not in the middle of a snapshot. */
  settled(): Promise<void>;
  /** Something in our subtree changed (report it up soon). */
  changed(): void;
  /** `clip tree`: the whole tree, from the root if we can reach it. */
  whole(): Promise<Record<string, unknown>>;
  /** We relay our parent's stream (a child), rather than our own writes (a root). */
  relaying(): boolean;
}

/** One child server, seen from its parent. */
export class ChildLink {
  info: NodeInfo;
  /** Until `synced` is sent, later events wait here, their values opened (a newer write may unlink a file). */
  private buffer: { ev: JoinEvent | Preencoded; value: ValueSource | null; size: number }[] | null = [];
  private bufferBytes = 0;
  private inflight = 0;
  private inflightBytes = 0;
  private inflightFiles = 0;
  dropped = false;

  constructor(
    readonly ctx: RequestContext,
    info: NodeInfo,
    private readonly node: ClipNode,
  ) {
    this.info = info;
  }

  get session(): Session {
    return this.ctx.session;
  }

  /** Queues an event (buffered while the child's snapshot is being sent). */
  send(ev: JoinEvent | Preencoded, value: Outgoing = null): void {
    if (this.dropped || this.ctx.cancelled) return;
    if (this.buffer) {
      const size = memoryOf(value);
      if (this.buffer.length >= QUEUE_BOUND || this.bufferBytes + size > QUEUE_BYTES) {
        return this.drop(`more than ${QUEUE_BOUND} writes or ${QUEUE_BYTES >> 20} MiB arrived during its snapshot`);
      }
      let source: ValueSource | null;
      try {
        source = open(this.node, value);
      } catch (e) {
        return this.drop(`cannot keep a value for it: ${(e as Error).message}`);
      }
      this.bufferBytes += size;
      this.buffer.push({ ev, value: source, size });
      return;
    }
    this.emit(ev, value);
  }

  /** Sends now; a stored value is opened before this returns. */
  emit(ev: JoinEvent | Preencoded, value: Outgoing): Promise<void> {
    if (this.dropped || this.ctx.cancelled) {
      if (isValueSource(value)) value.close();
      return Promise.resolve();
    }
    const size = memoryOf(value);
    const file = inFile(value) ? 1 : 0;
    // A value in flight streams with backpressure whatever its size; only what queues behind it counts.
    if (this.inflight >= QUEUE_BOUND || (size > 0 && this.inflightBytes > 0 && this.inflightBytes + size > QUEUE_BYTES) || this.inflightFiles + file > QUEUE_FILES) {
      if (isValueSource(value)) value.close();
      this.drop(`${this.inflight} events (${Math.round(this.inflightBytes / 1048576)} MiB) behind`);
      return Promise.resolve();
    }
    this.inflight++;
    this.inflightBytes += size;
    this.inflightFiles += file;
    const settle = () => {
      this.inflight--;
      this.inflightBytes -= size;
      this.inflightFiles -= file;
    };
    let p: Promise<void>;
    try {
      p = this.ctx.event(ev, value);
    } catch (e) {
      settle();
      this.drop(`cannot send it a value: ${(e as Error).message}`);
      return Promise.resolve();
    }
    return p.then(settle, settle);
  }

  /** The snapshot is out: send what waited, then go live. */
  flush(): void {
    const buf = this.buffer ?? [];
    this.buffer = null;
    this.bufferBytes = 0;
    for (const b of buf) this.emit(b.ev, b.value);
  }

  drop(why: string): void {
    if (this.dropped) return;
    this.dropped = true;
    this.node.log("warn", "child dropped", `${this.info.name} (${this.info.id}): ${why}; it will re-sync by snapshot`);
    this.release();
    this.ctx.fail(new ClipError("SLOW", `dropped by ${this.node.name}: ${why}; re-sync by snapshot`));
  }

  /** Closes what the buffer holds open. */
  release(): void {
    for (const b of this.buffer ?? []) b.value?.close();
    this.buffer = null;
  }
}

function inFile(v: Outgoing): boolean {
  if (!v) return false;
  return isValueSource(v) ? v.inFile === true : v.file !== undefined;
}

/** The bytes a queued value keeps in memory (none for one in a file). */
function memoryOf(v: Outgoing): number {
  if (!v || inFile(v)) return 0;
  return isValueSource(v) ? (v.size ?? 0) : v.size;
}

function open(node: ClipNode, v: Outgoing): ValueSource | null {
  if (!v) return null;
  if (isValueSource(v)) return v;
  return v.size > 0 ? node.source(v) : null;
}

export function entryOp(e: Entry): WriteOp {
  return { key: e.key, ver: e.ver, del: e.deleted || undefined, meta: e.meta, value: e.deleted ? null : e.value };
}

/** Reads `have`: versions the child holds of its large values, so we skip sending those. */
function parseHave(raw: unknown): Set<string> {
  const have = new Set<string>();
  if (!Array.isArray(raw)) return have;
  for (const h of raw.slice(0, 1024)) {
    if (Array.isArray(h) && typeof h[0] === "string" && typeof h[1] === "number" && typeof h[2] === "string") have.add(`${h[0]}\n${verKey({ t: h[1], n: h[2] })}`);
  }
  return have;
}

export class Downstream {
  readonly children = new Set<ChildLink>();
  private beat: ReturnType<typeof setInterval>;
  /**
   * The revision of the last write relayed (or numbering announced) to the
   * children. A child relays its parent's write as it arrives and applies it
   * once whole, so a beat must not say the store's revision: the children
   * may hold a later one already.
   */
  private sentRev = 0;

  constructor(
    private readonly node: ClipNode,
    private readonly tree: TreeView,
  ) {
    // A root relays what it applies; a child relays its parent's stream (upstream calls relayOp).
    node.onApplied((op, rev, applied, via) => {
      if (this.children.size === 0 || tree.relaying()) return;
      const won = applied.changes.length > 0 && applied.changes[0].entry.key === op.key;
      const again = applied.restamped.some((e) => e.key === op.key);
      this.relayOp(rev, op, won ? op.value : null, won || again, via, again);
    });
    this.beat = setInterval(() => {
      const rev = Math.max(node.store.rev, this.sentRev);
      for (const c of this.children) c.send({ t: "beat", rev });
    }, BEAT_MS);
  }

  /**
   * Relays one ordered write to every child. `value` is what the write
   * carries: a stored value, or the stage it is still arriving into when we
   * relay our parent's stream (each child reads it as it fills). The child
   * it came up through (`via`) holds its bytes, and so does every child when
   * `heldByAll` (a version we held already: synced children mirror us).
   */
  relayOp(rev: number, op: WriteOp, value: Value | Stage | null, has: boolean, via: object | null, heldByAll: boolean, raw?: Uint8Array): void {
    this.sentRev = rev;
    // The parent's event, value and all, goes on to each child as it came: the same bytes, another stream id.
    const asIs = raw && !heldByAll && via === null && !(value instanceof Stage) ? new Preencoded(raw) : null;
    for (const c of this.children) {
      if (asIs) {
        c.send(asIs, null);
        continue;
      }
      const held = has && (heldByAll || c === via);
      const ev: JoinEvent = { t: "op", rev, op: { ...opToMeta(op), has: has && !held }, ...(held ? { held: true } : {}) };
      if (held || !has || !value) c.send(ev, null);
      else if (value instanceof Stage) {
        let reader: ValueSource;
        try {
          reader = value.reader();
        } catch (e) {
          c.drop(`the write's value did not arrive whole: ${(e as Error).message}`);
          continue;
        }
        c.send(ev, reader);
      } else c.send(ev, value);
    }
  }

  /** Sends an event to every child, in order with the writes. */
  broadcast(ev: JoinEvent, value: Outgoing = null): void {
    if (ev.t === "reseq") this.sentRev = ev.rev;
    for (const c of this.children) c.send(ev, value);
  }

  stop(): void {
    clearInterval(this.beat);
    for (const c of this.children) c.release();
  }

  childOf(session: Session): ChildLink | undefined {
    for (const c of this.children) if (c.session === session) return c;
    return undefined;
  }

  /** Sends one key, its entry then its history rows, skipping values `has` says the child holds. */
  async sendKey(child: ChildLink, e: Entry, has: (key: string, ver: Version) => boolean): Promise<void> {
    const skip = (x: Entry) => x.value !== null && x.value.size > 0 && has(x.key, x.ver);
    await child.emit({ t: "entry", ...rowToMeta(e, !skip(e)), dropped: this.node.store.droppedRev(e.key) }, skip(e) ? null : e.value);
    for (const row of this.node.store.historyOf(e.key)) await child.emit({ t: "row", ...rowToMeta(row, !skip(row)) }, skip(row) ? null : row.value);
  }

  handlers(): Record<string, Handler> {
    const node = this.node;
    const tree = this.tree;
    return {
      "tree.join": {
        admin: true,
        subscription: true,
        // Our own bound (QUEUE_BOUND, with a log line) acts first.
        maxPending: QUEUE_BOUND + 64,
        run: async (ctx) => {
          const { session, meta } = ctx;
          if (session.kind !== "peer") throw new ClipError("PROTOCOL", "tree.join is for servers (hello with kind \"peer\")");
          const info = parseNodeInfo(meta.tree);
          // The cycle rule: nobody in the joiner's subtree may be us or one of our ancestors.
          const theirs = new Set(subtreeIds(info));
          const hit = [...tree.ancestors(), node.id].find((id) => theirs.has(id));
          if (hit !== undefined) {
            const who = hit === node.id ? `${node.name} itself` : `its ancestor ${hit}`;
            node.log("warn", "join refused", `${info.name} (${info.id}) from ${session.conn.remote}: ${who} is in the joiner's subtree (a cycle)`);
            throw new ClipError("CYCLE", `joining ${node.name} would close a cycle: ${who} is already below ${info.name}`);
          }
          await tree.settled();
          if (ctx.cancelled) return undefined;
          const child = new ChildLink(ctx, info, node);
          this.children.add(child);
          const have = parseHave(meta.have);
          node.log("info", "child joined", `${info.name} (${info.id}) from ${session.conn.remote}`);
          let closeReason = "";
          session.onClose((reason) => {
            closeReason = reason;
          });
          ctx.onCancel(() => {
            this.children.delete(child);
            child.release();
            tree.changed();
            // The connection's close reason is known only after its streams are cancelled.
            queueMicrotask(() => {
              if (child.dropped) return;
              const why = closeReason === "slow" ? ": it fell too far behind (its queue passed the bound); it will re-sync by snapshot" : closeReason === "peer" ? "" : closeReason ? ` (${closeReason})` : ": its join stream ended";
              node.log(closeReason === "slow" ? "warn" : "info", "child left", `${info.name} (${info.id})${why}`);
            });
          });
          tree.changed();
          child.emit({ t: "path", path: tree.ancestors(), parent: tree.self() }, null);
          // The snapshot: the keys as they stand now, each sent as it stands when its turn
          // comes (a newer version is harmless: the write that made it follows and changes nothing).
          const rev = node.store.rev;
          const keys = node.store.all().map((e) => e.key);
          const holds = (key: string, ver: Version) => have.has(`${key}\n${verKey(ver)}`);
          for (const key of keys) {
            if (ctx.cancelled || child.dropped) return undefined;
            await this.sendKey(child, node.store.getAny(key)!, holds);
          }
          if (ctx.cancelled || child.dropped) return undefined;
          child.emit({ t: "synced", rev, entries: keys.length, lineage: node.lineage }, null);
          child.flush();
          return undefined;
        },
      },

      "tree.forward": {
        admin: true,
        value: "required",
        sealed: (meta) => markedSealed((meta.w as { meta?: Record<string, unknown> }).meta),
        check(meta) {
          parseOpMeta(meta.w);
          if (meta.ifRev !== undefined && (typeof meta.ifRev !== "number" || !Number.isSafeInteger(meta.ifRev) || meta.ifRev < 0)) throw new ClipError("PROTOCOL", "bad ifRev in a forwarded write");
        },
        run: async ({ meta, upload, session }) => {
          const m = parseOpMeta(meta.w);
          const via = this.childOf(session) ?? null;
          const ifRev = typeof meta.ifRev === "number" ? meta.ifRev : undefined;
          // Up it goes: the sequencer forwards to our parent as the value arrives, or applies it if we are the root.
          if (m.has) return { rev: await node.submit({ op: metaToOp(m, null), upload, via, ifRev }) };
          upload!.whole().then((v) => node.release(v), () => {});
          return { rev: await node.submit({ op: metaToOp(m, null), via, ifRev }) };
        },
      },

      "tree.publish": {
        admin: true,
        run({ meta }) {
          if (typeof meta.topic !== "string" || !meta.msg || typeof meta.msg !== "object") throw new ClipError("PROTOCOL", "tree.publish needs topic and msg");
          node.bus.route(meta.topic, meta.msg as Record<string, unknown>);
          return {};
        },
      },

      "tree.report": {
        admin: true,
        run: ({ meta, session }) => {
          const c = this.childOf(session);
          if (!c) throw new ClipError("PROTOCOL", "tree.report from a server that has not joined");
          c.info = parseNodeInfo(meta.tree);
          tree.changed();
          return {};
        },
      },

      "tree.show": {
        admin: true,
        run: () => tree.whole(),
      },
    };
  }
}
