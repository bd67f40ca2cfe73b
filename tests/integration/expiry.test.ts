// SPEC "Expiry and conditional writes": --ttl removes a value on every
// server of the tree as one ordered write (same revision everywhere, an
// `expire` event for key watchers, no wake-up for a region's wait), with an
// absolute deadline that a restart does not extend; --if-rev writes only at
// the revision it names, decided at the root, so racing increments from
// three servers of one tree lose no update.

import { describe, expect, test } from "bun:test";
import { ClipError, connect } from "../../src/index.ts";
import { type ServerHandle, startServer, waitFor } from "../helpers/clip.ts";
import { TreeFixture } from "../helpers/tree.ts";

async function group(s: ServerHandle, g = "app"): Promise<{ env: Record<string, string>; secret: string }> {
  const r = await s.run(["group", "create", g]);
  expect(r.code).toBe(0);
  return { env: { CLIP_GROUP: g, CLIP_SECRET: r.text.trim() }, secret: r.text.trim() };
}

describe("expiry", () => {
  test("expiry - a value with --ttl is removed on every server at the same revision; key watchers see expire; a wait does not wake", async () => {
    await using t = new TreeFixture();
    const root = await t.add({ name: "R", memory: true });
    const child = await t.add({ name: "C", connect: ["R"], memory: true });
    const { env } = await group(root);
    await waitFor(async () => (await child.run(["group", "list", "--json"])).text.includes('"app"'), 5000, "the group on C");
    const before = Date.now();
    expect((await child.run(["copy", "0", "--ttl", "2"], { stdin: "p4ssw0rd" })).code).toBe(0);
    const listed = JSON.parse((await root.run(["list", "--json"])).text)[0];
    expect(Date.parse(listed.expires)).toBeGreaterThanOrEqual(before + 2000);
    expect(Date.parse(listed.expires)).toBeLessThan(Date.now() + 2000);
    // A wait on the region is not woken by the expiry.
    const waiting = root.run(["wait", "0", "--timeout", "4"]);
    // From the revision before the put: the watch sees it even if it subscribes after it (no fixed sleep).
    const since = String((await child.status()).rev);
    const watch = child.run(["kv", "watch", "k", "--json", "--count", "2", "--timeout", "10", "--since", since], { env });
    expect((await root.run(["kv", "put", "k", "v", "--ttl", "1s"], { env })).code).toBe(0);
    const events = (await watch).text.trim().split("\n").map((l) => JSON.parse(l));
    expect(events.map((e) => e.event)).toEqual(["put", "expire"]);
    expect(events[1]).toMatchObject({ key: "k" });
    expect(events[1].value).toBeUndefined();
    expect((await waiting).code).toBe(124);
    for (const n of [root, child]) {
      expect((await n.run(["paste", "0"])).stdout.length).toBe(0);
      expect((await n.run(["kv", "get", "k"], { env })).code).toBe(5);
    }
    // The same write, at the same place in the order, on both.
    const h = async (n: ServerHandle) => JSON.parse((await n.run(["history", "0", "--json"])).text);
    expect((await h(root))[0]).toMatchObject({ event: "expire" });
    expect(await h(child)).toEqual(await h(root));
    expect((await child.status()).rev).toBe((await root.status()).rev);
  });

  test("expiry - the deadline is absolute: a restart does not extend it", async () => {
    await using s = await startServer();
    expect((await s.run(["copy", "1", "--ttl", "3s"], { stdin: "short-lived" })).code).toBe(0);
    const deadline = Date.parse(JSON.parse((await s.run(["list", "--json"])).text)[1].expires);
    await s.stop("SIGKILL");
    await using again = await startServer({ data: s.data, dir: s.dir });
    expect((await again.run(["paste", "1"])).text).toBe("short-lived");
    await waitFor(async () => (await again.run(["paste", "1"])).stdout.length === 0, 8000, "the expiry after the restart");
    // Gone at the deadline, not 3 s after the restart.
    expect(Date.now()).toBeLessThan(deadline + 1500);
  });
});

describe("conditional writes", () => {
  test("conditional - --if-rev writes only at that revision; otherwise exit 6 and nothing changes", async () => {
    await using s = await startServer({ memory: true });
    const { env, secret } = await group(s);
    const first = JSON.parse((await s.run(["copy", "2", "--if-rev", "0", "--json"], { stdin: "first" })).text);
    const again = await s.run(["copy", "2", "--if-rev", "0"], { stdin: "second" });
    expect(again.code).toBe(6);
    expect(again.stderr).toBe(`clip: region 2 is at revision ${first.rev}, not 0\n`);
    expect((await s.run(["copy", "2", "--if-rev", String(first.rev)], { stdin: "third" })).code).toBe(0);
    expect((await s.run(["paste", "2"])).text).toBe("third");
    const put = JSON.parse((await s.run(["kv", "put", "n", "1", "--json"], { env })).text);
    const stale = await s.run(["kv", "put", "n", "2", "--if-rev", String(put.rev - 1)], { env });
    expect(stale.code).toBe(6);
    expect(stale.stderr).toBe(`clip: n is at revision ${put.rev}, not ${put.rev - 1}\n`);
    expect((await s.run(["kv", "get", "n"], { env })).text).toBe("1");
    // The library: a typed error carrying the current revision.
    const c = await connect({ server: s.socket });
    const kv = await c.kv({ group: "app", secret });
    const err = await kv.put("n", "3", { ifRev: 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(ClipError);
    expect(err).toMatchObject({ code: "CONDITION", rev: put.rev });
    c.close();
  });

  test("conditional - increments racing from three servers of one tree lose no update", async () => {
    await using t = new TreeFixture();
    const root = await t.add({ name: "R", memory: true });
    await t.add({ name: "A", connect: ["R"], memory: true });
    await t.add({ name: "B", connect: ["A"], memory: true });
    const { secret } = await group(root);
    await waitFor(async () => (await t.get("B").run(["group", "list", "--json"])).text.includes('"app"'), 5000, "the group on B");
    const PER = 25;
    let conflicts = 0;
    const worker = async (name: string) => {
      const c = await connect({ server: t.get(name).socket });
      const kv = await c.kv({ group: "app", secret });
      for (let done = 0; done < PER; ) {
        let n = 0;
        let rev = 0;
        try {
          const cur = await kv.read("counter");
          n = Number(new TextDecoder().decode(cur.value));
          rev = cur.rev;
        } catch (e) {
          if (!(e instanceof ClipError && e.code === "NOTFOUND")) throw e;
        }
        try {
          await kv.put("counter", String(n + 1), { ifRev: rev });
          done++;
        } catch (e) {
          if (!(e instanceof ClipError && e.code === "CONDITION")) throw e;
          conflicts++;
        }
      }
      c.close();
    };
    await Promise.all(["R", "A", "B"].map(worker));
    for (const name of ["R", "A", "B"]) {
      const c = await connect({ server: t.get(name).socket });
      const kv = await c.kv({ group: "app", secret });
      await waitFor(async () => (await kv.getText("counter")) === String(3 * PER), 5000, `the count on ${name}`);
      c.close();
    }
    // They did race (else this proves nothing about the check).
    expect(conflicts).toBeGreaterThan(0);
  }, 60_000);
});
