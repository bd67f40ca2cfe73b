// The merge of one key when a server (re)joins a parent (src/tree/merge.ts):
// who wins, whose history is kept and how far, the dropped mark, what goes
// up, and which values are let go (by identity: a value the parent skipped
// sending is our own object and must survive).

import { describe, expect, test } from "bun:test";
import type { Entry } from "../../src/server/state.ts";
import type { Value } from "../../src/server/values.ts";
import { keepOwn, mergeKey } from "../../src/tree/merge.ts";

const val = (s: string): Value => ({ size: s.length, bytes: new TextEncoder().encode(s) });
const entry = (t: number, rev: number, value: Value | null, n = "x"): Entry => ({ key: "r/1", ver: { t, n }, rev, deleted: value === null, meta: { at: t }, value });

describe("merge - mergeKey", () => {
  test("merge - the parent's entry is newer: its entry and history are taken, ours are let go", () => {
    const o = [val("ours"), val("our row 1"), val("our row 2")];
    const p = [val("parent"), val("parent row 1")];
    const m = mergeKey(
      { entry: entry(10, 3, o[0]), rows: [entry(8, 2, o[1]), entry(6, 1, o[2])], dropped: 0 },
      { entry: entry(20, 7, p[0], "p"), rows: [entry(15, 6, p[1], "p")], dropped: 4 },
      4,
    );
    expect(m.sendUp).toBe(false);
    expect(m.entry.value).toBe(p[0]);
    expect(m.entry.rev).toBe(7);
    expect(m.rows.map((e) => e.value)).toEqual([p[1]]);
    expect(m.dropped).toBe(4);
    expect(new Set(m.released)).toEqual(new Set(o));
  });

  test("merge - we have no entry: the parent's is taken and nothing of ours is released", () => {
    const p = val("p");
    const m = mergeKey({ entry: undefined, rows: [], dropped: 0 }, { entry: entry(20, 7, p), rows: [], dropped: 0 }, 4);
    expect(m.entry.value).toBe(p);
    expect(m.sendUp).toBe(false);
    expect(m.released).toEqual([]);
  });

  test("merge - the parent's history longer than ours is kept: trimmed to historyMax, the rows cut are marked dropped and released", () => {
    const p = [val("p"), val("r1"), val("r2"), val("r3")];
    const m = mergeKey(
      { entry: undefined, rows: [], dropped: 0 },
      { entry: entry(40, 9, p[0], "p"), rows: [entry(30, 8, p[1], "p"), entry(20, 6, p[2], "p"), entry(10, 5, p[3], "p")], dropped: 2 },
      1,
    );
    expect(m.rows.map((e) => e.rev)).toEqual([8]);
    // Revisions 6 and 5 are gone from this server's history: a resume from before them must be told so.
    expect(m.dropped).toBe(6);
    expect(new Set(m.released)).toEqual(new Set([p[2], p[3]]));
  });

  test("merge - the same version on both sides: the parent's revision and history, our value (the same bytes)", () => {
    const ours = val("same");
    const theirs = val("same");
    const oldRow = val("our old row");
    const pRow = val("parent row");
    const m = mergeKey(
      { entry: entry(20, 3, ours), rows: [entry(10, 1, oldRow)], dropped: 0 },
      { entry: entry(20, 11, theirs), rows: [entry(12, 9, pRow, "p")], dropped: 5 },
      4,
    );
    expect(m.sendUp).toBe(false);
    expect(m.entry.value).toBe(ours);
    expect(m.entry.rev).toBe(11);
    expect(m.rows.map((e) => e.value)).toEqual([pRow]);
    expect(m.dropped).toBe(5);
    // Our old row was numbered by the tree we leave; the parent's copy of our value came for nothing.
    expect(new Set(m.released)).toEqual(new Set([oldRow, theirs]));
  });

  test("merge - ours is newer: kept and sent up; the history is the parent's entry on top of its rows", () => {
    const ours = val("ours, newer");
    const ourRow = val("our row");
    const p = [val("parent"), val("p1"), val("p2")];
    const m = mergeKey(
      { entry: entry(50, 4, ours, "o"), rows: [entry(45, 3, ourRow, "o")], dropped: 1 },
      { entry: entry(30, 12, p[0], "p"), rows: [entry(20, 10, p[1], "p"), entry(10, 8, p[2], "p")], dropped: 6 },
      8,
    );
    expect(m.sendUp).toBe(true);
    expect(m.entry.value).toBe(ours);
    expect(m.entry.rev).toBe(4); // renumbered when the root orders it
    expect(m.rows.map((e) => e.rev)).toEqual([12, 10, 8]);
    expect(m.rows.map((e) => e.value)).toEqual(p);
    expect(m.dropped).toBe(6);
    expect(m.released).toEqual([ourRow]);
  });

  test("merge - ours is newer and the history is full: trimmed at historyMax with the cut rows marked dropped and released", () => {
    const ours = val("ours");
    const p = [val("parent"), val("p1"), val("p2")];
    const m = mergeKey(
      { entry: entry(50, 4, ours, "o"), rows: [], dropped: 0 },
      { entry: entry(30, 12, p[0], "p"), rows: [entry(20, 10, p[1], "p"), entry(10, 8, p[2], "p")], dropped: 3 },
      2,
    );
    expect(m.rows.map((e) => e.rev)).toEqual([12, 10]);
    expect(m.dropped).toBe(8);
    expect(m.released).toEqual([p[2]]);
    // historyMax 0: the parent's entry itself is pushed out.
    const none = mergeKey({ entry: entry(50, 4, ours, "o"), rows: [], dropped: 0 }, { entry: entry(30, 12, p[0], "p"), rows: [entry(20, 10, p[1], "p")], dropped: 3 }, 0);
    expect(none.rows).toEqual([]);
    expect(none.dropped).toBe(12);
    expect(new Set(none.released)).toEqual(new Set([p[0], p[1]]));
  });

  test("merge - a value the parent skipped (we hold it) is our own object: kept where the result names it", () => {
    const mine = val("large value we hold");
    const newer = val("parent's newer value");
    // Our entry became a history row on the parent; it skipped its bytes, so the row names our object.
    const m = mergeKey(
      { entry: entry(10, 3, mine), rows: [], dropped: 0 },
      { entry: entry(20, 8, newer, "p"), rows: [entry(10, 7, mine)], dropped: 0 },
      4,
    );
    expect(m.entry.value).toBe(newer);
    expect(m.rows[0].value).toBe(mine);
    expect(m.released).toEqual([]);
    // The same bytes as another object are a different value: released when the result does not name it.
    const copy = val("large value we hold");
    const m2 = mergeKey(
      { entry: entry(10, 3, copy), rows: [], dropped: 0 },
      { entry: entry(20, 8, newer, "p"), rows: [entry(10, 7, mine)], dropped: 0 },
      4,
    );
    expect(m2.released).toEqual([copy]);
  });

  test("merge - tombstones: a newer delete of the parent's wins over our value, a newer delete of ours goes up", () => {
    const ours = val("ours");
    const a = mergeKey({ entry: entry(10, 3, ours), rows: [], dropped: 0 }, { entry: entry(20, 8, null, "p"), rows: [], dropped: 0 }, 4);
    expect(a.entry.deleted).toBe(true);
    expect(a.released).toEqual([ours]);
    const p = val("p");
    const b = mergeKey({ entry: entry(30, 3, null, "o"), rows: [], dropped: 0 }, { entry: entry(20, 8, p, "p"), rows: [], dropped: 0 }, 4);
    expect(b.entry.deleted).toBe(true);
    expect(b.sendUp).toBe(true);
    expect(b.rows.map((e) => e.value)).toEqual([p]);
    expect(b.released).toEqual([]);
  });
});

describe("merge - keepOwn", () => {
  test("merge - a key only we hold is kept and sent up; its history (another tree's numbering) goes", () => {
    const cur = val("current");
    const rows = [val("r1"), val("r2")];
    const m = keepOwn({ entry: entry(50, 9, cur), rows: [entry(40, 8, rows[0]), entry(30, 7, rows[1]), entry(20, 6, cur), entry(10, 5, null)], dropped: 2 }, 40);
    expect(m.sendUp).toBe(true);
    expect(m.entry.value).toBe(cur);
    expect(m.rows).toEqual([]);
    // A resume from before the adopted revision is told its rows are gone.
    expect(m.dropped).toBe(40);
    // Released by identity: a row naming the entry's own value does not release it.
    expect(m.released).toEqual(rows);
    expect(keepOwn({ entry: entry(50, 9, cur), rows: [], dropped: 60 }, 40).dropped).toBe(60);
  });
});
