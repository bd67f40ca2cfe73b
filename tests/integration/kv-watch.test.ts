// SPEC "Groups and keys", watch: every change of a watched key reaches every
// watcher, in order, through the binary (plain, --json, --exec, --count,
// --timeout) and the library (async iterator); 100 watchers across a tree
// of 3 servers see 50 changes each, in order.

import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, type Client, type KvEvent } from "../../src/index.ts";
import { type ServerHandle, randomBytes, spawnClip, startServer, tcpAddressOf, tempDir, waitFor } from "../helpers/clip.ts";

async function setup(s: ServerHandle, g = "app"): Promise<{ env: Record<string, string>; S: string }> {
  const r = await s.run(["group", "create", g]);
  expect(r.code).toBe(0);
  const S = r.text.trim();
  return { S, env: { CLIP_GROUP: g, CLIP_SECRET: S } };
}

async function watchers(s: ServerHandle, gk: string): Promise<number> {
  const c = await connect(`unix:${s.socket}`);
  try {
    return (await c.apps()).apps.filter((a) => a.watches.includes(gk)).length;
  } finally {
    c.close();
  }
}

const until = (s: ServerHandle, gk: string, n = 1) => waitFor(async () => (await watchers(s, gk)) >= n, 10_000, `${n} watcher(s) of ${gk}`);

describe("kv watch", () => {
  test("kv watch - reports every later put and del in order, plain; the key need not exist yet", async () => {
    await using s = await startServer({ memory: true });
    const { env } = await setup(s);
    await using w = spawnClip(["kv", "watch", "later", "--count", "4", "--server", `unix:${s.socket}`], { env });
    await until(s, "app/later");
    for (const v of ["one", "two"]) expect((await s.run(["kv", "put", "later", v], { env })).code).toBe(0);
    expect((await s.run(["kv", "put", "unwatched", "x"], { env })).code).toBe(0);
    expect((await s.run(["kv", "del", "later"], { env })).code).toBe(0);
    expect((await s.run(["kv", "put", "later", "three"], { env })).code).toBe(0);
    expect(await w.exited()).toBe(0);
    expect(w.text()).toBe("put later one\nput later two\ndel later\nput later three\n");
  });

  test("kv watch - --json gives one object per change, UTF-8 text or base64 (and says which)", async () => {
    await using s = await startServer({ memory: true });
    const { env } = await setup(s);
    await using w = spawnClip(["kv", "watch", "k", "--json", "--count", "3", "--server", `unix:${s.socket}`], { env });
    await until(s, "app/k");
    expect((await s.run(["kv", "put", "k", "héllo\n"], { env })).code).toBe(0);
    expect((await s.run(["kv", "put", "k"], { env, stdin: new Uint8Array([0xff, 0xfe, 0]) })).code).toBe(0);
    expect((await s.run(["kv", "del", "k"], { env })).code).toBe(0);
    expect(await w.exited()).toBe(0);
    const lines = w.text().trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ event: "put", group: "app", key: "k", value: "héllo\n", encoding: "utf8", size: 7, by: "t" });
    expect(lines[1]).toMatchObject({ event: "put", key: "k", value: Buffer.from([0xff, 0xfe, 0]).toString("base64"), encoding: "base64", size: 3 });
    expect(lines[2]).toMatchObject({ event: "del", key: "k" });
    expect(lines[2].value).toBeUndefined();
    expect(lines[0].rev).toBeLessThan(lines[1].rev);
    expect(lines[1].rev).toBeLessThan(lines[2].rev);
  });

  test("kv watch - --timeout: exit 124 when nothing changed, 0 when something did", async () => {
    await using s = await startServer({ memory: true });
    const { env } = await setup(s);
    const quiet = await s.run(["kv", "watch", "k", "--timeout", "0.3"], { env });
    expect(quiet.code).toBe(124);
    expect(quiet.stderr).toMatch(/^clip: no change of "k" within 0.3 s\n$/);
    await using w = spawnClip(["kv", "watch", "k", "--timeout", "1.5", "--server", `unix:${s.socket}`], { env });
    await until(s, "app/k");
    expect((await s.run(["kv", "put", "k", "v"], { env })).code).toBe(0);
    expect(await w.exited()).toBe(0);
    expect(w.text()).toBe("put k v\n");
    expect((await s.run(["kv", "watch", "k", "--count", "0"], { env })).code).toBe(2);
    expect((await s.run(["kv", "watch", "k", "--timeout", "soon"], { env })).code).toBe(2);
  });

  test("kv watch - --exec runs once per change, in order, value on stdin, CLIP_KEY and CLIP_EVENT set", async () => {
    await using s = await startServer({ memory: true });
    const { env } = await setup(s);
    using d = tempDir();
    const log = join(String(d), "log");
    writeFileSync(log, "");
    // Each run appends one line; a short sleep makes overlapping runs visible as interleaving.
    const cmd = `v=$(cat); sleep 0.02; printf '%s %s %s|' "$CLIP_EVENT" "$CLIP_KEY" "$v" >> ${log}`;
    await using w = spawnClip(["kv", "watch", "k", "--exec", cmd, "--count", "6", "--server", `unix:${s.socket}`], { env });
    await until(s, "app/k");
    const c = await connect(`unix:${s.socket}`);
    try {
      const kv = await c.kv({ group: "app", secret: env.CLIP_SECRET });
      // Written back to back without waiting for the watcher: the runs must still be one per change, in order.
      for (let i = 1; i <= 5; i++) await kv.put("k", `v${i}`);
      await kv.del("k");
    } finally {
      c.close();
    }
    expect(await w.exited()).toBe(0);
    expect(readFileSync(log, "utf8")).toBe("put k v1|put k v2|put k v3|put k v4|put k v5|del k |");
  });

  test("kv watch - an --exec command that fails or hangs is reported and the watch goes on", async () => {
    await using s = await startServer({ memory: true });
    const { env } = await setup(s);
    using d = tempDir();
    const log = join(String(d), "log");
    writeFileSync(log, "");
    const cmd = `v=$(cat); echo "$v" >> ${log}; case "$v" in fail) exit 3;; hang) sleep 30;; esac`;
    await using w = spawnClip(["kv", "watch", "k", "--exec", cmd, "--exec-timeout", "0.5", "--count", "3", "--server", `unix:${s.socket}`], { env });
    await until(s, "app/k");
    for (const v of ["fail", "hang", "ok"]) expect((await s.run(["kv", "put", "k", v], { env })).code).toBe(0);
    expect(await w.exited()).toBe(0);
    expect(readFileSync(log, "utf8")).toBe("fail\nhang\nok\n");
    const err = w.stderr().trimEnd().split("\n");
    expect(err).toHaveLength(2);
    expect(err[0]).toBe('clip: --exec command exited with status 3 on change 1 (put "k"); still watching');
    expect(err[1]).toBe('clip: --exec command still running after 0.5 s on change 2 (put "k"): killed it; still watching');
  });

  test("kv watch - the library: an async iterator; breaking out unsubscribes", async () => {
    await using s = await startServer({ memory: true });
    const { S } = await setup(s);
    const c = await connect(`unix:${s.socket}`);
    const w2 = await connect(`unix:${s.socket}`);
    try {
      const kv = await c.kv({ group: "app", secret: S });
      const kv2 = await w2.kv({ group: "app", secret: S });
      const watch = kv2.watch("k");
      await watch.ready;
      expect(await watchers(s, "app/k")).toBe(1);
      const seen: KvEvent[] = [];
      const reading = (async () => {
        for await (const e of watch) {
          seen.push(e);
          if (seen.length === 3) break;
        }
      })();
      await kv.put("k", "a");
      await kv.put("k", new Uint8Array([1, 2]));
      await kv.del("k");
      await reading;
      expect(seen.map((e) => e.event)).toEqual(["put", "put", "del"]);
      expect(new TextDecoder().decode((seen[0] as Extract<KvEvent, { event: "put" }>).value)).toBe("a");
      expect([...(seen[1] as Extract<KvEvent, { event: "put" }>).value]).toEqual([1, 2]);
      await waitFor(async () => (await watchers(s, "app/k")) === 0, 10_000, "the watch to be gone after break");
      // The connection is still usable after the break.
      await kv2.put("k", "still here");
      expect(await kv.getText("k")).toBe("still here");
    } finally {
      c.close();
      w2.close();
    }
  });

  test("kv watch - a watcher that does not read is held back, then cut off by its server (SLOW), not buffered without end", async () => {
    await using s = await startServer({ memory: true });
    const { S } = await setup(s);
    const c = await connect(`unix:${s.socket}`);
    const w = await connect(`unix:${s.socket}`);
    try {
      const kv = await c.kv({ group: "app", secret: S });
      const watch = kv.watch("k", { maxQueued: 10 });
      await watch.ready;
      // 50 MiB of changes nobody reads: the client holds 10 and stops reading its socket,
      // the server queues a bounded amount for it, then ends the watch.
      const writer = await w.kv({ group: "app", secret: S });
      const big = (i: number) => new Uint8Array(256 << 10).fill(i);
      for (let i = 0; i < 200; i++) await writer.put("k", big(i));
      const before = Number(/VmRSS:\s+(\d+)/.exec(require("node:fs").readFileSync(`/proc/${s.pid}/status`, "utf8"))![1]);
      const got: number[] = [];
      const err = await (async () => {
        try {
          for await (const e of watch) if (e.event === "put") got.push(e.value[0]);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toMatchObject({ code: "SLOW" });
      // What was queued before the cut is delivered first, in order, none skipped.
      expect(got).toEqual(Array.from({ length: got.length }, (_, i) => i));
      expect(got.length).toBeGreaterThanOrEqual(10);
      expect(got.length).toBeLessThan(200);
      // The server held a bounded amount, not the 50 MiB.
      expect(before).toBeLessThan(250 * 1024);
    } finally {
      c.close();
      w.close();
    }
  });

  test("kv watch - a value longer than one frame arrives whole, in order with the small changes around it", async () => {
    await using s = await startServer({ memory: true });
    const { S } = await setup(s);
    const c = await connect(`unix:${s.socket}`);
    try {
      const kv = await c.kv({ group: "app", secret: S });
      const watch = kv.watch("k");
      await watch.ready;
      const big = randomBytes(3 * 1024 * 1024 + 5);
      const writes: (string | Uint8Array)[] = ["a", "b", big, "c", "d", big, "e"];
      for (const v of writes) await kv.put("k", v);
      const got: Uint8Array[] = [];
      for await (const e of watch) {
        if (e.event === "put") got.push(e.value);
        if (got.length === writes.length) break;
      }
      const want = writes.map((v) => (typeof v === "string" ? new TextEncoder().encode(v) : v));
      expect(got.map((v) => v.length)).toEqual(want.map((v) => v.length));
      for (let i = 0; i < want.length; i++) expect(Buffer.compare(got[i], want[i])).toBe(0);
    } finally {
      c.close();
    }
  });

  test("kv watch - 100 watchers spread over a tree of 3 servers each see all 50 changes, in order", async () => {
    using d = tempDir();
    const tokenFile = join(String(d), "token");
    writeFileSync(tokenFile, "tree-token-0123456789\n");
    await using root = await startServer({ memory: true, name: "root", args: ["--listen", "tcp:127.0.0.1:0", "--token-file", tokenFile] });
    const addr = tcpAddressOf(root);
    await using b = await startServer({ memory: true, name: "b", args: ["--connect", addr, "--token-file", tokenFile] });
    await using c3 = await startServer({ memory: true, name: "c", args: ["--connect", addr, "--token-file", tokenFile] });
    const servers = [root, b, c3];
    const { S } = await setup(root);
    // The group reaches every server; each can then authenticate its own applications.
    for (const s of servers) await waitFor(async () => (await s.run(["group", "list", "--json"])).text.includes('"app"'), 10_000, `the group on ${s.socket}`);

    const clients: Client[] = [];
    try {
      const watches = [];
      for (let i = 0; i < 100; i++) {
        const c = await connect(`unix:${servers[i % 3].socket}`);
        clients.push(c);
        const kv = await c.kv({ group: "app", secret: S });
        watches.push(kv.watch("counter"));
      }
      await Promise.all(watches.map((w) => w.ready));
      const results = watches.map(async (w) => {
        const got: string[] = [];
        for await (const e of w) {
          got.push(e.event === "put" ? new TextDecoder().decode(e.value) : "del");
          if (got.length === 50) break;
        }
        return got;
      });
      // Writers on every server: each write goes to the root, which orders it for everyone.
      const writers = await Promise.all(
        servers.map(async (s) => {
          const c = await connect(`unix:${s.socket}`);
          clients.push(c);
          return c.kv({ group: "app", secret: S });
        }),
      );
      const expected: string[] = [];
      for (let i = 0; i < 50; i++) {
        const v = i === 25 ? "del" : String(i);
        if (i === 25) await writers[i % 3].del("counter");
        else await writers[i % 3].put("counter", v);
        expected.push(v);
      }
      const all = await Promise.all(results);
      for (const got of all) expect(got).toEqual(expected);
    } finally {
      for (const c of clients) c.close();
    }
  });
});
