// Who watches which entry: by exact key (a region's waiters, a key's
// watchers) and by prefix (group changes, prefix watches). Told of every
// change in the order the state applies them.

import type { Change } from "./state.ts";

export type Watcher = (change: Change) => void;

export class Watchers {
  private readonly byKey = new Map<string, Set<Watcher>>();
  private readonly byPrefix = new Set<{ prefix: string; fn: Watcher }>();

  /** Calls `fn` for every later change of `key`. Returns the unsubscribe. */
  watch(key: string, fn: Watcher): () => void {
    let set = this.byKey.get(key);
    if (!set) this.byKey.set(key, (set = new Set()));
    set.add(fn);
    return () => {
      set!.delete(fn);
      if (set!.size === 0) this.byKey.delete(key);
    };
  }

  /** Calls `fn` for every later change of a key under `prefix`. */
  watchPrefix(prefix: string, fn: Watcher): () => void {
    const w = { prefix, fn };
    this.byPrefix.add(w);
    return () => this.byPrefix.delete(w);
  }

  notify(c: Change): void {
    const set = this.byKey.get(c.entry.key);
    if (set) for (const fn of [...set]) fn(c);
    for (const w of this.byPrefix) if (c.entry.key.startsWith(w.prefix)) w.fn(c);
  }

  /** Watchers of exactly `key`. */
  count(key: string): number {
    return this.byKey.get(key)?.size ?? 0;
  }

  /** Every watcher, by key and by prefix (metrics). */
  get total(): number {
    let n = this.byPrefix.size;
    for (const s of this.byKey.values()) n += s.size;
    return n;
  }
}
