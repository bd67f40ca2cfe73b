// Stage.writeAsync: a file stage's bytes written on the thread pool (values
// taken by path). The same value as write() would make, readable while it
// fills; and an abort while a write is still on the pool leaves the file to
// that write to close, so no descriptor is closed under it (its number could
// go to another file) and nothing is left behind.

import { expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { ClipError } from "../../src/protocol/errors.ts";
import { ValueStore, openStagedFiles } from "../../src/server/values.ts";

const MiB = 1 << 20;

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}

test("stage - writeAsync fills a file stage that readers follow, and commits the same bytes", async () => {
  const dir = mkdtempSync("/tmp/sa-");
  try {
    const store = new ValueStore(dir, 1 << 30);
    const stage = store.stage(3 * MiB);
    const reader = stage.reader();
    const parts = [bytes(MiB, 1), bytes(MiB, 2), bytes(MiB, 3)];
    for (const p of parts) await stage.writeAsync(p);
    const got = new Uint8Array(3 * MiB);
    for (let o = 0; o < got.length; ) {
      const n = await reader.read(got.subarray(o));
      expect(n).toBeGreaterThan(0);
      o += n;
    }
    reader.close();
    const v = stage.commit();
    expect(v.size).toBe(3 * MiB);
    expect(Buffer.compare(readFileSync(v.file!), Buffer.concat(parts))).toBe(0);
    expect(Buffer.compare(Buffer.from(got), Buffer.concat(parts))).toBe(0);
    // Past the announced size it is refused like write().
    const short = store.stage(10);
    await expect(short.writeAsync(bytes(11, 4))).rejects.toBeInstanceOf(ClipError);
    short.abort();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("stage - an abort during writeAsync waits for the write before closing and removing the file", async () => {
  const dir = mkdtempSync("/tmp/sa-");
  try {
    const store = new ValueStore(dir, 1 << 30);
    // Descriptors open on files in `dir` (counting all of the process's would see other tests' sockets come and go).
    const fds = () => readdirSync("/proc/self/fd").filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir);
      } catch {
        return false;
      }
    }).length;
    const staged = openStagedFiles();
    const stage = store.stage(64 * MiB);
    const writing = stage.writeAsync(bytes(64 * MiB, 5));
    stage.abort(new ClipError("LOST", "cancelled"));
    // The write still holds the descriptor: the file is not closed (or removed) under it.
    expect(readdirSync(dir).some((f) => f.endsWith(".part"))).toBe(true);
    expect(fds()).toBe(1);
    await expect(writing).rejects.toThrow("cancelled");
    expect(readdirSync(dir).length).toBe(0);
    expect(fds()).toBe(0);
    expect(openStagedFiles()).toBe(staged);
    expect(existsSync(dir)).toBe(true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
