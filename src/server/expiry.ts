// Expiry (--ttl): a value written with a time to live carries its absolute
// deadline (meta.expires, ms since the epoch), so a restart does not extend
// it. Only a root acts on deadlines: it orders an expiry as a write (a
// delete that applies only while the entry is still the one that expires),
// so every server of the tree removes the value at the same place in the
// order. Every server keeps the deadlines, so whichever becomes a root (a
// split subtree) expires by its own clock; the heal's newer-wins converges.

import type { Applied, Entry, WriteOp } from "./state.ts";
import type { Version } from "./version.ts";

/** What expiry needs of the server it runs in (the node; an interface, so this file does not import it). */
export interface ExpiryHost {
  readonly store: { all(): Entry[]; getAny(key: string): Entry | undefined };
  readonly clock: { now(): Version };
  readonly name: string;
  readonly isClosing: boolean;
  isRoot(): boolean;
  submit(w: { op: WriteOp }): Promise<number>;
  onApplied(fn: (op: WriteOp, rev: number, applied: Applied, via: object | null) => void): unknown;
  log(level: "info" | "warn" | "error", event: string, detail?: string): void;
}

interface Deadline {
  at: number;
  key: string;
  ver: Version;
}

/** How often a server that is not the root looks again at deadlines that are due (it may become one). */
const NOT_ROOT_RETRY_MS = 1000;
/** setTimeout takes at most 2^31-1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class Expiry {
  /** A binary min-heap by deadline; entries replaced meanwhile are skipped when they come up. */
  private heap: Deadline[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private armedFor = Infinity;
  /** Expiries submitted and not yet applied (a version is expired once). */
  private readonly inFlight = new Set<string>();
  private stopped = false;

  constructor(private readonly node: ExpiryHost) {
    for (const e of node.store.all()) this.track(e);
    node.onApplied((_op, _rev, applied) => {
      for (const c of applied.changes) this.track(c.entry);
    });
    this.arm();
  }

  /** Also called for entries adopted from a parent's snapshot. */
  track(e: Entry): void {
    const at = e.meta.expires;
    if (e.deleted || typeof at !== "number") return;
    this.push({ at, key: e.key, ver: e.ver });
    if (at < this.armedFor) this.arm();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = Infinity;
    const next = this.heap[0];
    if (!next) return;
    this.armedFor = next.at;
    this.timer = setTimeout(() => this.fire(), Math.min(MAX_TIMER_MS, Math.max(0, next.at - Date.now())));
    this.timer.unref?.();
  }

  private fire(): void {
    this.timer = null;
    const node = this.node;
    const now = Date.now();
    const root = node.isRoot();
    const waiting: Deadline[] = [];
    while (this.heap.length > 0 && this.heap[0].at <= now) {
      const d = this.pop();
      const e = node.store.getAny(d.key);
      // Replaced, deleted or expired meanwhile: nothing to do.
      if (!e || e.deleted || e.ver.t !== d.ver.t || e.ver.n !== d.ver.n) continue;
      if (!root || node.isClosing) {
        waiting.push(d);
        continue;
      }
      const id = `${d.key}\n${d.ver.t}/${d.ver.n}`;
      if (this.inFlight.has(id)) continue;
      this.inFlight.add(id);
      node
        .submit({ op: { key: d.key, ver: node.clock.now(), del: true, ifVer: d.ver, meta: { at: Date.now(), by: node.name, event: "expire" }, value: null } })
        .catch((err) => {
          // Ordered nowhere (we stopped being the root, or are shutting down): look again later.
          if (!node.isClosing) this.push({ ...d, at: Date.now() + NOT_ROOT_RETRY_MS });
          node.log("warn", "expiry failed", `${d.key}: ${(err as Error).message}`);
        })
        .finally(() => {
          this.inFlight.delete(id);
          this.arm();
        });
    }
    // Not the root (yet): the root orders it; if we become one, these are ours.
    for (const d of waiting) this.push({ ...d, at: now + NOT_ROOT_RETRY_MS });
    this.arm();
  }

  private push(d: Deadline): void {
    const h = this.heap;
    // Replaced entries stay in the heap until they come up: past a bound, start over from the live ones.
    if (h.length > 1024 && h.length > 2 * this.node.store.all().length) {
      this.heap = [];
      for (const e of this.node.store.all()) if (!e.deleted && typeof e.meta.expires === "number") this.heap.push({ at: e.meta.expires, key: e.key, ver: e.ver });
      this.heap.sort((a, b) => a.at - b.at); // a sorted array is a heap
    }
    this.heap.push(d);
    const hp = this.heap;
    let i = hp.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (hp[p].at <= hp[i].at) break;
      [hp[p], hp[i]] = [hp[i], hp[p]];
      i = p;
    }
  }

  private pop(): Deadline {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l].at < h[m].at) m = l;
        if (r < h.length && h[r].at < h[m].at) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top;
  }
}
