// SPEC "Resumable watches" and "Prefix watches": --since gives every write
// after a revision that is still held, then the live ones, with no gap and
// no repeat (checked under concurrent writes); a revision no longer held is
// exit 5; a library watch resumes by itself after its server restarts.

import { describe, expect, test } from "bun:test";
import { connect } from "../../src/index.ts";
import { type ServerHandle, spawnClip, startServer, waitFor } from "../helpers/clip.ts";

const str = (b: Uint8Array) => new TextDecoder().decode(b);

async function group(s: ServerHandle, g = "app"): Promise<{ env: Record<string, string>; secret: string }> {
  const r = await s.run(["group", "create", g]);
  expect(r.code).toBe(0);
  return { env: { CLIP_GROUP: g, CLIP_SECRET: r.text.trim() }, secret: r.text.trim() };
}

describe("resumable watches", () => {
  test("watch - follow --since replays what is held, then goes live, with no gap and no repeat under concurrent writes", async () => {
    await using s = await startServer({ memory: true, args: ["--history", "1000"] });
    const w = await connect({ server: s.socket });
    const r = await connect({ server: s.socket });
    const N = 400;
    const written: { rev: number; v: string }[] = [];
    // Writes go on while the follow starts: the boundary between replay and live falls mid-stream.
    const writing = (async () => {
      for (let i = 0; i < N; i++) {
        const v = `w${i}`;
        const { rev } = await w.copy(4, v);
        written.push({ rev, v });
        if (i % 50 === 0) await Bun.sleep(1);
      }
    })();
    await waitFor(() => written.length >= 100, 10_000, "a hundred writes");
    const since = written[20].rev;
    const seen: { rev: number; v: string }[] = [];
    for await (const c of r.follow(4, { since })) {
      seen.push({ rev: c.rev, v: str(c.value) });
      if (seen.length === N - 21) break;
    }
    await writing;
    expect(seen).toEqual(written.slice(21));
    // A wait (not follow) with --since gets the first write after it at once.
    expect(str((await r.wait(4, { since: written[5].rev })).value)).toBe(written[6].v);
    w.close();
    r.close();
  }, 30_000);

  test("watch - kv watch --since through the binary: puts, deletes and expiries after the revision, then live", async () => {
    await using s = await startServer({ memory: true });
    const { env } = await group(s);
    const revs: number[] = [];
    for (const v of ["a", "b"]) revs.push(JSON.parse((await s.run(["kv", "put", "k", v, "--json"], { env })).text).rev);
    expect((await s.run(["kv", "del", "k"], { env })).code).toBe(0);
    expect((await s.run(["kv", "put", "k", "c", "--ttl", "1s"], { env })).code).toBe(0);
    await waitFor(async () => (await s.run(["kv", "get", "k"], { env })).code === 5, 5000, "the expiry");
    await using watch = spawnClip(["kv", "watch", "k", "--json", "--since", String(revs[0]), "--count", "5", "--server", s.socket], { env });
    await waitFor(() => watch.text().split("\n").length >= 5, 10_000, "the replay");
    expect((await s.run(["kv", "put", "k", "live"], { env })).code).toBe(0);
    expect(await watch.exited()).toBe(0);
    const events = watch.text().trim().split("\n").map((l) => JSON.parse(l));
    expect(events.map((e) => e.event)).toEqual(["put", "del", "put", "expire", "put"]);
    expect(events.map((e) => e.value ?? null)).toEqual(["b", null, "c", null, "live"]);
    for (let i = 1; i < events.length; i++) expect(events[i].rev).toBeGreaterThan(events[i - 1].rev);
    expect(events[0]).toMatchObject({ key: "k", type: "text/plain;charset=utf-8", encoding: "utf8" });
  });

  test("watch - --prefix reports every key under it, each named; an empty prefix is the whole group", async () => {
    await using s = await startServer({ memory: true });
    const { env, secret } = await group(s);
    const c = await connect({ server: s.socket });
    const kv = await c.kv({ group: "app", secret });
    const jobs = kv.watch({ prefix: "jobs/" });
    const all = kv.watch({ prefix: "" });
    await Promise.all([jobs.ready, all.ready]);
    await kv.put("jobs/1", "x");
    await kv.put("other", "y");
    await kv.put("jobs/2", "z");
    await kv.del("jobs/1");
    const take = async (w: typeof jobs, n: number) => {
      const out: string[] = [];
      for await (const e of w) {
        out.push(`${e.event} ${e.key}`);
        if (out.length === n) break;
      }
      return out;
    };
    expect(await take(jobs, 3)).toEqual(["put jobs/1", "put jobs/2", "del jobs/1"]);
    expect(await take(all, 4)).toEqual(["put jobs/1", "put other", "put jobs/2", "del jobs/1"]);
    // And through the binary, resuming from a revision.
    const out = await s.run(["kv", "watch", "--prefix", "jobs/", "--since", "1", "--count", "3"], { env });
    expect(out.text).toBe("put jobs/1 x\nput jobs/2 z\ndel jobs/1\n");
    c.close();
  });

  test("watch - a revision no longer held is refused with exit 5 and SPEC's message", async () => {
    await using s = await startServer({ memory: true, args: ["--history", "2"] });
    for (let i = 0; i < 6; i++) await s.run(["copy", "3"], { stdin: `v${i}` });
    const r = await s.run(["wait", "3", "--follow", "--since", "1"]);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/^clip: revision 1 is no longer held \(oldest is 3\): read the current value and watch from it\n$/);
    // From the oldest it names, it works.
    await using ok = spawnClip(["wait", "3", "--follow", "--since", "3", "--server", s.socket]);
    await waitFor(() => ok.text() === "v3\nv4\nv5\n", 5000, "the held writes after revision 3");
  });

  test("watch - a library watch and follow resume by themselves after their server restarts, missing nothing", async () => {
    await using s = await startServer({});
    const { secret } = await group(s);
    const c = await connect({ server: s.socket, reconnect: { timeoutMs: 15_000 } });
    const kv = await c.kv({ group: "app", secret });
    const watch = kv.watch("n");
    await watch.ready;
    const follow = c.follow(6);
    const firstFollow = follow.next(); // sends the request
    const write = async (server: ServerHandle, v: string) => {
      const w = await connect({ server: server.socket });
      const kw = await w.kv({ group: "app", secret });
      await kw.put("n", v);
      await w.copy(6, v);
      w.close();
    };
    await Bun.sleep(100);
    await write(s, "1");
    await write(s, "2");
    // The server stops and comes back; writes are made before the watch has had time to reconnect.
    expect(await s.stop("SIGTERM")).toBe(0);
    await using s2 = await startServer({ data: s.data, dir: s.dir });
    for (const v of ["3", "4", "5"]) await write(s2, v);
    const seenKv: string[] = [];
    for await (const e of watch) {
      if (e.event === "put") seenKv.push(str(e.value));
      if (seenKv.length === 5) break;
    }
    expect(seenKv).toEqual(["1", "2", "3", "4", "5"]);
    const seenF = [str((await firstFollow).value!.value)];
    while (seenF.length < 5) seenF.push(str((await follow.next()).value!.value));
    expect(seenF).toEqual(["1", "2", "3", "4", "5"]);
    await follow.return(undefined);
    c.close();
  }, 30_000);
});
