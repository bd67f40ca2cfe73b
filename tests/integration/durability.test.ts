// Durability: acknowledged writes survive kill -9 at random moments under
// load (checked against the log of acknowledged writes), and damaged data
// gives a clear startup error naming the file and the way out, never a
// silent empty state.

import { describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { chaos, durability } from "../../bench/chaos.ts";
import { BIN, clip, startServer } from "../helpers/clip.ts";

describe("durability", () => {
  test("durability - acknowledged copies and kv puts, inline and 100 KiB (kept in files), survive kill -9 at random moments (6 rounds)", async () => {
    // The same loop as `npm run chaos -- --single`, shorter: six writers (regions
    // and keys, half of them with values large enough to live in files), the
    // server killed -9 under load, restarted on its --data, the log checked.
    const r = await durability(6, 4242);
    expect(r.lost).toEqual([]);
    // Every round had writes in flight when the server died.
    for (const n of r.ackedPerRound) expect(n).toBeGreaterThan(0);
  }, 90_000);

  async function damaged(harm: (data: string) => void): Promise<{ code: number; stderr: string; data: string }> {
    const data = mkdtempSync("/tmp/dmg-");
    {
      await using srv = await startServer({ data });
      expect((await srv.run(["copy", "1"], { stdin: "x".repeat(200_000) })).code).toBe(0);
      expect((await srv.run(["copy", "2"], { stdin: "small" })).code).toBe(0);
      await srv.stop();
    }
    harm(data);
    const dir = mkdtempSync("/tmp/dmg-s-");
    const r = await clip(["serve", "--socket", `${dir}/s.sock`, "--data", data], { timeoutMs: 10_000 });
    rmSync(dir, { recursive: true, force: true });
    return { ...r, data };
  }

  for (const [what, harm] of [
    ["garbage over state.db", (d: string) => writeFileSync(`${d}/state.db`, "this is not a database".repeat(100))],
    ["state.db torn in half", (d: string) => truncateSync(`${d}/state.db`, 1536)],
    ["a value file gone", (d: string) => unlinkSync(`${d}/blobs/${readdirSync(`${d}/blobs`)[0]}`)],
  ] as const) {
    test(`durability - ${what}: startup fails naming the file and how to recover`, async () => {
      const r = await damaged(harm);
      try {
        expect(r.code).not.toBe(0);
        const lines = r.stderr.trim().split("\n").filter((l) => l.startsWith("clip: "));
        expect(lines).toHaveLength(1);
        expect(lines[0]).toContain(r.data);
        expect(lines[0]).toMatch(/move the folder aside|--data/);
        expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      } finally {
        rmSync(r.data, { recursive: true, force: true });
      }
    });
  }

  test("durability - --data naming a file, not a folder: one clear line, exit 2", async () => {
    const dir = mkdtempSync("/tmp/dmg-f-");
    try {
      writeFileSync(`${dir}/file`, "x");
      const r = await clip(["serve", "--socket", `${dir}/s.sock`, "--data", `${dir}/file`], { timeoutMs: 10_000 });
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toMatch(new RegExp(`^clip: cannot use ${dir}/file as the data folder: .*--data`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("durability - chaos slice: a 4-server tree under load, 4 kill -9 with restarts, converges and loses no acknowledged write", async () => {
    const r = await chaos({ servers: 4, rounds: 4, seed: 99, writers: 6, convergeMs: 20_000 }, BIN);
    expect(r.writesAcked).toBeGreaterThan(0);
    expect(r.lost).toEqual([]);
    expect(r.diverged).toEqual([]);
    expect(r.converged).toBe(true);
  }, 60_000);
});
