// SPEC "Types, revisions and history": media types recognised or given and
// shown everywhere, the last N values of each region and key (--rev,
// --back, history), kept across kill -9 and carried by a joining server's
// snapshot; and the usage errors of the new flags.

import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../../src/index.ts";
import { randomBytes, sameBytes, type ServerHandle, startServer, waitFor } from "../helpers/clip.ts";
import { TreeFixture } from "../helpers/tree.ts";

const PNG = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

async function group(s: ServerHandle, g = "app"): Promise<Record<string, string>> {
  const r = await s.run(["group", "create", g]);
  expect(r.code).toBe(0);
  return { CLIP_GROUP: g, CLIP_SECRET: r.text.trim() };
}

describe("history", () => {
  test("history - media types are recognised from the first bytes or given, and shown by list, history and --json", async () => {
    await using s = await startServer({ memory: true });
    const env = await group(s);
    expect((await s.run(["copy", "1"], { stdin: PNG })).code).toBe(0);
    expect((await s.run(["copy", "2"], { stdin: "héllo\n" })).code).toBe(0);
    expect((await s.run(["copy", "3"], { stdin: randomBytes(5000, 2) })).code).toBe(0);
    expect((await s.run(["copy", "4", "--type", "application/json"], { stdin: '{"a":1}' })).code).toBe(0);
    const list = JSON.parse((await s.run(["list", "--json"])).text);
    expect(list.slice(1, 5).map((r: { type: string }) => r.type)).toEqual(["image/png", "text/plain;charset=utf-8", "application/octet-stream", "application/json"]);
    // The bytes are still the bytes: paste writes them alone.
    expect(sameBytes((await s.run(["paste", "1"])).stdout, PNG)).toBe(true);
    expect((await s.run(["list"])).text).toMatch(/^1 +16 +image\/png /m);
    const hist = JSON.parse((await s.run(["history", "4", "--json"])).text);
    expect(hist[0]).toMatchObject({ type: "application/json", event: "put", size: 7 });
    expect((await s.run(["kv", "put", "pic", "--type", "image/png"], { env, stdin: PNG })).code).toBe(0);
    expect((await s.run(["kv", "put", "doc"], { env, stdin: "%PDF-1.7\n..." })).code).toBe(0);
    const keys = JSON.parse((await s.run(["kv", "list", "--json"], { env })).text);
    expect(Object.fromEntries(keys.map((k: { key: string; type: string }) => [k.key, k.type]))).toEqual({ doc: "application/pdf", pic: "image/png" });
    // The library sees them too.
    const c = await connect({ server: s.socket });
    expect((await c.read(1))!.type).toBe("image/png");
    const kv = await c.kv({ group: "app", secret: env.CLIP_SECRET });
    expect((await kv.read("doc")).type).toBe("application/pdf");
    c.close();
  });

  test("history - the last N values of a region and a key, by --rev and --back; deletes are rows without a value", async () => {
    await using s = await startServer({ args: ["--history", "3"] });
    const env = await group(s);
    const revs: number[] = [];
    for (let i = 1; i <= 5; i++) {
      const r = await s.run(["copy", "7", "--json"], { stdin: `v${i}` });
      revs.push(JSON.parse(r.text).rev);
    }
    const rows = JSON.parse((await s.run(["history", "7", "--json"])).text);
    // The current value and 3 earlier ones, newest first.
    expect(rows.map((r: { rev: number }) => r.rev)).toEqual(revs.slice(1).reverse());
    expect((await s.run(["history", "7"])).text).toMatch(/^REV +WRITTEN +BY +SIZE +TYPE +PREVIEW\n/);
    for (let i = 2; i <= 5; i++) expect((await s.run(["paste", "7", "--rev", String(revs[i - 1])])).text).toBe(`v${i}`);
    const gone = await s.run(["paste", "7", "--rev", String(revs[0])]);
    expect(gone.code).toBe(5);
    expect(gone.stderr).toMatch(/^clip: revision \d+ of region 7 is not held/);
    expect((await s.run(["paste", "7", "--back", "1"])).text).toBe("v4");
    expect((await s.run(["paste", "7", "--back", "3"])).text).toBe("v2");
    expect((await s.run(["paste", "7", "--back", "4"])).code).toBe(5);
    expect((await s.run(["paste", "7", "--back", "0"])).text).toBe("v5");

    // A key: put, del, put. The delete is a row without a value, and not counted by --back.
    await s.run(["kv", "put", "k", "one"], { env });
    await s.run(["kv", "del", "k"], { env });
    await s.run(["kv", "put", "k", "two"], { env });
    const kh = JSON.parse((await s.run(["kv", "history", "k", "--json"], { env })).text);
    expect(kh.map((r: { event: string }) => r.event)).toEqual(["put", "del", "put"]);
    expect((await s.run(["kv", "get", "k", "--back", "1"], { env })).text).toBe("one");
    const del = await s.run(["kv", "get", "k", "--rev", String(kh[1].rev)], { env });
    expect(del.code).toBe(5);
    expect(del.stderr).toMatch(/holds no value/);

    // Large values are files, removed once they fall out of history.
    const blobs = () => readdirSync(join(s.data, "blobs")).filter((f) => !f.endsWith(".part")).length;
    for (let i = 0; i < 4; i++) expect((await s.run(["copy", "8"], { stdin: randomBytes(70_000, 10 + i) })).code).toBe(0);
    await waitFor(() => blobs() === 4, 5000, "four files: the current value and three earlier");
    expect((await s.run(["copy", "8"], { stdin: randomBytes(70_000, 20) })).code).toBe(0);
    await waitFor(() => blobs() === 4, 5000, "the oldest file to go as it falls out of history");
    expect(sameBytes((await s.run(["paste", "8", "--back", "3"])).stdout, randomBytes(70_000, 11))).toBe(true);
  });

  test("history - kept across kill -9 and a restart", async () => {
    await using s = await startServer();
    for (let i = 1; i <= 4; i++) expect((await s.run(["copy", "2"], { stdin: `w${i}` })).code).toBe(0);
    const before = JSON.parse((await s.run(["history", "2", "--json"])).text);
    await s.stop("SIGKILL");
    await using again = await startServer({ data: s.data, dir: s.dir });
    const after = JSON.parse((await again.run(["history", "2", "--json"])).text);
    expect(after).toEqual(before);
    expect((await again.run(["paste", "2", "--back", "3"])).text).toBe("w1");
    // The numbering goes on from where it was.
    const w = JSON.parse((await again.run(["copy", "2", "--json"], { stdin: "w5" })).text);
    expect(w.rev).toBe(before[0].rev + 1);
  });

  test("history - a server that joins receives history and types with the snapshot", async () => {
    await using t = new TreeFixture();
    const root = await t.add({ name: "R", args: ["--history", "4"] });
    for (let i = 1; i <= 3; i++) expect((await root.run(["copy", "5"], { stdin: `text ${i}` })).code).toBe(0);
    expect((await root.run(["copy", "5"], { stdin: PNG })).code).toBe(0);
    expect((await root.run(["copy", "6"], { stdin: randomBytes(100_000, 3) })).code).toBe(0); // a file
    const child = await t.add({ name: "C", connect: ["R"], args: ["--history", "4"] });
    const want = JSON.parse((await root.run(["history", "5", "--json"])).text);
    expect(want.length).toBe(4);
    expect(JSON.parse((await child.run(["history", "5", "--json"])).text)).toEqual(want);
    expect((await child.run(["paste", "5", "--back", "3"])).text).toBe("text 1");
    expect(JSON.parse((await child.run(["list", "--json"])).text)[5].type).toBe("image/png");
    expect(sameBytes((await child.run(["paste", "6"])).stdout, randomBytes(100_000, 3))).toBe(true);
    // Writes made later extend it the same way on both.
    expect((await child.run(["copy", "5"], { stdin: "from the child" })).code).toBe(0);
    await waitFor(async () => str((await (await root.client()).paste(5))) === "from the child", 5000, "the child's write on the root");
    expect(JSON.parse((await child.run(["history", "5", "--json"])).text)).toEqual(JSON.parse((await root.run(["history", "5", "--json"])).text));
  });

  test("history - bad durations, revisions, offsets and types are usage errors before anything is sent; a revision not held is exit 5", async () => {
    await using s = await startServer({ memory: true });
    const env = await group(s);
    expect((await s.run(["copy", "1"], { stdin: "keep" })).code).toBe(0);
    const usage: string[][] = [
      ["copy", "1", "--ttl", "0"],
      ["copy", "1", "--ttl", "-5s"],
      ["copy", "1", "--ttl", "1y"],
      ["copy", "1", "--ttl", "soon"],
      ["copy", "1", "--if-rev", "-1"],
      ["copy", "1", "--if-rev", "x"],
      ["copy", "1", "--type", "text"],
      ["copy", "1", "--type", "a b/c"],
      ["paste", "1", "--rev", "x"],
      ["paste", "1", "--back", "-1"],
      ["paste", "1", "--rev", "1", "--back", "1"],
      ["wait", "1", "--follow", "--since", "x"],
      ["wait", "1", "--follow", "--since", "9999"],
      ["kv", "put", "k", "v", "--ttl", "0"],
      ["kv", "watch", "--since", "-3", "k"],
      ["kv", "watch"],
    ];
    for (const args of usage) {
      const r = await s.run(args, { env, stdin: "changed" });
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toMatch(/^clip: [^\n]+\n$/);
    }
    const notHeld = await s.run(["paste", "1", "--rev", "77"]);
    expect(notHeld.code).toBe(5);
    // Nothing stored changed on any error.
    expect((await s.run(["paste", "1"])).text).toBe("keep");
    expect(JSON.parse((await s.run(["status", "--json"])).text).rev).toBe(2); // the group, then the copy
  });
});
