// Durability: acknowledged writes survive kill -9 at random moments under
// load (checked against the log of acknowledged writes), and damaged data
// gives a clear startup error naming the file and the way out, never a
// silent empty state.

import { describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { Rng } from "../../bench/harness.ts";
import { AckLog, type Target, reader, runWriter } from "../../bench/workload.ts";
import { chaos } from "../../bench/chaos.ts";
import { Client } from "../../src/client/client.ts";
import { BIN, type ServerHandle, clip, startServer } from "../helpers/clip.ts";

describe("durability", () => {
  test("durability - acknowledged copies and kv puts survive kill -9 at random moments (4 rounds)", async () => {
    const data = mkdtempSync("/tmp/dur-");
    const rng = new Rng(4242);
    let srv: ServerHandle = await startServer({ data });
    try {
      const admin = await Client.connect({ server: `unix:${srv.socket}` });
      const group = { group: "dur", secret: await admin.groups.create("dur") };
      admin.close();
      const log = new AckLog();
      const targets: Target[] = [];
      const specs = Array.from({ length: 6 }, (_, w) => {
        const mine: Target[] = w < 3 ? [{ kind: "region", name: String(w), writer: w }] : [0, 1, 2].map((k) => ({ kind: "key" as const, name: `w${w}/k${k}`, writer: w }));
        targets.push(...mine);
        return { server: () => `unix:${srv.socket}`, targets: mine, group };
      });
      for (let round = 0; round < 4; round++) {
        const stop = { stopped: false };
        const running = specs.map((s, i) => runWriter(s, i, log, stop));
        const before = log.writes;
        // Under load for a random while, then the hardest stop there is.
        await Bun.sleep(150 + rng.int(400));
        srv.proc.kill(9);
        await srv.proc.exited;
        stop.stopped = true;
        await Promise.all(running);
        expect(log.writes).toBeGreaterThan(before);
        srv = await startServer({ data });
        const r = await reader(`unix:${srv.socket}`, undefined, group);
        const lost = await log.verify(targets, r.read);
        r.close();
        expect(lost).toEqual([]);
      }
    } finally {
      await srv[Symbol.asyncDispose]();
      rmSync(data, { recursive: true, force: true });
    }
  }, 60_000);

  test("durability - acknowledged 100 KiB values (kept in files) survive kill -9 at random moments (6 rounds)", async () => {
    const data = mkdtempSync("/tmp/durb-");
    const rng = new Rng(777);
    let srv: ServerHandle = await startServer({ data });
    try {
      const admin = await Client.connect({ server: `unix:${srv.socket}` });
      const group = { group: "big", secret: await admin.groups.create("big") };
      admin.close();
      const log = new AckLog();
      const targets: Target[] = [];
      const specs = Array.from({ length: 4 }, (_, w) => {
        const mine: Target[] = w < 2 ? [{ kind: "region", name: String(w + 5), writer: w }] : [{ kind: "key", name: `big${w}`, writer: w }];
        targets.push(...mine);
        return { server: () => `unix:${srv.socket}`, targets: mine, group, pad: 100 << 10 };
      });
      for (let round = 0; round < 6; round++) {
        const stop = { stopped: false };
        const running = specs.map((s, i) => runWriter(s, i, log, stop));
        await Bun.sleep(100 + rng.int(300));
        srv.proc.kill(9);
        await srv.proc.exited;
        stop.stopped = true;
        await Promise.all(running);
        srv = await startServer({ data });
        const r = await reader(`unix:${srv.socket}`, undefined, group);
        const lost = await log.verify(targets, r.read);
        r.close();
        expect(lost).toEqual([]);
      }
      expect(log.writes).toBeGreaterThan(0);
    } finally {
      await srv[Symbol.asyncDispose]();
      rmSync(data, { recursive: true, force: true });
    }
  }, 60_000);

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
