// One value path through a tree of real servers on loopback: no echo (a
// write's bytes never come back down the branch they went up, nor to a
// server that rejoins after writing during a split), and cut-through (a
// value is staged on the root while its writer is still sending, applied
// nowhere until whole, and a writer that vanishes half-way leaves no trace).

import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes, sameBytes, spawnClip, waitFor } from "../helpers/clip.ts";
import { type TreeNodeHandle, TreeFixture } from "../helpers/tree.ts";

const MiB = 1 << 20;

const fromParent = async (n: TreeNodeHandle) => Number((await n.status()).bytesFromParent ?? 0);
const revOf = async (n: TreeNodeHandle) => Number((await n.status()).rev);

/** Value files and staged uploads in a server's data folder. */
function blobs(n: TreeNodeHandle): string[] {
  const dir = join(n.data, "blobs");
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

/** The largest upload being staged (a `.part` file) in a server's blobs/, in bytes; 0 if none. */
function staging(n: TreeNodeHandle): number {
  let most = 0;
  for (const f of blobs(n)) {
    if (!f.endsWith(".part")) continue;
    try {
      most = Math.max(most, statSync(join(n.data, "blobs", f)).size);
    } catch {} // committed (renamed) between the listing and the stat
  }
  return most;
}

/**
 *        root
 *       /    \
 *      a      s
 *      |      |
 *      b      s2
 * b is a leaf at depth 2; s and s2 are the sibling branch.
 */
async function fiveServers(t: TreeFixture) {
  const root = await t.add({ name: "root" });
  const [a, s] = await Promise.all([t.add({ name: "a", connect: ["root"] }), t.add({ name: "s", connect: ["root"] })]);
  const [b, s2] = await Promise.all([t.add({ name: "b", connect: ["a"] }), t.add({ name: "s2", connect: ["s"] })]);
  return { root, a, s, b, s2, all: [root, a, s, b, s2] };
}

async function sameEverywhere(t: TreeFixture, servers: TreeNodeHandle[], r: number, value: Uint8Array): Promise<void> {
  await t.converged(r, (got) => got.length === value.length, 60_000, servers.map((n) => n.name));
  for (const n of servers) expect(sameBytes(await (await n.client()).paste(r), value)).toBe(true);
  await waitFor(async () => new Set(await Promise.all(servers.map(revOf))).size === 1, 15_000, "every server at the same revision");
}

describe("tree value path", () => {
  test("tree value path - no echo: a 64 MiB copy on a depth-2 leaf is not sent back down its branch; the sibling branch receives it whole", async () => {
    await using t = new TreeFixture();
    const { root, a, s, b, s2, all } = await fiveServers(t);
    const file = join(String(t.dir), "v64");
    const value = randomBytes(64 * MiB, 21);
    writeFileSync(file, value);
    const before = new Map(await Promise.all(all.map(async (n) => [n.name, await fromParent(n)] as const)));
    const copy = await b.run(["copy", "4", file]);
    expect(copy.stderr).toBe("");
    expect(copy.code).toBe(0);
    await sameEverywhere(t, all, 4, value);
    const grew = Object.fromEntries(await Promise.all(all.map(async (n) => [n.name, (await fromParent(n)) - before.get(n.name)!] as const)));
    console.log(`bytesFromParent grew by ${JSON.stringify(grew)} for a ${value.length}-byte copy on b`);
    // The writer's branch: (almost) nothing came down for it.
    expect(grew.b).toBeLessThan(64 << 10);
    expect(grew.a).toBeLessThan(64 << 10);
    // The other branch: all of it, once each.
    expect(grew.s).toBe(value.length);
    expect(grew.s2).toBe(value.length);
    expect(grew.root).toBe(0);
    for (const n of [root, a, b, s, s2]) expect(blobs(n).filter((f) => f.endsWith(".part"))).toEqual([]);
  }, 120_000);

  test("tree value path - a server that wrote during a split rejoins without receiving its own winner's bytes", async () => {
    await using t = new TreeFixture();
    const { root, a, s, b, s2, all } = await fiveServers(t);
    const base = randomBytes(8 * MiB, 22);
    expect((await root.client().then((c) => c.copy(4, base))).size).toBe(base.length);
    await sameEverywhere(t, all, 4, base);
    // b's parent goes away: b is the root of its own subtree and takes writes alone.
    await a.stop("SIGKILL");
    await waitFor(async () => (await b.status()).upstream !== "synced", 15_000, "b to notice the split");
    const ours = randomBytes(16 * MiB, 23);
    await (await b.client()).copy(7, ours);
    const theirs = randomBytes(1 * MiB, 24);
    await (await root.client()).copy(8, theirs);
    await sameEverywhere(t, [root, s, s2], 8, theirs);
    const before = { b: await fromParent(b), s: await fromParent(s), s2: await fromParent(s2) };
    await a.restart();
    await t.synced("a");
    await t.synced("b", 30_000);
    await sameEverywhere(t, all, 7, ours);
    await sameEverywhere(t, all, 8, theirs);
    const grew = { b: (await fromParent(b)) - before.b, s: (await fromParent(s)) - before.s, s2: (await fromParent(s2)) - before.s2 };
    console.log(`after the rejoin bytesFromParent grew by ${JSON.stringify(grew)} (b's own winner ${ours.length} bytes, the root's write ${theirs.length})`);
    // b took what it lacked (the root's 1 MiB) and neither its own 16 MiB nor the 8 MiB it held.
    expect(grew.b).toBeGreaterThanOrEqual(theirs.length);
    expect(grew.b).toBeLessThan(theirs.length + (64 << 10));
    // b's winner went up as an ordinary write: the other branch received it whole.
    expect(grew.s).toBe(ours.length);
    expect(grew.s2).toBe(ours.length);
  }, 120_000);

  test("tree value path - cut-through: a copy fed slowly on a depth-2 leaf is staged on the root before the writer finishes, applied nowhere until whole", async () => {
    await using t = new TreeFixture();
    const { root, b, all } = await fiveServers(t);
    const revBefore = await revOf(root);
    const value = randomBytes(32 * MiB, 25);
    await using w = spawnClip(["copy", "5", "--server", `unix:${b.socket}`], { stdin: "pipe" });
    const sink = w.proc.stdin as import("bun").FileSink;
    const step = 4 * MiB;
    sink.write(value.subarray(0, step));
    await sink.flush();
    // The first megabytes are on the root while the writer holds back the rest.
    await waitFor(() => staging(root) >= 2 * MiB, 30_000, "the root to stage the value's first megabytes");
    expect(w.proc.exitCode).toBe(null);
    for (const n of all) {
      expect((await (await n.client()).paste(5)).length).toBe(0);
      expect(await revOf(n)).toBe(revBefore);
    }
    // Fed step by step, the root's staged copy grows with it.
    let seen = staging(root);
    for (let off = step; off < value.length; off += step) {
      sink.write(value.subarray(off, off + step));
      await sink.flush();
      if (off + step < value.length) {
        await waitFor(() => staging(root) > seen, 30_000, `the root's stage to grow past ${seen} bytes`);
        seen = staging(root);
        expect(await revOf(root)).toBe(revBefore);
      }
    }
    sink.end();
    expect(await w.exited()).toBe(0);
    await sameEverywhere(t, all, 5, value);
    expect(await revOf(root)).toBe(revBefore + 1);
    for (const n of all) expect(blobs(n).filter((f) => f.endsWith(".part"))).toEqual([]);
  }, 120_000);

  test("tree value path - a writer killed half-way through a copy on a depth-2 leaf leaves no trace on any server", async () => {
    await using t = new TreeFixture();
    const { root, all } = await fiveServers(t);
    const b = t.get("b");
    const kept = randomBytes(200_000, 26);
    await (await root.client()).copy(6, kept);
    await sameEverywhere(t, all, 6, kept);
    const files = new Map(all.map((n) => [n.name, blobs(n)]));
    const revs = await Promise.all(all.map(revOf));
    await using w = spawnClip(["copy", "6", "--server", `unix:${b.socket}`], { stdin: "pipe" });
    const sink = w.proc.stdin as import("bun").FileSink;
    sink.write(randomBytes(6 * MiB, 27));
    await sink.flush();
    await waitFor(() => staging(root) >= 2 * MiB, 30_000, "the root to stage the first megabytes");
    // The writer vanishes: killed by its pid, in the middle of its upload.
    process.kill(w.proc.pid, "SIGKILL");
    await w.proc.exited;
    // Settled: no upload staged anywhere, the same files as before, the region and the order unchanged.
    for (const n of all) {
      await waitFor(() => blobs(n).join() === files.get(n.name)!.join(), 15_000, `${n.name}'s blobs/ to be as before (now ${blobs(n)})`);
    }
    for (const [i, n] of all.entries()) {
      expect(sameBytes(await (await n.client()).paste(6), kept)).toBe(true);
      expect(await revOf(n)).toBe(revs[i]);
    }
    // And the tree still works: a whole copy on the same leaf reaches everyone.
    await (await b.client()).copy(6, "after");
    await t.converged(6, (got) => new TextDecoder().decode(got) === "after");
  }, 120_000);

  test("tree value path - large writes in a row on a root with a disk queue files for a slow child, not bytes: the child is not dropped", async () => {
    await using t = new TreeFixture();
    const root = await t.add({ name: "root" });
    const child = await t.add({ name: "child", connect: ["root"] });
    // Each value alone is under the 128 MiB a child's queue may hold in memory; three behind one another are not.
    const values = [1, 2, 3].map((i) => randomBytes(80 * MiB, 40 + i));
    const files = values.map((v, i) => {
      const f = join(String(t.dir), `big${i}`);
      writeFileSync(f, v);
      return f;
    });
    // Copied at once, by path, on the root: all are applied there before the child has received the first.
    const copies = await Promise.all(files.map((f, i) => root.run(["copy", String(5 + i), f])));
    for (const c of copies) expect(c.stderr).toBe("");
    for (let i = 0; i < 3; i++) await sameEverywhere(t, [root, child], 5 + i, values[i]);
    expect(root.stderr()).not.toContain("child dropped");
    expect(child.stderr()).not.toContain("dropped by");
  }, 120_000);

  test("tree value path - a child with a smaller --max-size takes what its root ordered (and stays joined); it bounds only its own clients", async () => {
    await using t = new TreeFixture();
    const root = await t.add({ name: "root", args: ["--max-size", "10M"] });
    const child = await t.add({ name: "child", connect: ["root"], args: ["--max-size", "1M"] });
    const value = randomBytes(3 * MiB, 50);
    const file = join(String(t.dir), "v3");
    writeFileSync(file, value);
    expect((await root.run(["copy", "4", file])).code).toBe(0);
    await sameEverywhere(t, [root, child], 4, value);
    // Refusing it would have made the child leave and re-join for the same value, forever.
    expect(child.stderr()).not.toContain("lost parent");
    const own = await child.run(["copy", "5", file]);
    expect(own.code).toBe(1);
    expect(own.stderr).toContain("over the server's --max-size of 1048576 bytes");
  }, 60_000);
});
