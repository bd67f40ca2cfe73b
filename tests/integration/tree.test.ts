// The tree with real servers on loopback ports: join by snapshot, one order
// for every write, convergence of concurrent writers, status and tree.

import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { randomBytes, sameBytes, waitFor } from "../helpers/clip.ts";
import { TreeFixture } from "../helpers/tree.ts";
import { startServer as startInProcess, type RunningServer } from "../../src/server/serve.ts";
import { silentLogger } from "../../src/server/log.ts";

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

describe("tree", () => {
  test("tree - a joining server takes a snapshot of everything, large values streamed", async () => {
    await using t = new TreeFixture();
    const root = await t.add({ name: "root" });
    const big = randomBytes(3 * 1024 * 1024 + 17, 7); // several frames, a file on disk
    const rc = await root.client();
    await rc.copy(0, big);
    await rc.copy(1, "one");
    await rc.copy(2, new Uint8Array(0));
    // Groups and keys are entries too: they travel the same way.
    expect((await root.run(["group", "create", "g1"])).code).toBe(0);
    await t.add({ name: "child", connect: ["root"] });
    const cc = await t.get("child").client();
    expect(sameBytes(await cc.paste(0), big)).toBe(true);
    expect(str(await cc.paste(1))).toBe("one");
    expect((await cc.paste(2)).length).toBe(0);
    const groups = await t.get("child").run(["group", "list", "--json"]);
    expect(groups.text).toContain("g1");
    const st = await t.get("child").status();
    expect(st.role).toBe("child");
    expect((st.parent as { name: string }).name).toBe("root");
    expect(st.rev).toBe((await root.status()).rev);
    expect(root.stderr()).toMatch(/child joined: child/);
  });

  test("tree - a region larger than the per-child queue bound (130 MiB) goes through a snapshot, streamed", async () => {
    await using t = new TreeFixture();
    const root = await t.add({ name: "root" });
    const file = join(String(t.dir), "big");
    const big = randomBytes(130 << 20, 11);
    await Bun.write(file, big);
    expect((await root.run(["copy", "0", file])).code).toBe(0);
    await t.add({ name: "child", connect: ["root"] });
    const got = await (await t.get("child").client()).paste(0);
    expect(sameBytes(got, big)).toBe(true);
    expect(root.stderr()).not.toMatch(/child dropped/);
  });

  test("tree - a write on a leaf is seen byte-exact on every server (chains and fans)", async () => {
    await using t = new TreeFixture();
    //        R
    //      /   \
    //     A     D
    //     |     |
    //     B     E
    //     |
    //     C
    await t.add({ name: "R", memory: true });
    await Promise.all([t.add({ name: "A", connect: ["R"], memory: true }), t.add({ name: "D", connect: ["R"], memory: true })]);
    await Promise.all([t.add({ name: "B", connect: ["A"], memory: true }), t.add({ name: "E", connect: ["D"], memory: true })]);
    await t.add({ name: "C", connect: ["B"], memory: true });
    const value = randomBytes(1_500_000, 3);
    const c = t.get("C");
    await (await c.client()).copy(4, value);
    // copy returns once the write came back down to C: a paste there sees it at once.
    expect(sameBytes(await (await c.client()).paste(4), value)).toBe(true);
    await t.converged(4, (b) => sameBytes(b, value));
    // And from the root down to the deepest leaf, through the CLI.
    expect((await t.get("R").run(["copy", "5"], { stdin: "from the root" })).code).toBe(0);
    await t.converged(5, (b) => str(b) === "from the root");
    // Every server applied the same writes in the same order: same sequence number.
    const revs = await Promise.all([...t.nodes.values()].map(async (n) => (await n.status()).rev));
    expect(new Set(revs).size).toBe(1);

    // status and tree from a leaf.
    const st = await c.status();
    expect(st.role).toBe("child");
    expect((st.parent as { name: string }).name).toBe("B");
    expect(st.lag).toBe(0);
    const a = await t.get("A").status();
    expect((a.children as { name: string }[]).map((x) => x.name)).toEqual(["B"]);
    await waitFor(async () => {
      const r = await c.run(["tree", "--json"]);
      const tree = JSON.parse(r.text);
      const names: string[] = [];
      const walk = (n: { name: string; role: string; children?: unknown[] }) => {
        names.push(`${n.name}:${n.role}`);
        for (const k of n.children ?? []) walk(k as typeof n);
      };
      walk(tree.root);
      return tree.self === st.id && names.sort().join() === "A:child,B:child,C:child,D:child,E:child,R:root";
    }, 10_000, "clip tree to show all six servers");
    const drawn = await t.get("E").run(["tree"]);
    expect(drawn.code).toBe(0);
    expect(drawn.text).toMatch(/^R  root/);
    expect(drawn.text).toMatch(/ {3}└─ C {2}child/);
    expect(drawn.text).toContain("E *");
  });

  test("tree - 20 concurrent writers spread over the tree to one region converge", async () => {
    await using t = new TreeFixture();
    await t.add({ name: "R", memory: true });
    await Promise.all([t.add({ name: "A", connect: ["R"], memory: true }), t.add({ name: "B", connect: ["R"], memory: true })]);
    await Promise.all([t.add({ name: "A1", connect: ["A"], memory: true }), t.add({ name: "B1", connect: ["B"], memory: true })]);
    const names = [...t.nodes.keys()];
    const writes = Array.from({ length: 20 }, (_, i) => `writer ${i} on ${names[i % names.length]}`);
    const acks = await Promise.all(
      writes.map(async (w, i) => {
        const n = t.get(names[i % names.length]);
        return (await n.client()).copy(7, w);
      }),
    );
    expect(acks.length).toBe(20);
    // Everyone ends with the same bytes, one of the 20.
    let final = "";
    await waitFor(async () => {
      const got = await Promise.all(names.map(async (n) => str(await (await t.get(n).client()).paste(7))));
      final = got[0];
      return got.every((g) => g === got[0]) && writes.includes(got[0]);
    }, 15_000, "the 20 writes to converge");
    expect(writes).toContain(final);
    const revs = await Promise.all(names.map(async (n) => (await t.get(n).status()).rev));
    await waitFor(async () => {
      const s = await Promise.all(names.map(async (n) => (await t.get(n).status()).rev));
      return new Set(s).size === 1;
    }, 10_000, "the same sequence number everywhere");
    expect(revs.length).toBe(5);
  });

  test("tree - bus messages (chat) go through the root and reach every server once, in one order", async () => {
    // In-process servers: the bus is an API (node.publish/subscribe), not a command.
    await using dir = (await import("../helpers/clip.ts")).tempDir("cb");
    const servers: RunningServer[] = [];
    try {
      const start = async (name: string, connect: string[]) => {
        const s = await startInProcess({ socket: `${dir}/${name}.sock`, listen: ["tcp:127.0.0.1:0"], connect, token: "bus-token", dataDir: null, maxSize: 1 << 20, name, log: silentLogger });
        servers.push(s);
        return s;
      };
      const addr = (s: RunningServer) => `127.0.0.1:${(s.addresses[1] as { port: number }).port}`;
      const r = await start("R", []);
      const a = await start("A", [addr(r)]);
      await waitFor(() => a.node.status().upstream === "synced", 10_000, "A to join");
      const b = await start("B", [addr(a)]);
      await waitFor(() => b.node.status().upstream === "synced", 10_000, "B to join");
      const got = new Map<string, string[]>();
      for (const s of servers) {
        got.set(s.node.name, []);
        s.node.subscribe("room", (m) => got.get(s.node.name)!.push(String(m.text)));
      }
      // Published from every server at once: each server sees each message once, all in the same order.
      for (let i = 0; i < 10; i++) for (const s of servers) s.node.publish("room", { text: `${s.node.name}${i}` });
      await waitFor(() => [...got.values()].every((l) => l.length === 30), 10_000, "30 messages everywhere");
      const orders = [...got.values()].map((l) => l.join());
      expect(new Set(orders).size).toBe(1);
    } finally {
      for (const s of servers.reverse()) await s.stop();
    }
  });
});
