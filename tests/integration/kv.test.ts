// SPEC "Groups and keys", the key side: put/get/del/list through the binary
// and the library; values from an argument or stdin, binary-safe; bad keys;
// env vars; per-action help.

import { describe, expect, test } from "bun:test";
import { connect } from "../../src/index.ts";
import { BIN, randomBytes, sameBytes, type ServerHandle, startServer } from "../helpers/clip.ts";

async function setup(s: ServerHandle, g = "app"): Promise<{ env: Record<string, string>; S: string }> {
  const r = await s.run(["group", "create", g]);
  expect(r.code).toBe(0);
  const S = r.text.trim();
  return { S, env: { CLIP_GROUP: g, CLIP_SECRET: S } };
}

describe("kv", () => {
  test("kv - put from an argument or stdin, get prints it exactly, del, missing key is exit 5", async () => {
    await using s = await startServer({ memory: true });
    const { env } = await setup(s);
    expect((await s.run(["kv", "put", "color", "blue"], { env })).code).toBe(0);
    const g = await s.run(["kv", "get", "color"], { env });
    expect(g.code).toBe(0);
    expect(g.text).toBe("blue");
    // cac must not turn numeric-looking values or keys into numbers.
    expect((await s.run(["kv", "put", "007", "0x10"], { env })).code).toBe(0);
    expect((await s.run(["kv", "get", "007"], { env })).text).toBe("0x10");
    expect((await s.run(["kv", "put", "piped"], { env, stdin: "line 1\nline 2\n" })).code).toBe(0);
    expect((await s.run(["kv", "get", "piped"], { env })).text).toBe("line 1\nline 2\n");
    expect((await s.run(["kv", "put", "empty", ""], { env })).code).toBe(0);
    const e = await s.run(["kv", "get", "empty"], { env });
    expect(e.code).toBe(0);
    expect(e.stdout.length).toBe(0);

    const missing = await s.run(["kv", "get", "nope"], { env });
    expect(missing.code).toBe(5);
    expect(missing.stderr).toBe('clip: no key "nope" in group "app"\n');
    expect((await s.run(["kv", "del", "color"], { env })).code).toBe(0);
    expect((await s.run(["kv", "get", "color"], { env })).code).toBe(5);
    const delAgain = await s.run(["kv", "del", "color"], { env });
    expect(delAgain.code).toBe(5);
    expect(delAgain.stderr).toMatch(/^clip: no key "color".*\n$/);
  });

  test("kv - values are binary-safe and streamed (3 MiB of random bytes through stdin)", async () => {
    await using s = await startServer({});
    const { env } = await setup(s);
    const big = randomBytes(3 << 20, 7);
    big[0] = 0;
    big[1] = 0xff;
    expect((await s.run(["kv", "put", "blob"], { env, stdin: big })).code).toBe(0);
    const g = await s.run(["kv", "get", "blob"], { env });
    expect(g.code).toBe(0);
    expect(sameBytes(g.stdout, big)).toBe(true);
    const list = JSON.parse((await s.run(["kv", "list", "--json"], { env })).text);
    expect(list).toEqual([expect.objectContaining({ key: "blob", size: big.length, by: "t" })]);
  });

  test("kv - list shows keys in order, under a prefix, as a table or JSON", async () => {
    await using s = await startServer({ memory: true });
    const { env } = await setup(s);
    for (const k of ["conf/b", "conf/a", "other", "conf/ü/x"]) expect((await s.run(["kv", "put", k, k.toUpperCase()], { env })).code).toBe(0);
    const all = JSON.parse((await s.run(["kv", "list", "--json"], { env })).text);
    expect(all.map((k: { key: string }) => k.key)).toEqual(["conf/a", "conf/b", "conf/ü/x", "other"]);
    const conf = JSON.parse((await s.run(["kv", "list", "conf/", "--json"], { env })).text);
    expect(conf.map((k: { key: string }) => k.key)).toEqual(["conf/a", "conf/b", "conf/ü/x"]);
    expect(conf[0]).toMatchObject({ size: 6, by: "t" });
    expect(typeof conf[0].at).toBe("number");
    const t = await s.run(["kv", "list"], { env });
    expect(t.text).toMatch(/^KEY\s+REV\s+SIZE\s+TYPE\s+WRITTEN\s+BY\n/);
    expect(t.text).toContain("conf/ü/x");
    // Groups do not see each other's keys.
    const other = await setup(s, "other");
    expect(JSON.parse((await s.run(["kv", "list", "--json"], { env: other.env })).text)).toEqual([]);
    expect((await s.run(["kv", "get", "other"], { env: other.env })).code).toBe(5);
  });

  test("kv - -g/--group and --secret flags, or CLIP_GROUP and CLIP_SECRET; flags win", async () => {
    await using s = await startServer({ memory: true });
    const a = await setup(s, "a");
    const b = await setup(s, "b");
    expect((await s.run(["kv", "put", "-g", "a", "--secret", a.S, "k", "in a"])).code).toBe(0);
    expect((await s.run(["kv", "put", "--group", "b", "--secret", b.S, "k", "in b"])).code).toBe(0);
    expect((await s.run(["kv", "get", "k"], { env: a.env })).text).toBe("in a");
    expect((await s.run(["kv", "get", "k", "-g", "b", "--secret", b.S], { env: a.env })).text).toBe("in b");
  });

  test("kv - bad keys and names are usage errors (exit 2), checked before anything is stored", async () => {
    await using s = await startServer({ memory: true });
    const { env, S } = await setup(s);
    const long = "k".repeat(1025);
    const r = await s.run(["kv", "put", long, "v"], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("clip: bad key: 1025 bytes, the limit is 1024 (see clip kv put --help)\n");
    // 1024 bytes of UTF-8 is fine, 1025 bytes made of 2-byte characters is not.
    expect((await s.run(["kv", "put", "k".repeat(1024), "v"], { env })).code).toBe(0);
    expect((await s.run(["kv", "put", "é".repeat(513), "v"], { env })).code).toBe(2);
    expect((await s.run(["kv", "put", "", "v"], { env })).code).toBe(2);
    // Bytes that are not UTF-8 on the command line.
    const raw = Bun.spawn(["sh", "-c", `"${BIN}" kv put "$(printf 'a\\377b')" v --server unix:${s.socket}`], { env: { ...process.env, ...env }, stderr: "pipe", stdout: "ignore" });
    expect(await raw.exited).toBe(2);
    expect(await new Response(raw.stderr).text()).toMatch(/^clip: bad key: not valid UTF-8.*\n$/);
    expect((await s.run(["kv", "get", "k", "-g", "bad/group", "--secret", S])).code).toBe(2);
    // Through the library, and straight at the server (which checks again): lone surrogates are not UTF-8.
    const c = await connect(`unix:${s.socket}`);
    try {
      const kv = await c.kv({ group: "app", secret: S });
      await expect(kv.put("bad\ud800", "v")).rejects.toMatchObject({ code: "USAGE" });
      await expect(c.call("kv.get", { group: "app", key: "bad\ud800" })).rejects.toMatchObject({ code: "USAGE" });
      await expect(c.upload("kv.put", { group: "app", key: "x".repeat(1025) }, "v")).rejects.toMatchObject({ code: "USAGE" });
      // A connection that did not prove the secret cannot use the group.
      const c2 = await connect(`unix:${s.socket}`);
      await expect(c2.call("kv.get", { group: "app", key: "k" })).rejects.toMatchObject({ code: "AUTH" });
      await expect(c2.upload("kv.put", { group: "app", key: "k" }, "v")).rejects.toMatchObject({ code: "AUTH" });
      c2.close();
      expect((await kv.list()).map((k) => k.key)).toEqual(["k".repeat(1024)]);
    } finally {
      c.close();
    }
  });

  test("kv - per-action help has an example; unknown actions and flags exit 2", async () => {
    await using s = await startServer({ memory: true });
    for (const action of ["put", "get", "del", "list", "watch"]) {
      const h = await s.run(["kv", action, "--help"]);
      expect(h.code).toBe(0);
      expect(h.text).toContain(`clip kv ${action} `);
      expect(h.text).toMatch(/Examples:\n.*clip kv/);
    }
    const u = await s.run(["kv", "frob"]);
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/^clip: unknown action "kv frob".*\n$/);
    const f = await s.run(["kv", "get", "k", "--frob"]);
    expect(f.code).toBe(2);
    expect(f.stderr.split("\n").length).toBe(2);
    expect((await s.run(["kv"])).code).toBe(2);
    expect((await s.run(["kv", "get"])).code).toBe(2);
  });

  test("kv - the library: put/get/del/list, NOTFOUND, values of any source", async () => {
    await using s = await startServer({ memory: true });
    const { S } = await setup(s);
    const c = await connect(`unix:${s.socket}`);
    try {
      const kv = await c.kv({ group: "app", secret: S });
      expect(kv.group).toBe("app");
      await kv.put("s", "text");
      await kv.put("b", new Uint8Array([0, 255, 10]));
      await kv.put("blob", new Blob(["from a blob"]));
      expect(await kv.getText("s")).toBe("text");
      expect([...(await kv.get("b"))]).toEqual([0, 255, 10]);
      expect(await kv.getText("blob")).toBe("from a blob");
      expect((await kv.list()).map((k) => k.key)).toEqual(["b", "blob", "s"]);
      expect((await kv.list("bl")).map((k) => k.key)).toEqual(["blob"]);
      const { rev } = await kv.del("s");
      expect(rev).toBeGreaterThan(0);
      await expect(kv.get("s")).rejects.toMatchObject({ code: "NOTFOUND" });
      await expect(kv.del("s")).rejects.toMatchObject({ code: "NOTFOUND" });
      // Concurrent requests on one connection.
      await Promise.all(Array.from({ length: 50 }, (_, i) => kv.put(`n${i}`, String(i))));
      const got = await Promise.all(Array.from({ length: 50 }, (_, i) => kv.getText(`n${i}`)));
      expect(got).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
    } finally {
      c.close();
    }
  });
});
