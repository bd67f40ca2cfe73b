// The bridge's port over the library client (src/desktop/clip-port.ts),
// against a real ClipNode in process (tests/helpers/memory.ts): R's state
// with its revision (empty, written, expired), changes with expiries and the
// revision that expired, values over maxBytes skipped without being read,
// sealed values opened with the key and reported unreadable without it (the
// follow going on after them), and revisions no longer held as NOTFOUND.

import { afterEach, describe, expect, test } from "bun:test";
import { Client } from "../../src/client/client.ts";
import { generateKey } from "../../src/crypto/key.ts";
import { clipPort } from "../../src/desktop/clip-port.ts";
import type { RegionChange, RegionPort } from "../../src/desktop/port.ts";
import type { SocketConn } from "../../src/net/conn.ts";
import { ClipError } from "../../src/protocol/errors.ts";
import { type MemoryServer, memoryServer, stopAll, until } from "../helpers/memory.ts";

afterEach(stopAll);

const text = (b: Uint8Array | null | undefined) => (b ? new TextDecoder().decode(b) : null);
const key = generateKey();
const other = generateKey();

/** A port on two fresh in-memory connections; `received` counts the bytes its follow connection was sent. */
async function portOn(s: MemoryServer, o: { key?: typeof key; encrypt?: boolean } = {}) {
  const calls = Client.over(await s.mux(), { key: o.key });
  const { mux, conn: c } = await s.open();
  const conn = c as typeof c & { handler: NonNullable<SocketConn["handler"]> };
  let received = 0;
  const h = conn.handler;
  conn.handler = { ...h, data: (c: Uint8Array) => ((received += c.length), h.data(c)) };
  const follow = Client.over(mux, { key: o.key });
  const port = clipPort({ calls, follow }, 0, { encrypt: o.encrypt });
  return { port, received: () => received };
}

/** Gathers a port's changes from `since` until aborted. */
function gather(port: RegionPort, since: number, maxBytes?: number) {
  const ac = new AbortController();
  const got: RegionChange[] = [];
  let failed: unknown = null;
  const done = (async () => {
    try {
      for await (const c of port.changes(since, { signal: ac.signal, maxBytes })) got.push(c);
    } catch (e) {
      failed = e;
    }
  })();
  return {
    got,
    failed: () => failed,
    async stop() {
      ac.abort();
      await done;
    },
  };
}

describe("desktop clip port", () => {
  test("clip port - current(): empty (rev 0), a value with its rev and type, over maxBytes without its bytes, expired (the expiry's rev)", async () => {
    const s = memoryServer();
    const { port } = await portOn(s);
    expect(await port.current()).toEqual({ rev: 0, value: null });
    const c = await s.client();
    await c.copy(5, "another region");
    const { rev } = await c.copy(0, "hello", { type: "text/plain;charset=utf-8" });
    const st = await port.current({ maxBytes: 100 });
    expect(st.rev).toBe(rev);
    expect(st.value?.type).toBe("text/plain;charset=utf-8");
    expect(text(st.value?.bytes)).toBe("hello");
    const big = await port.current({ maxBytes: 4 });
    expect(big.value).toMatchObject({ rev, size: 5, bytes: null });

    await c.copy(0, "short-lived", { ttl: 30 });
    await until(async () => (await c.history(0))[0]?.event === "expire", 5000, "the expiry");
    const expiredAt = (await c.history(0))[0].rev;
    await c.copy(5, "after, elsewhere");
    const gone = await port.current();
    expect(gone).toEqual({ rev: expiredAt, value: null });
    // Following from there replays nothing older: the next change is the next write.
    const g = gather(port, gone.rev);
    await c.copy(0, "next");
    await until(() => g.got.length === 1);
    await g.stop();
    expect(g.got.map((x) => x.kind === "write" && text(x.bytes))).toEqual(["next"]);
  });

  test("clip port - changes(): writes in order, an expiry with the revision that expired, a value over maxBytes skipped unread and the follow going on", async () => {
    const s = memoryServer();
    const { port, received } = await portOn(s);
    const c = await s.client();
    const first = (await c.copy(0, "one")).rev;
    const st = await port.current();
    const g = gather(port, st.rev, 1 << 20);
    const two = (await c.copy(0, "two", { ttl: 40 })).rev;
    await until(() => g.got.length === 2, 5000, "the write and its expiry");
    expect(g.got[0]).toMatchObject({ kind: "write", rev: two, type: "text/plain;charset=utf-8" });
    expect(g.got[1]).toMatchObject({ kind: "expire", expired: two });
    expect((g.got[1] as { rev: number }).rev).toBeGreaterThan(two);

    const before = received();
    const huge = new Uint8Array(32 << 20).fill(7);
    const hugeRev = (await c.copy(0, huge)).rev;
    const after = (await c.copy(0, "small again")).rev;
    await until(() => g.got.length === 4, 10_000, "the skipped value and the next one");
    await g.stop();
    expect(g.got[2]).toEqual({ kind: "write", rev: hugeRev, type: "application/octet-stream", size: 32 << 20, bytes: null });
    expect(g.got[3]).toMatchObject({ kind: "write", rev: after });
    expect(text((g.got[3] as { bytes: Uint8Array }).bytes)).toBe("small again");
    // Cancelled after its first bytes, not pulled across (the value is 32 MiB).
    expect(received() - before).toBeLessThan(8 << 20);
    expect(first).toBeLessThan(two);
  });

  test("clip port - a sealed value: opened with the key; without it, unreadable (current and changes) and the follow goes on; --encrypt seals writes", async () => {
    const s = memoryServer();
    const writer = Client.over(await s.mux(), { key });
    const sealedRev = (await writer.copy(0, "sealed secret", { encrypt: true })).rev;

    const withKey = (await portOn(s, { key })).port;
    const opened = await withKey.current();
    expect(text(opened.value?.bytes)).toBe("sealed secret");

    const { port } = await portOn(s, { key: other });
    const st = await port.current();
    expect(st.rev).toBe(sealedRev);
    expect(st.value).toBeNull();
    expect(st.unreadable).toContain("encrypted with key");

    const g = gather(port, st.rev);
    const second = (await writer.copy(0, "sealed again", { encrypt: true })).rev;
    const plain = (await writer.copy(0, "plain")).rev;
    await until(() => g.got.length === 2, 5000, "the unreadable value and the plain one");
    await g.stop();
    expect(g.got[0]).toMatchObject({ kind: "unreadable", rev: second });
    expect((g.got[0] as { reason: string }).reason).toContain(`encrypted with key ${key.id}`);
    expect(g.got[1]).toMatchObject({ kind: "write", rev: plain });

    // A port that seals what it writes: servers see it encrypted, the key opens it.
    const sealing = (await portOn(s, { key, encrypt: true })).port;
    const rev = await sealing.write(new TextEncoder().encode("from the desktop"), "text/plain;charset=utf-8");
    const listed = (await writer.list())[0];
    expect(listed).toMatchObject({ rev, encrypted: key.id, type: "text/plain;charset=utf-8" });
    expect(text(await writer.paste(0))).toBe("from the desktop");
  });

  test("clip port - a revision no longer held, or ahead of the server (it lost its data): NOTFOUND", async () => {
    const s = memoryServer({ history: 0 });
    const { port } = await portOn(s);
    const c = await s.client();
    const first = (await c.copy(0, "a")).rev;
    await c.copy(0, "b");
    await c.copy(0, "c");
    for (const since of [first - 1, 10_000]) {
      const g = gather(port, since);
      await until(() => g.failed() !== null, 5000, "the refusal");
      await g.stop();
      expect(g.failed()).toBeInstanceOf(ClipError);
      expect((g.failed() as ClipError).code).toBe("NOTFOUND");
    }
  });
});
