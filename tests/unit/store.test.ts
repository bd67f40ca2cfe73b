// The store's disk side: group commit (acknowledge after the commit) and
// checkpoints on a worker that keep the WAL bounded under a steady stream.

import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { Store } from "../../src/server/store.ts";

const op = (i: number) => ({ key: `r/${i % 10}`, ver: { t: i + 1, n: "a" }, meta: { at: i }, value: { size: 3, bytes: new Uint8Array([1, 2, 3]) } });

test("store - a write is in memory at once and on disk once durable() resolves", async () => {
  const dir = mkdtempSync("/tmp/store-");
  try {
    const s = new Store({ dir, maxSize: 1 << 20, history: 0 });
    s.apply(op(0), 1);
    expect(s.get("r/0")?.rev).toBe(1);
    const d = s.durable();
    expect(d).not.toBeNull();
    await d;
    expect(s.durable()).toBeNull();
    // A second store on the same folder (what a restart after kill -9 reads) sees it.
    const again = new Store({ dir, maxSize: 1 << 20, history: 0 });
    expect(again.get("r/0")?.rev).toBe(1);
    expect(again.rev).toBe(1);
    again.close();
    s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("store - the WAL stays bounded under a steady stream of commits (checkpoints on a worker)", async () => {
  const dir = mkdtempSync("/tmp/store-");
  try {
    const s = new Store({ dir, maxSize: 1 << 20, history: 0 });
    // ~16 KiB of WAL per commit: 8000 commits with no checkpoint would be ~128 MiB.
    for (let i = 0; i < 8000; i++) {
      s.apply(op(i), i + 1);
      await s.durable();
    }
    await Bun.sleep(200);
    expect(statSync(`${dir}/state.db-wal`).size).toBeLessThan(64 << 20);
    s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 30_000);
