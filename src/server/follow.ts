// Following entries: what a resuming watch is given first (the rows after
// the revision it names, still held) and then every later change, as one
// step. Every wait and watch of every door comes through here (the socket's
// wait and kv.watch, HTTP's ?wait and event streams), so the rule "no gap
// and no repeat at the boundary" is kept in one place.

import { replay } from "./describe.ts";
import type { ClipNode } from "./node.ts";
import type { Entry } from "./state.ts";

export interface FollowFrom {
  /** One entry by its full key ("r/3", "k/G/K")... */
  key?: string;
  /** ...or every entry under a prefix ("r/" for all regions, "k/G/P"). */
  prefix?: string;
  /** Replay the rows newer than this revision first (NOTFOUND when some are no longer held). */
  since?: number;
  /** The numbering `since` was counted in, when the watcher knows it (see ClipNode.lineage). */
  lineage?: string;
}

/**
 * Calls `fn` for each row after `since` (oldest first), then for each later
 * change, until `fn` returns true or the returned function is called. The
 * replay and the subscription happen in this one turn of the loop, so no
 * write can fall between them or come twice. Throws (before calling
 * anything) what replay() throws: NOTFOUND for rows no longer held, USAGE
 * for a revision from the future; `ready` is called once that is settled,
 * before the first row (a follow announces itself there).
 */
export function follow(node: ClipNode, from: FollowFrom, fn: (e: Entry) => boolean | void, ready?: () => void): () => void {
  const store = node.store;
  let held: Entry[] = [];
  if (from.since !== undefined) {
    const keys = from.key !== undefined ? [from.key] : store.all().filter((e) => e.key.startsWith(from.prefix!)).map((e) => e.key);
    held = replay(store, keys, from.since, { asked: from.lineage, ours: node.lineage });
  }
  ready?.();
  for (const e of held) if (fn(e) === true) return () => {};
  let stop = () => {};
  const on = (e: Entry) => {
    if (fn(e) === true) stop();
  };
  stop = from.key !== undefined ? node.watchers.watch(from.key, (c) => on(c.entry)) : node.watchers.watchPrefix(from.prefix ?? "", (c) => on(c.entry));
  return stop;
}
