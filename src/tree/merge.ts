// The merge of one key when a server (re)joins a parent: its own entry and
// history against the parent's, as the parent's snapshot brought them. Pure.
//
// The newer version wins, as for every write, and the history follows the
// winner's side, so that once the winner is ordered everywhere every server
// holds the same rows:
//   - the parent's entry is newer (or ours is missing): take the parent's
//     entry and history;
//   - the same version: take the parent's revision for it and its history;
//   - ours is newer: keep ours, put the parent's entry on top of the
//     parent's history (the root will do the same when our write reaches it
//     as an ordinary write), and send ours up.
// Our own earlier rows were numbered by a tree we are leaving: they go.

import type { Entry } from "../server/state.ts";
import type { Value } from "../server/values.ts";
import { compareVersions } from "../server/version.ts";

export interface KeyState {
  entry: Entry | undefined;
  /** History rows, newest first. */
  rows: readonly Entry[];
  /** The newest revision gone from this key's history. */
  dropped: number;
}

export interface Merged {
  entry: Entry;
  rows: Entry[];
  dropped: number;
  /** Ours is newer: it goes up to the root as a write. */
  sendUp: boolean;
  /** Values of ours that neither the entry nor the rows refer to any more. */
  released: Value[];
}

/** Merges one key; `theirs.entry` is set (the parent sent it). */
export function mergeKey(ours: KeyState, theirs: KeyState & { entry: Entry }, historyMax: number): Merged {
  const order = ours.entry ? compareVersions(ours.entry.ver, theirs.entry.ver) : -1;
  let m: Omit<Merged, "released">;
  if (order < 0) {
    m = { entry: theirs.entry, ...trim(theirs.rows, theirs.dropped, historyMax), sendUp: false };
  } else if (order === 0) {
    // The very write both sides hold: the parent's numbering, our value (the same bytes).
    m = { entry: { ...ours.entry!, rev: theirs.entry.rev }, ...trim(theirs.rows, theirs.dropped, historyMax), sendUp: false };
  } else {
    m = { entry: ours.entry!, ...trim([theirs.entry, ...theirs.rows], theirs.dropped, historyMax), sendUp: true };
  }
  // Every value either side brought that the result does not name (by identity: a skipped value
  // is our own object) is let go of: ours replaced, theirs received but cut from the history.
  const keep = new Set<Value>();
  for (const e of [m.entry, ...m.rows]) if (e.value) keep.add(e.value);
  const released = new Set<Value>();
  for (const e of [ours.entry, ...ours.rows, theirs.entry, ...theirs.rows]) if (e?.value && !keep.has(e.value)) released.add(e.value);
  return { ...m, released: [...released] };
}

/**
 * Rows kept to our --history (a parent may keep more): those cut are gone
 * from this server's history, and the dropped mark says so, as it does for
 * rows pushed out by a write.
 */
function trim(rows: readonly Entry[], dropped: number, historyMax: number): { rows: Entry[]; dropped: number } {
  const cut = rows.slice(historyMax);
  return { rows: rows.slice(0, historyMax), dropped: Math.max(dropped, ...cut.map((e) => e.rev)) };
}

/**
 * A key only we hold: we keep it (it goes up), but its history was numbered
 * by the tree we are leaving: it goes, and a watch resuming from before the
 * revision we adopt is told so rather than given a gap.
 */
export function keepOwn(ours: KeyState & { entry: Entry }, adoptedRev: number): Merged {
  const released = ours.rows.flatMap((e) => (e.value && e.value !== ours.entry.value ? [e.value] : []));
  return { entry: ours.entry, rows: [], dropped: Math.max(ours.dropped, adoptedRev), sendUp: true, released };
}
