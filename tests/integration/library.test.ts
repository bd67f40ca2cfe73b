// SPEC "Library": `import { connect } from "clip"` against a real server
// (the compiled binary, and one started in-process through the library).

import { describe, expect, test } from "bun:test";
import { closeSync, openSync, readSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ClipError, FileSource, connect } from "../../src/index.ts";
import { startServer as startInProcess } from "../../src/server/serve.ts";
import { silentLogger } from "../../src/server/log.ts";
import { openRequests } from "../../src/server/session.ts";
import { randomBytes, sameBytes, startServer, tempDir, waitFor } from "../helpers/clip.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function codeOf(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ClipError);
    return (e as ClipError).code;
  }
  return "none";
}

describe("library", () => {
  test("library - copy from string, Uint8Array, Blob, ReadableStream and async iterable", async () => {
    await using s = await startServer({ memory: true });
    const c = await connect({ server: s.socket });
    try {
      await c.copy(0, "héllo");
      expect(text(await c.paste(0))).toBe("héllo");
      const bytes = randomBytes(3 * (1 << 20) + 5, 4);
      await c.copy(1, bytes);
      expect(sameBytes(await c.paste(1), bytes)).toBe(true);
      await c.copy(2, new Blob(["a blob ", new Uint8Array([0, 255])]));
      expect([...(await c.paste(2))]).toEqual([...new TextEncoder().encode("a blob "), 0, 255]);
      const parts = [randomBytes(700_000, 1), randomBytes(1 << 20, 2), randomBytes(5, 3)];
      let i = 0;
      await c.copy(3, new ReadableStream<Uint8Array>({ pull: (ctl) => (i < parts.length ? ctl.enqueue(parts[i++]) : ctl.close()) }));
      expect(sameBytes(await c.paste(3), Buffer.concat(parts))).toBe(true);
      await c.copy(4, (async function* () {
        yield new TextEncoder().encode("it");
        yield new TextEncoder().encode("erable");
      })());
      expect(text(await c.paste(4))).toBe("iterable");
      await c.copy(5, "");
      expect((await c.paste(5)).length).toBe(0);
      // The CLI sees what the library wrote.
      expect((await s.run(["paste", "0"])).text).toBe("héllo");
      const regions = await c.list();
      expect(regions.length).toBe(10);
      expect(regions[0]).toMatchObject({ region: 0, size: 6, preview: "héllo", binary: false });
    } finally {
      c.close();
    }
  });

  test("library - copy returns once the write is applied: a paste on another connection sees it", async () => {
    await using s = await startServer();
    const a = await connect({ server: s.socket });
    const b = await connect({ server: `unix:${s.socket}` });
    for (let i = 0; i < 20; i++) {
      const r = await a.copy(6, `v${i}`);
      expect(r.size).toBe(`v${i}`.length);
      expect(text(await b.paste(6))).toBe(`v${i}`);
    }
    a.close();
    b.close();
  });

  test("library - 100 concurrent waiters on one region are all woken by one copy with the right bytes", async () => {
    await using s = await startServer({ memory: true });
    // 40 on one connection, 60 spread over 6 more.
    const conns = [await connect({ server: s.socket })];
    for (let i = 0; i < 6; i++) conns.push(await connect({ server: s.socket }));
    const waits: Promise<Uint8Array>[] = [];
    for (let i = 0; i < 40; i++) waits.push(conns[0].wait(8).then((c) => c.value));
    for (let i = 0; i < 60; i++) waits.push(conns[1 + (i % 6)].wait(8).then((c) => c.value));
    // Requests on one connection are handled in order: once list answers, its waits are registered.
    await Promise.all(conns.map((c) => c.list()));
    const value = randomBytes(200_000, 21);
    const writer = await connect({ server: s.socket });
    await writer.copy(8, value);
    const got = await Promise.all(waits);
    expect(got.length).toBe(100);
    for (const g of got) expect(sameBytes(g, value)).toBe(true);
    for (const c of [...conns, writer]) c.close();
  });

  test("library - a paste in progress keeps its value while newer copies replace it (on disk and in memory)", async () => {
    for (const memory of [false, true]) {
      await using s = await startServer({ memory });
      const c = await connect({ server: s.socket });
      const w = await connect({ server: s.socket });
      const first = randomBytes(64 << 20, 31); // far more than the client buffers (16 MiB) and the server queues (4 MiB)
      await c.copy(5, first);
      const m = await c.pasteStream(5);
      const it = m.body[Symbol.asyncIterator]();
      const got: Uint8Array[] = [];
      const firstChunk = await it.next();
      got.push((firstChunk.value as Uint8Array).slice());
      // Two newer values land (the first one's file is unlinked) while we read.
      await w.copy(5, randomBytes(1 << 20, 32));
      await w.copy(5, "small");
      for (let r = await it.next(); !r.done; r = await it.next()) got.push(r.value.slice());
      m.done();
      expect(sameBytes(Buffer.concat(got), first)).toBe(true);
      expect(text(await c.paste(5))).toBe("small");
      c.close();
      w.close();
    }
  }, 60_000);

  test("library - 100 waiters and 100 pastes on ONE connection get a 2 MiB value each (replies take turns)", async () => {
    await using s = await startServer({ memory: true });
    const c = await connect({ server: s.socket });
    const waits = Array.from({ length: 100 }, () => c.wait(7));
    await c.list();
    const value = randomBytes(2 << 20, 41);
    const w = await connect({ server: s.socket });
    await w.copy(7, value);
    for (const g of await Promise.all(waits)) expect(sameBytes(g.value, value)).toBe(true);
    const pastes = await Promise.all(Array.from({ length: 100 }, () => c.paste(7)));
    for (const g of pastes) expect(sameBytes(g, value)).toBe(true);
    c.close();
    w.close();
  }, 60_000);

  test("library - 16 concurrent 10 MiB copies on one connection all land (uploads share the queue)", async () => {
    await using s = await startServer();
    const c = await connect({ server: s.socket });
    const values = Array.from({ length: 16 }, (_, i) => randomBytes(10 << 20, 100 + i));
    const results = await Promise.all(values.map((v, i) => c.copy(i % 10, v).then((r) => r.size)));
    expect(results).toEqual(values.map((v) => v.length));
    // The last copy to each region won; each region holds one of its values, whole.
    for (let r = 0; r < 10; r++) {
      const got = await c.paste(r);
      expect(values.some((v, i) => i % 10 === r && sameBytes(got, v))).toBe(true);
    }
    c.close();
  }, 60_000);

  test("library - a wait in flight does not block a paste, copy or list on the same connection", async () => {
    await using s = await startServer({ memory: true });
    const c = await connect({ server: s.socket });
    let woke = false;
    const waiting = c.wait(1).then((v) => {
      woke = true;
      return v;
    });
    await c.copy(2, "other region");
    expect(text(await c.paste(2))).toBe("other region");
    expect((await c.list()).length).toBe(10);
    expect(woke).toBe(false);
    await c.copy(1, "wake up");
    expect(text((await waiting).value)).toBe("wake up");
    c.close();
  });

  test("library - wait with a timeout rejects with TIMEOUT; the connection stays usable", async () => {
    await using s = await startServer({ memory: true });
    const c = await connect({ server: s.socket });
    expect(await codeOf(() => c.wait(3, { timeout: 0.2 }))).toBe("TIMEOUT");
    const ctl = new AbortController();
    const p = codeOf(() => c.wait(3, { signal: ctl.signal }));
    ctl.abort();
    expect(await p).toBe("TIMEOUT");
    await c.copy(3, "fine");
    expect(text(await c.paste(3))).toBe("fine");
    c.close();
  });

  test("library - follow yields every later write in order; breaking out cancels it on the server", async () => {
    // In-process, so the server's own count of watchers and open requests can be read.
    using d = tempDir();
    const server = await startInProcess({ socket: join(String(d), "s.sock"), dataDir: null, maxSize: 1 << 20, log: silentLogger });
    const c = await connect({ server: join(String(d), "s.sock") });
    const w = await connect({ server: join(String(d), "s.sock") });
    try {
      const before = openRequests();
      const seen: string[] = [];
      const reading = (async () => {
        for await (const v of c.follow(4)) {
          seen.push(text(v.value));
          if (seen.length === 5) break;
        }
      })();
      await waitFor(() => server.node.watchers.count("r/4") === 1, 5000, "the follow to be registered");
      expect(openRequests()).toBe(before + 1);
      for (let i = 0; i < 5; i++) await w.copy(4, `n${i}`);
      await reading;
      expect(seen).toEqual(["n0", "n1", "n2", "n3", "n4"]);
      // The break sent a CANCEL, and the server acted on it: no watcher, no request left open.
      await waitFor(() => server.node.watchers.count("r/4") === 0 && openRequests() === before, 5000, "the server to drop the follow");
      await w.copy(4, "after");
      expect(text(await c.paste(4))).toBe("after");
    } finally {
      c.close();
      w.close();
      await server.stop();
    }
  });

  test("library - a 64 MiB FileSource uploads over the unix socket byte-exact, by path and by open fd", async () => {
    await using s = await startServer();
    using d = tempDir();
    const file = join(String(d), "v.bin");
    const value = randomBytes(64 << 20, 51);
    writeFileSync(file, value);
    const c = await connect({ server: s.socket });
    try {
      let last = 0;
      const r = await c.copy(2, new FileSource(file, value.length), { onProgress: (n, total) => ((last = n), expect(total).toBe(value.length)) });
      expect(r.size).toBe(value.length);
      expect(last).toBe(value.length);
      expect(sameBytes(await c.paste(2), value)).toBe(true);
      // From an fd read at its offset (what `clip copy < file` hands the library): the rest of the file.
      const fd = openSync(file, "r");
      try {
        const skip = 1000;
        readSync(fd, new Uint8Array(skip), 0, skip, null);
        await c.copy(3, new FileSource(fd, value.length - skip));
        expect(sameBytes(await c.paste(3), value.subarray(skip))).toBe(true);
      } finally {
        closeSync(fd);
      }
      // Without a size it is read to the end of the file.
      await c.copy(4, new FileSource(file));
      expect(sameBytes(await c.paste(4), value)).toBe(true);
    } finally {
      c.close();
    }
  }, 60_000);

  test("library - bad regions are USAGE errors, before anything is sent", async () => {
    await using s = await startServer({ memory: true });
    const c = await connect({ server: s.socket });
    for (const r of [10, -1, 3.5, NaN]) {
      expect(await codeOf(async () => c.copy(r, "x"))).toBe("USAGE");
      expect(await codeOf(async () => c.paste(r))).toBe("USAGE");
      expect(await codeOf(async () => c.wait(r))).toBe("USAGE");
    }
    expect((await c.list()).length).toBe(10);
    c.close();
  });

  test("library - errors carry SPEC codes: no server, oversize value, closed client", async () => {
    using d = tempDir();
    expect(await codeOf(() => connect({ server: join(String(d), "none.sock") }))).toBe("NOSERVER");
    expect(await codeOf(() => connect({ server: "not an address" }))).toBe("USAGE");
    await using s = await startServer({ memory: true, args: ["--max-size", "1k"] });
    const c = await connect({ server: s.socket });
    await c.copy(1, "kept");
    expect(await codeOf(() => c.copy(1, randomBytes(5000)))).toBe("TOOBIG");
    expect(await codeOf(() => c.copy(1, new ReadableStream({ start: (ctl) => (ctl.enqueue(randomBytes(3000)), ctl.close()) })))).toBe("TOOBIG");
    expect(text(await c.paste(1))).toBe("kept");
    c.close();
    expect(await codeOf(() => c.paste(1))).toBe("LOST");
  });

  test("library - close() ends pending waits and follows with LOST instead of leaving them hanging", async () => {
    await using s = await startServer({ memory: true });
    const c = await connect({ server: s.socket });
    const waiting = codeOf(() => c.wait(1));
    const following = codeOf(async () => {
      for await (const _ of c.follow(2));
    });
    await c.list();
    c.close();
    expect(await waiting).toBe("LOST");
    expect(await following).toBe("LOST");
  });

  test("library - a server started in-process serves the library", async () => {
    using d = tempDir();
    const socket = join(String(d), "s.sock");
    const server = await startInProcess({ socket, dataDir: null, maxSize: 1 << 20, log: silentLogger });
    try {
      const c = await connect(socket);
      await c.copy(9, "in process");
      expect(text(await c.paste(9))).toBe("in process");
      expect(server.node.store.get("r/9")?.value?.size).toBe(10);
      c.close();
    } finally {
      await server.stop();
    }
  });
});
