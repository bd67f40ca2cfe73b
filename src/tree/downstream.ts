// The parent's side of the tree: the requests a child server makes of us.
//   tree.join     a subscription: our ancestry (`path`), a snapshot of every
//                 entry (values streamed), `synced`, then every write we apply,
//                 in our order, which is the root's order (we only relay).
//   tree.forward  a write made below us, on its way up to the root.
//   tree.publish  a bus message (chat) on its way up to the root.
//   tree.report   the child's subtree, for `clip tree` and the cycle check.
//
// A child that does not keep up is dropped (SLOW) once QUEUE_BOUND events
// wait for it; it comes back and re-syncs by snapshot, so our memory stays
// bounded whatever it does.

import { linkSync, unlinkSync } from "node:fs";
import { ClipError } from "../protocol/errors.ts";
import type { ClipNode } from "../server/node.ts";
import type { Handler, RequestContext, Session } from "../server/session.ts";
import type { Entry, WriteOp } from "../server/store.ts";
import type { Value } from "../server/values.ts";
import { compareVersions, type Version } from "../server/version.ts";
import { type JoinEvent, type NodeInfo, metaToOp, opToMeta, parseNodeInfo, parseOpMeta, subtreeIds } from "./wire.ts";

/**
 * What may wait for one child (buffered during its snapshot, or queued and
 * unsent) before it is dropped: events, value bytes (beyond the one value in
 * flight, which streams with backpressure whatever its size), and values held
 * open as files (one descriptor each).
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
}

let pins = 0;

/** One child server, seen from its parent. */
export class ChildLink {
  info: NodeInfo;
  /** Until `synced` is sent, later events wait here (values pinned by hard links). */
  private buffer: { ev: JoinEvent; value: Value | null; pin: string | null }[] | null = [];
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

  send(ev: JoinEvent, value: Value | null = null): void {
    if (this.dropped || this.ctx.cancelled) return;
    if (this.buffer) {
      if (this.buffer.length >= QUEUE_BOUND || this.bufferBytes + (value?.size ?? 0) > QUEUE_BYTES) {
        return this.drop(`more than ${QUEUE_BOUND} writes or ${QUEUE_BYTES >> 20} MiB arrived during its snapshot`);
      }
      this.bufferBytes += value?.size ?? 0;
      // A newer write may unlink this value's file before the snapshot ends: keep a link to it.
      let pin: string | null = null;
      if (value?.file) {
        pin = `${value.file}.pin${++pins}`;
        try {
          linkSync(value.file, pin);
          value = { size: value.size, file: pin };
        } catch {
          pin = null;
          value = null;
        }
      }
      this.buffer.push({ ev, value, pin });
      return;
    }
    this.emit(ev, value);
  }

  /** Sends now; the value is opened before this returns. */
  emit(ev: JoinEvent, value: Value | null): Promise<void> {
    if (this.dropped || this.ctx.cancelled) return Promise.resolve();
    const size = value?.size ?? 0;
    const file = value?.file !== undefined ? 1 : 0;
    if (this.inflight >= QUEUE_BOUND || (this.inflightBytes > 0 && this.inflightBytes + size > QUEUE_BYTES) || this.inflightFiles + file > QUEUE_FILES) {
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
      p = this.ctx.event({ ...ev, size }, value);
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
    for (const b of buf) {
      this.emit(b.ev, b.value);
      if (b.pin) unpin(b.pin); // the reader holds an fd now
    }
  }

  drop(why: string): void {
    if (this.dropped) return;
    this.dropped = true;
    this.node.log("warn", "child dropped", `${this.info.name} (${this.info.id}): ${why}; it will re-sync by snapshot`);
    this.releasePins();
    this.ctx.fail(new ClipError("SLOW", `dropped by ${this.node.name}: ${why}; re-sync by snapshot`));
  }

  releasePins(): void {
    for (const b of this.buffer ?? []) if (b.pin) unpin(b.pin);
    this.buffer = null;
  }
}

function unpin(path: string): void {
  try {
    unlinkSync(path);
  } catch {}
}

export function entryOp(e: Entry): WriteOp {
  return { key: e.key, ver: e.ver, del: e.deleted || undefined, meta: e.meta, value: e.deleted ? null : e.value };
}

/** Reads `have`: versions the child holds of its large values, so we skip sending those it already has. */
function parseHave(raw: unknown): Map<string, Version> {
  const have = new Map<string, Version>();
  if (!Array.isArray(raw)) return have;
  for (const h of raw.slice(0, 512)) {
    if (Array.isArray(h) && typeof h[0] === "string" && typeof h[1] === "number" && typeof h[2] === "string") have.set(h[0], { t: h[1], n: h[2] });
  }
  return have;
}

export class Downstream {
  readonly children = new Set<ChildLink>();
  private beat: ReturnType<typeof setInterval>;

  constructor(
    private readonly node: ClipNode,
    private readonly tree: TreeView,
  ) {
    node.onApplied((op, seq, changes) => {
      if (this.children.size === 0) return;
      // An op that lost here loses on the child too (it holds what we hold, or newer): its value need not travel.
      const won = changes.length > 0 && changes[0].entry.key === op.key;
      const ev: JoinEvent = { t: "op", seq, op: opToMeta(op, won) };
      for (const c of this.children) c.send(ev, won ? op.value : null);
    });
    this.beat = setInterval(() => {
      for (const c of this.children) c.send({ t: "beat", seq: node.store.seq });
    }, BEAT_MS);
  }

  /** Sends an event to every child, in order with the writes. */
  broadcast(ev: JoinEvent): void {
    for (const c of this.children) c.send(ev);
  }

  stop(): void {
    clearInterval(this.beat);
    for (const c of this.children) c.releasePins();
  }

  private childOf(session: Session): ChildLink | undefined {
    for (const c of this.children) if (c.session === session) return c;
    return undefined;
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
            child.releasePins();
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
          // comes (a newer version is harmless: the op that made it follows and changes nothing).
          const seq = node.store.seq;
          const keys = node.store.all().map((e) => e.key);
          for (const key of keys) {
            if (ctx.cancelled || child.dropped) return undefined;
            const e = node.store.getAny(key)!;
            const h = have.get(key);
            if (h && compareVersions(e.ver, h) <= 0) {
              // The child holds this version or a newer one: say which, skip the bytes.
              await child.emit({ t: "entry", ...opToMeta(entryOp(e), false), skip: true }, null);
              continue;
            }
            await child.emit({ t: "entry", ...opToMeta(entryOp(e)) }, e.deleted ? null : e.value);
          }
          if (ctx.cancelled || child.dropped) return undefined;
          child.emit({ t: "synced", seq, entries: keys.length }, null);
          child.flush();
          return undefined;
        },
      },

      "tree.forward": {
        admin: true,
        value: "required",
        check(meta) {
          parseOpMeta(meta.w);
        },
        async run({ meta, value }) {
          const m = parseOpMeta(meta.w);
          // Up it goes: the sequencer forwards to our parent, or applies it if we are the root.
          const seq = await node.submit(metaToOp(m, m.has ? value : null));
          return { seq };
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
