// The tree's latencies in detail, for digging (the figures BENCHMARKS.md
// reports come from bench/rows/tree.ts in `npm run bench`): every way of
// observing a small write on a chain of three clip servers, next to Redis
// replica chains, and a large snapshot join.
//
//   clip R ← C ← G on loopback TCP, --memory and --data (on tmpfs):
//     root→grandchild / leaf→all, polled like redis   copy, then paste in a tight loop on G / on R, C and G
//     root→grandchild / leaf→all / root→root / root→child, woken by watch   until `wait --follow` yields it
//     leaf copy ack / root copy ack                    how long `copy` takes to return on G / on R
//   redis A ← B ← C: SET on A, GET on C in a tight loop (no AOF, AOF appendfsync no, everysec)
//   snapshot: a child joining a parent that holds one large region: time to synced, peak RSS of both
//
// Every row runs in 10 slices, round-robin, the order rotated every round.
//
//   npm run build && npx bun bench/tree.ts [N [MiB]]   (N writes per row, default 1000; snapshot MiB, default 512, 0 skips it)
//   CLIP_BIN=a,b TREE_MODES=memory,data REDIS_MODES=off,no,everysec npx bun bench/tree.ts 2000 0

import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { connect } from "../src/index.ts";
import { stopAll } from "./lib/proc.ts";
import { startClip } from "./lib/servers.ts";
import { percentile } from "./lib/stats.ts";
import { type ClipChain, type RedisChain, type Runner, ackTimes, clipChain, polled, redisChain, redisPolled, roundRobin, woken } from "./lib/tree.ts";

const N = Number(process.argv[2] ?? 1000);
const SNAPSHOT_MB = Number(process.argv[3] ?? 512);
const BINS = (process.env.CLIP_BIN ?? resolve(import.meta.dir, "../dist/clip")).split(",").map((b) => resolve(b));
const MODES = (process.env.TREE_MODES ?? "memory,data").split(",").filter(Boolean) as ("memory" | "data")[];
const REDIS_MODES = (process.env.REDIS_MODES ?? "off,no,everysec").split(",").filter(Boolean) as ("off" | "no" | "everysec")[];
const dir = mkdtempSync(join(process.platform === "linux" ? "/dev/shm" : "/tmp", "cbt-"));

const fmt = (us: number) => (us < 1000 ? `${us.toFixed(0)} µs` : `${(us / 1000).toFixed(2)} ms`);

/** Peak RSS (KiB) of each process while `during` runs, sampled every 25 ms. */
async function peakRss(pids: number[], during: Promise<unknown>): Promise<number[]> {
  const peaks = pids.map(() => 0);
  let done = false;
  during.finally(() => (done = true)).catch(() => {});
  while (!done) {
    pids.forEach((pid, i) => {
      try {
        const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
        if (m) peaks[i] = Math.max(peaks[i], Number(m[1]));
      } catch {}
    });
    await Bun.sleep(25);
  }
  await during;
  return peaks;
}

/** A child joining a parent that holds one large region: time to synced, peak memory of both. */
async function snapshotJoin(size: number): Promise<string> {
  const sdir = join(dir, "snapshot");
  mkdirSync(sdir);
  const tokenFile = join(dir, "memory0", "token");
  const parent = await startClip({ bin: BINS[0], dir: sdir, name: "SP", store: "data", tokenFile });
  const pc = await connect({ server: `unix:${parent.socket}` });
  const file = join(sdir, "big.bin");
  const chunk = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 0xff);
  const w = Bun.file(file).writer();
  for (let i = 0; i < size >> 20; i++) w.write(chunk);
  await w.end();
  await pc.copy(0, Bun.file(file));
  pc.close();
  const t0 = performance.now();
  let childPid = 0;
  const joined = startClip({ bin: BINS[0], dir: sdir, name: "SC", store: "data", tokenFile, parentPort: parent.port }).then((c) => (childPid = c.proc.pid));
  const pids = [parent.proc.pid];
  const [rp] = await peakRss(pids, joined);
  const ms = performance.now() - t0;
  const rc = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${childPid}/status`, "utf8"))?.[1] ?? 0);
  return `snapshot join of a ${size >> 20} MiB region (on disk): ${(ms / 1000).toFixed(2)} s (${(size / 1048576 / (ms / 1000)).toFixed(0)} MiB/s); peak RSS parent ${(rp / 1024).toFixed(0)} MiB, child ${(rc / 1024).toFixed(0)} MiB (VmHWM)`;
}

async function main() {
  const rows: { name: string; run: Runner }[] = [];
  const chains: (ClipChain | RedisChain)[] = [];
  try {
    for (const mode of MODES)
      for (let b = 0; b < BINS.length; b++) {
        const cdir = join(dir, `${mode}${b}`);
        mkdirSync(cdir);
        const ch = await clipChain({ bin: BINS[b], dir: cdir, store: mode, tag: `${mode[0]}${b}` });
        chains.push(ch);
        const [r, c, g] = ch.clients;
        const [rp, cp, gp] = ch.pollers;
        const m = `clip ${mode === "memory" ? "mem " : "data"}${BINS.length > 1 ? `#${b}` : ""}`;
        rows.push({ name: `${m} root→grandchild, polled like redis`, run: await polled(r, [gp], 7) });
        rows.push({ name: `${m} leaf→all, polled like redis`, run: await polled(g, [rp, cp, gp], 8) });
        rows.push({ name: `${m} root→grandchild, woken by watch`, run: await woken(r, [g], 1) });
        rows.push({ name: `${m} leaf→all, woken by watch`, run: await woken(g, [r, c, g], 2) });
        rows.push({ name: `${m} root→root, woken by watch`, run: await woken(r, [r], 5) });
        rows.push({ name: `${m} root→child, woken by watch`, run: await woken(r, [c], 6) });
        rows.push({ name: `${m} leaf copy ack (G, via root)`, run: await ackTimes(g, 3) });
        rows.push({ name: `${m} root copy ack (R)`, run: await ackTimes(r, 4) });
      }
    for (const aof of REDIS_MODES) {
      const rdir = join(dir, `redis-${aof}`);
      mkdirSync(rdir);
      const rc = await redisChain({ dir: rdir, aof, tag: aof });
      chains.push(rc);
      rows.push({ name: `redis ${aof === "off" ? "no AOF" : `AOF fsync ${aof}`} A→C (GET on C, polled)`, run: await redisPolled(rc) });
    }
    const lat = await roundRobin(
      rows.map((r) => r.run),
      N,
      Math.min(10, N),
    );
    console.log(`\nwrite-visible latency, ${N} sequential writes of 64 bytes per row, 3-server chains on loopback`);
    console.log("clip mem: --memory, like redis no AOF; clip data: --data on tmpfs (a SQLite commit per write, no fsync), like redis AOF fsync no\n");
    console.log(`${"".padEnd(52)}${"p50".padStart(10)}${"p99".padStart(10)}${"mean".padStart(10)}`);
    rows.forEach(({ name }, k) => {
      const us = lat[k].map((r) => r.map((ms) => ms * 1000));
      const all = us.flat();
      const mean = all.reduce((a, x) => a + x, 0) / all.length;
      console.log(`${name.padEnd(52)}${fmt(percentile(us, 0.5).median).padStart(10)}${fmt(percentile(us, 0.99).median).padStart(10)}${fmt(mean).padStart(10)}`);
    });
    if (SNAPSHOT_MB > 0) console.log(`\n${await snapshotJoin(SNAPSHOT_MB << 20)}`);
  } finally {
    for (const c of chains.reverse()) await c.close().catch(() => {});
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
