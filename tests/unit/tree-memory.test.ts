// Servers joined into a tree in process (tree/tree.ts attachTree with each
// child's link an in-memory pair its parent accepts): a write on a leaf
// reaches every server, byte-exact and at the same revision, and its bytes
// never come back down the branch it went up (no echo); a server that wrote
// during a split rejoins without being sent its own winners.

import { afterEach, describe, expect, test } from "bun:test";
import { randomBytes, sameBytes } from "../helpers/clip.ts";
import { type MemoryServer, memoryServer, stopAll, until } from "../helpers/memory.ts";

afterEach(stopAll);

const down = (s: MemoryServer) => s.tree!.up.bytesDown;

/** root ─┬─ a ── b      (b: a leaf at depth 2)
 *        └─ s           (s: a sibling branch) */
async function tree() {
  const root = memoryServer({ name: "root", token: "t", tree: true });
  const a = memoryServer({ name: "a", token: "t", parents: [root] });
  const b = memoryServer({ name: "b", token: "t", parents: [a] });
  const s = memoryServer({ name: "s", token: "t", parents: [root] });
  await until(() => [a, b, s].every((x) => x.tree!.up.state === "synced"), 5000, "the tree to form");
  return { root, a, b, s, all: [root, a, b, s] };
}

async function converged(servers: MemoryServer[], r: number, value: Uint8Array): Promise<void> {
  for (const x of servers) {
    await until(() => x.node.store.get(`r/${r}`)?.value?.size === value.length, 5000, `region ${r} on ${x.node.name}`);
    expect(sameBytes(await (await x.client()).paste(r), value)).toBe(true);
  }
  const revs = servers.map((x) => x.node.store.rev);
  expect(new Set(revs).size).toBe(1);
}

describe("tree in process", () => {
  test("tree memory - a copy on a depth-2 leaf reaches every server; its branch gets none of its bytes back, the sibling branch gets them all", async () => {
    const { root, a, b, s, all } = await tree();
    const value = randomBytes(3 << 20, 11);
    const before = all.map((x) => (x === root ? 0 : down(x)));
    const r = await (await b.client()).copy(4, value);
    // Applied on the leaf when copy returns.
    expect(b.node.store.get("r/4")?.rev).toBe(r.rev);
    await converged(all, 4, value);
    expect(root.node.store.rev).toBe(r.rev);
    expect(down(b) - before[2]).toBe(0);
    expect(down(a) - before[1]).toBe(0);
    expect(down(s) - before[3]).toBe(value.length);
    // And from the sibling: the leaf's branch receives it whole, the sibling none of it back.
    const other = randomBytes(1 << 20, 12);
    const mark = [down(a), down(b), down(s)];
    await (await s.client()).copy(5, other);
    await converged(all, 5, other);
    expect([down(a) - mark[0], down(b) - mark[1], down(s) - mark[2]]).toEqual([other.length, other.length, 0]);
  });

  test("tree memory - kv written on one branch is watched on the other", async () => {
    const { b, s, all } = await tree();
    const secret = await (await s.client()).groups.create("team");
    await until(() => b.node.store.get("g/team") !== undefined, 5000, "the group to reach b");
    const kvb = await (await b.client()).kv({ group: "team", secret });
    const watch = kvb.watch("k");
    await watch.ready;
    const kvs = await (await s.client()).kv({ group: "team", secret });
    const put = await kvs.put("k", "from s");
    const first = await watch.next();
    expect(first.value).toMatchObject({ event: "put", key: "k", rev: put.rev });
    expect(new TextDecoder().decode((first.value as { value: Uint8Array }).value)).toBe("from s");
    watch.close();
    await until(() => all.every((x) => x.node.store.rev === put.rev), 5000, "every server at the put's revision");
  });

  test("tree memory - a server that wrote during a split rejoins: its winner goes up, and none of its bytes come back to it", async () => {
    const { root, a, b, s, all } = await tree();
    const base = randomBytes(3 << 20, 13);
    await (await b.client()).copy(4, base);
    await converged(all, 4, base);
    // b loses its parent and cannot reach it for a while: it is the root of its own subtree.
    a.reachable = false;
    b.cutParentLinks();
    await until(() => b.tree!.up.state !== "synced", 5000, "b to notice the split");
    const ours = randomBytes(2 << 20, 14);
    await (await b.client()).copy(7, ours);
    expect(root.node.store.get("r/7")).toBeUndefined();
    const theirs = randomBytes(512 << 10, 15);
    await (await root.client()).copy(8, theirs);
    await converged([root, a, s], 8, theirs);
    const mark = { a: down(a), b: down(b), s: down(s) };
    a.reachable = true;
    await converged(all, 7, ours);
    await converged(all, 8, theirs);
    // b took only what it lacked (region 8); its own region 7 and the region 4 it held were not sent to it.
    expect(down(b) - mark.b).toBe(theirs.length);
    // a had region 8 already; region 7 went up through it and came back held.
    expect(down(a) - mark.a).toBe(0);
    expect(down(s) - mark.s).toBe(ours.length);
    expect(b.tree!.up.state).toBe("synced");
  }, 30_000);
});
