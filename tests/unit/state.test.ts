// State.apply, the one way the replicated state changes (src/server/state.ts):
// newest version wins, every write takes its revision, clear and ifVer,
// history rows and their dropped marks, and which values nothing refers to
// any more (what the store then lets go of).

import { describe, expect, test } from "bun:test";
import { State, type WriteOp } from "../../src/server/state.ts";
import type { Value } from "../../src/server/values.ts";
import type { Version } from "../../src/server/version.ts";

const v = (t: number, n = "a"): Version => ({ t, n });
const val = (s: string): Value => ({ size: s.length, bytes: new TextEncoder().encode(s) });
const put = (key: string, ver: Version, value: Value | null, extra: Partial<WriteOp> = {}): WriteOp => ({ key, ver, meta: { at: ver.t, by: ver.n }, value, ...extra });

describe("state - versions and revisions", () => {
  test("state - a newer version wins: the entry is replaced and the old one becomes the newest history row", () => {
    const s = new State(4);
    const a = val("a");
    const b = val("b");
    s.apply(put("r/1", v(10), a), 1);
    const out = s.apply(put("r/1", v(20), b), 2);
    expect(s.get("r/1")).toMatchObject({ ver: v(20), rev: 2, value: b, deleted: false });
    expect(out.changes.length).toBe(1);
    expect(out.changes[0].entry.value).toBe(b);
    expect(out.changes[0].prev?.value).toBe(a);
    expect(s.historyOf("r/1").map((e) => e.value)).toEqual([a]);
    expect(out.historyAdded.map((e) => e.rev)).toEqual([1]);
    expect(out.released).toEqual([]);
    expect(s.rev).toBe(2);
  });

  test("state - the writer's id breaks a tie of clock readings, the same way everywhere", () => {
    const s = new State(0);
    s.apply(put("r/1", v(10, "b"), val("from b")), 1);
    const lost = s.apply(put("r/1", v(10, "a"), val("from a")), 2);
    expect(lost.changes).toEqual([]);
    const won = s.apply(put("r/1", v(10, "c"), val("from c")), 3);
    expect(won.changes.length).toBe(1);
    expect(s.get("r/1")?.ver).toEqual(v(10, "c"));
  });

  test("state - an older version loses but takes its revision; its value is released", () => {
    const s = new State(4);
    const kept = val("newer");
    const late = val("older");
    s.apply(put("r/1", v(20), kept), 1);
    const out = s.apply(put("r/1", v(10), late), 2);
    expect(s.rev).toBe(2); // every server counts the write, loser or not
    expect(s.get("r/1")).toMatchObject({ ver: v(20), rev: 1 });
    expect(s.get("r/1")!.value).toBe(kept);
    expect(out.changes).toEqual([]);
    expect(out.restamped).toEqual([]);
    expect(out.historyAdded).toEqual([]);
    expect(s.historyOf("r/1")).toEqual([]);
    expect(out.released).toEqual([late]);
  });

  test("state - an equal version ordered again restamps the entry's revision and changes nothing else", () => {
    const s = new State(4);
    const held = val("x");
    s.apply(put("r/1", v(10), held), 1);
    s.apply(put("r/2", v(11), val("y")), 2);
    // A merge sent it up: the same write, now with the root's numbering. Our own value object: kept.
    const same = s.apply(put("r/1", v(10), held), 3);
    expect(s.get("r/1")).toMatchObject({ ver: v(10), rev: 3 });
    expect(same.restamped.map((e) => e.key)).toEqual(["r/1"]);
    expect(same.changes).toEqual([]);
    expect(same.released).toEqual([]);
    expect(s.historyOf("r/1")).toEqual([]);
    // The same version with its bytes received again (another object): those bytes are let go.
    const copy = val("x");
    const again = s.apply(put("r/1", v(10), copy), 4);
    expect(s.get("r/1")!.rev).toBe(4);
    expect(s.get("r/1")!.value).toBe(held);
    expect(again.released).toEqual([copy]);
  });

  test("state - the first write of a key has no history and releases nothing", () => {
    const s = new State(4);
    const out = s.apply(put("k/g/x", v(1), val("1")), 1);
    expect(out.changes.length).toBe(1);
    expect(out.changes[0].prev).toBeUndefined();
    expect(out.historyAdded).toEqual([]);
    expect(out.released).toEqual([]);
  });
});

describe("state - deletes, clear and ifVer", () => {
  test("state - a delete leaves a tombstone: not listed, but kept, and it beats an older write that comes late", () => {
    const s = new State(2);
    const a = val("a");
    s.apply(put("k/g/x", v(10), a), 1);
    const del = s.apply(put("k/g/x", v(20), null, { del: true }), 2);
    expect(del.changes[0].entry).toMatchObject({ deleted: true, value: null, rev: 2 });
    expect(s.get("k/g/x")).toBeUndefined();
    expect(s.getAny("k/g/x")).toMatchObject({ deleted: true, ver: v(20) });
    expect(s.list("k/g/")).toEqual([]);
    expect(s.count("k/")).toBe(0);
    expect(s.all().map((e) => e.key)).toEqual(["k/g/x"]);
    expect(s.historyOf("k/g/x").map((e) => e.value)).toEqual([a]);
    // A write made before the delete, arriving after it (a merge), must not bring the key back.
    const late = val("late");
    const out = s.apply(put("k/g/x", v(15), late), 3);
    expect(s.get("k/g/x")).toBeUndefined();
    expect(out.released).toEqual([late]);
    // A newer one does.
    s.apply(put("k/g/x", v(30), val("again")), 4);
    expect(s.get("k/g/x")?.rev).toBe(4);
  });

  test("state - clear tombstones the live keys under its prefix that are older than the op, and only those", () => {
    const s = new State(4);
    const old = val("old");
    s.apply(put("k/g/old", v(10), old), 1);
    s.apply(put("k/g/new", v(40), val("new")), 2);
    s.apply(put("k/gx/other", v(10), val("other group")), 3); // shares the letters, not the prefix
    s.apply(put("k/h/x", v(10), val("h")), 4);
    s.apply(put("k/g/gone", v(5), null, { del: true }), 5);
    // A group deleted (or rotated) at t=30: its entry and every older key of it.
    const out = s.apply(put("g/g", v(30), null, { del: true, clear: "k/g/" }), 6);
    expect(s.getAny("k/g/old")).toMatchObject({ deleted: true, ver: v(30), rev: 6, value: null });
    expect(s.getAny("k/g/old")!.meta).toEqual({ at: 30, by: "a" });
    expect(s.get("k/g/new")?.rev).toBe(2);
    expect(s.get("k/gx/other")?.rev).toBe(3);
    expect(s.get("k/h/x")?.rev).toBe(4);
    // A tombstone already is not tombstoned again.
    expect(s.getAny("k/g/gone")).toMatchObject({ ver: v(5), rev: 5 });
    expect(out.changes.map((c) => c.entry.key).sort()).toEqual(["g/g", "k/g/old"]);
    // The cleared key's value is now a history row, not released.
    expect(s.historyOf("k/g/old").map((e) => e.value)).toEqual([old]);
    expect(out.released).toEqual([]);
    expect(s.rev).toBe(6);
  });

  test("state - clear does not touch the op's own key, and a clear that loses still clears the older keys", () => {
    const s = new State(0);
    s.apply(put("g/g", v(50), null), 1);
    s.apply(put("k/g/a", v(10), val("a")), 2);
    const out = s.apply(put("g/g", v(30), null, { del: true, clear: "k/g/" }), 3);
    expect(s.get("g/g")?.ver).toEqual(v(50)); // the group entry is newer: the delete loses
    expect(s.get("k/g/a")).toBeUndefined(); // but its keys older than the op go
    expect(out.changes.map((c) => c.entry.key)).toEqual(["k/g/a"]);
  });

  test("state - ifVer: an expiry applies only while the entry is at exactly that version", () => {
    const s = new State(4);
    s.apply(put("k/g/x", v(10), val("first")), 1);
    const newer = val("newer");
    s.apply(put("k/g/x", v(20), newer), 2);
    // The expiry of the first write, ordered after the newer one: it must not remove it.
    const stale = s.apply(put("k/g/x", v(30), null, { del: true, ifVer: v(10) }), 3);
    expect(stale.changes).toEqual([]);
    expect(s.get("k/g/x")!.value).toBe(newer);
    expect(s.rev).toBe(3);
    // The expiry of the entry as it stands applies.
    const due = s.apply(put("k/g/x", v(31), null, { del: true, ifVer: v(20) }), 4);
    expect(due.changes.length).toBe(1);
    expect(s.get("k/g/x")).toBeUndefined();
    // On a key that does not exist there is nothing to expire.
    const none = s.apply(put("k/g/y", v(40), null, { del: true, ifVer: v(10) }), 5);
    expect(none.changes).toEqual([]);
    expect(s.getAny("k/g/y")).toBeUndefined();
  });

  test("state - ifVer never restamps an entry at another version", () => {
    const s = new State(4);
    s.apply(put("k/g/x", v(20), val("x")), 1);
    const out = s.apply(put("k/g/x", v(20), null, { del: true, ifVer: v(10) }), 2);
    expect(out.restamped).toEqual([]);
    expect(s.get("k/g/x")?.rev).toBe(1);
  });
});

describe("state - history", () => {
  test("state - rows are pushed newest first and trimmed at historyMax; dropped rows are marked and their values released", () => {
    const s = new State(2);
    const vals = [val("v1"), val("v2"), val("v3"), val("v4"), val("v5")];
    const outs = vals.map((x, i) => s.apply(put("r/0", v(10 * (i + 1)), x), i + 1));
    expect(s.get("r/0")!.value).toBe(vals[4]);
    expect(s.historyOf("r/0").map((e) => e.value)).toEqual([vals[3], vals[2]]);
    expect(s.historyOf("r/0").map((e) => e.rev)).toEqual([4, 3]);
    // v1 was pushed out by the 4th write, v2 by the 5th.
    expect(outs[2].historyDropped).toEqual([]);
    expect(outs[3].historyDropped.map((e) => e.rev)).toEqual([1]);
    expect(outs[3].released).toEqual([vals[0]]);
    expect(outs[4].historyDropped.map((e) => e.rev)).toEqual([2]);
    expect(outs[4].released).toEqual([vals[1]]);
    expect(s.droppedRev("r/0")).toBe(2);
    // Another key's history is its own.
    expect(s.droppedRev("r/1")).toBe(0);
    expect(s.historyOf("r/1")).toEqual([]);
  });

  test("state - deletes are history rows too (without a value)", () => {
    const s = new State(3);
    s.apply(put("k/g/x", v(10), val("a")), 1);
    s.apply(put("k/g/x", v(20), null, { del: true }), 2);
    s.apply(put("k/g/x", v(30), val("b")), 3);
    expect(s.historyOf("k/g/x").map((e) => [e.rev, e.deleted, e.value === null])).toEqual([
      [2, true, true],
      [1, false, false],
    ]);
  });

  test("state - historyMax 0 keeps no rows: the replaced entry is dropped and released at once", () => {
    const s = new State(0);
    const a = val("a");
    const b = val("b");
    s.apply(put("r/3", v(10), a), 7);
    const out = s.apply(put("r/3", v(20), b), 8);
    expect(s.historyOf("r/3")).toEqual([]);
    expect(out.historyAdded).toEqual([]);
    expect(out.historyDropped.map((e) => e.value)).toEqual([a]);
    expect(out.released).toEqual([a]);
    expect(s.droppedRev("r/3")).toBe(7);
    // A tombstone replaced releases nothing (it has no value) but still moves the mark.
    s.apply(put("r/3", v(30), null, { del: true }), 9);
    const again = s.apply(put("r/3", v(40), val("c")), 10);
    expect(again.released).toEqual([]);
    expect(s.droppedRev("r/3")).toBe(9);
  });

  test("state - a clear under historyMax 0 releases the cleared values", () => {
    const s = new State(0);
    const a = val("a");
    const b = val("b");
    s.apply(put("k/g/a", v(10), a), 1);
    s.apply(put("k/g/b", v(11), b), 2);
    const out = s.apply(put("g/g", v(20), null, { del: true, clear: "k/g/" }), 3);
    expect(new Set(out.released)).toEqual(new Set([a, b]));
    expect(s.droppedRev("k/g/a")).toBe(1);
    expect(s.droppedRev("k/g/b")).toBe(2);
  });

  test("state - a write that loses releases only its own value, never one the state still names", () => {
    const s = new State(1);
    const a = val("a");
    const b = val("b");
    s.apply(put("r/0", v(10), a), 1);
    s.apply(put("r/0", v(20), b), 2);
    const lost = val("lost");
    const out = s.apply(put("r/0", v(15), lost), 3);
    expect(out.released).toEqual([lost]);
    expect(s.get("r/0")!.value).toBe(b);
    expect(s.historyOf("r/0").map((e) => e.value)).toEqual([a]);
  });
});
