// Where a write made on this server goes. Only the root assigns order: a
// root applies the write at once (node.applyLocal); a child sends it up
// (tree.forward) and returns once the root's ordered stream has brought it
// back down and it is applied here, so `clip copy` on any server returns
// with its write visible on that server.
//
// "Applied here" is judged by version, not by sequence number: the entry's
// version is at least the write's. That stays true across a re-join that
// renumbers the sequence, and a write overtaken by a newer one counts as done.
// If the parent link drops with writes in flight, they are applied locally:
// applying a version twice changes nothing, so a write is never lost between
// the two sides and never doubled.

import { unlinkSync } from "node:fs";
import type { Client } from "../client/client.ts";
import { ClipError, asClipError } from "../protocol/errors.ts";
import type { ClipNode, Sequencer } from "../server/node.ts";
import type { WriteOp } from "../server/store.ts";
import { ValueReader } from "../server/values.ts";
import { compareVersions } from "../server/version.ts";
import { opToMeta } from "./wire.ts";

interface Waiter {
  op: WriteOp;
  done: () => void;
}

export class TreeSequencer implements Sequencer {
  /** The synced link to the parent, or null while we are a root. */
  private up: Client | null = null;
  private readonly waiters = new Map<string, Set<Waiter>>();

  constructor(private readonly node: ClipNode) {
    node.onApplied((op, _seq, changes) => {
      if (this.waiters.size === 0) return;
      this.wake(op.key);
      for (const c of changes) if (c.entry.key !== op.key) this.wake(c.entry.key);
    });
  }

  /** Becomes a child: writes go up through `client`. */
  goUp(client: Client): void {
    this.up = client;
  }

  /** Becomes a root: writes waiting for the stream are applied here, now. */
  goRoot(): void {
    this.up = null;
    const all = [...this.waiters.values()].flatMap((s) => [...s]);
    this.waiters.clear();
    for (const w of all) {
      this.node.applyLocal(w.op);
      w.done();
    }
  }

  get isChild(): boolean {
    return this.up !== null;
  }

  submit(op: WriteOp): Promise<number> {
    const up = this.up;
    // The root's rule: this is the only place where a server numbers its own writes.
    if (!up) return Promise.resolve(this.node.applyLocal(op));
    return this.forward(up, op);
  }

  private async forward(up: Client, op: WriteOp): Promise<number> {
    // Opened now: a newer write may replace (and unlink) the file while this one travels.
    const reader = op.value?.file !== undefined && op.value.size > 0 ? new ValueReader(op.value) : null;
    const source = reader ? chunksOf(reader) : (op.value?.bytes ?? new Uint8Array(0));
    let seq: number;
    try {
      // The size goes first so the parent stages small values in memory, large ones on disk.
      const res = await up.upload("tree.forward", { w: opToMeta(op), size: op.value?.size ?? 0 }, source);
      seq = Number(res.seq);
    } catch (e) {
      reader?.close();
      const err = asClipError(e);
      // The link went: whoever we are now (root, or child of another parent) takes the write.
      if (up.closed || err.code === "LOST" || err.code === "SHUTDOWN") return this.submit(op);
      this.dropStaged(op);
      throw err;
    }
    if (!this.applied(op)) {
      // Lost the link between the answer and the write's return: whoever we are now takes
      // it (never applyLocal while a child: only the root numbers writes).
      if (this.up !== up) return this.submit(op);
      await new Promise<void>((done) => {
        let set = this.waiters.get(op.key);
        if (!set) this.waiters.set(op.key, (set = new Set()));
        set.add({ op, done });
      });
    }
    this.dropStaged(op);
    return seq;
  }

  private applied(op: WriteOp): boolean {
    const e = this.node.store.getAny(op.key);
    return !!e && compareVersions(e.ver, op.ver) >= 0;
  }

  private wake(key: string): void {
    const set = this.waiters.get(key);
    if (!set) return;
    for (const w of [...set]) {
      if (this.applied(w.op)) {
        set.delete(w);
        w.done();
      }
    }
    if (set.size === 0) this.waiters.delete(key);
  }

  /** The bytes staged for a forwarded write came back as their own copy; drop ours unless it is the one held. */
  private dropStaged(op: WriteOp): void {
    const file = op.value?.file;
    if (!file || this.node.store.getAny(op.key)?.value?.file === file) return;
    try {
      unlinkSync(file);
    } catch {}
  }
}

async function* chunksOf(reader: ValueReader): AsyncGenerator<Uint8Array> {
  try {
    while (reader.remaining > 0) yield reader.next(1 << 20);
  } finally {
    reader.close();
  }
}

export function isLinkError(e: unknown): boolean {
  return e instanceof ClipError && (e.code === "LOST" || e.code === "SHUTDOWN" || e.code === "NOSERVER");
}
