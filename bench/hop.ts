// One hop of the tree, measured by CPU: a chain R ← C ← G (clip serve, as the
// tree row starts it), N small writes on R each polled on G until seen (the
// tree row's root→grandchild), and the CPU each process spent per write
// (utime + stime from /proc, µs): robust to a busy machine where latencies
// are not. With CLIP_BIN=a,b both builds, interleaved in slices.
//
//   bun bench/hop.ts [N] [memory|data]

import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { clipChain, polled } from "./lib/tree.ts";

const n = Number(process.argv[2] ?? 3000);
const store = (process.argv[3] ?? "memory") as "memory" | "data";
const bins = (process.env.CLIP_BIN ?? "dist/clip").split(",");
const ticks = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return Number(f[11]) + Number(f[12]); // utime + stime, in clock ticks (10 ms)
};
const self = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000; // ms
};
const dir = mkdtempSync("/dev/shm/hop-");
const chains = [];
for (const [b, bin] of bins.entries()) {
  mkdirSync(join(dir, String(b)));
  chains.push(await clipChain({ bin, dir: join(dir, String(b)), store, tag: String(b) }));
}
const runners = await Promise.all(chains.map((ch) => polled(ch.clients[0], [ch.pollers[2]], 7)));
const acc = bins.map(() => ({ cpu: [0, 0, 0], bench: 0, lat: [] as number[] }));
const slices = 10;
for (let s = 0; s < slices; s++) {
  for (let k = 0; k < bins.length; k++) {
    const b = (k + s) % bins.length;
    const ch = chains[b];
    const before = ch.servers.map((x) => ticks(x.proc.pid));
    const sb = self();
    const lat = await runners[b](n / slices);
    acc[b].bench += self() - sb;
    ch.servers.forEach((x, i) => (acc[b].cpu[i] += ticks(x.proc.pid) - before[i]));
    acc[b].lat.push(...lat);
  }
}
for (const [b, a] of acc.entries()) {
  a.lat.sort((x, y) => x - y);
  const q = (p: number) => (a.lat[Math.floor(p * (a.lat.length - 1))] * 1000).toFixed(0);
  const per = (t: number) => ((t * 10_000) / n).toFixed(0);
  console.log(`${bins[b]} --${store}: µs CPU per write R ${per(a.cpu[0])} C ${per(a.cpu[1])} G ${per(a.cpu[2])}, bench ${((a.bench * 1000) / n).toFixed(0)}; latency p50 ${q(0.5)} p99 ${q(0.99)} µs`);
}
for (const ch of chains) await ch.close();
rmSync(dir, { recursive: true, force: true });
