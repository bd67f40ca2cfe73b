// Row "tree": how long until a small write is visible elsewhere in a chain
// of three servers, clip against a Redis replica chain in the same run,
// both observed the same way (a tight loop of reads, one in flight per
// connection, on the servers' unix sockets) and their slices interleaved.

import { join } from "node:path";
import { mkdirSync } from "node:fs";
import { clipLabel, type RowModule } from "../lib/row.ts";
import { percentile } from "../lib/stats.ts";
import { warnings } from "../lib/servers.ts";
import { type ClipChain, type RedisChain, type Runner, clipChain, polled, redisChain, redisPolled, roundRobin } from "../lib/tree.ts";

type Mode = "memory" | "data";
/** Like for like: nothing written per write, or written to the OS (never fsynced) before the reply. */
const REDIS_FOR: Record<Mode, "off" | "no"> = { memory: "off", data: "no" };
const REDIS_NAME = { off: "Redis A→C, no AOF", no: "Redis A→C, AOF appendfsync no" };

const row: RowModule = {
  name: "tree",
  how:
    "chains of three servers on loopback TCP: clip R ← C ← G (`serve --connect`, token auth) with `--memory` and with `--data` on tmpfs, and Redis A ← B ← C " +
    "(`replicaof`) without AOF and with `appendonly yes, appendfsync no` (each the like of one clip mode). One write of 64 B in flight. root→grandchild: copy on R " +
    "(SET on A), then paste on G (GET on C) in a tight loop until it returns the value; leaf→root: copy on G, paste on R; leaf→all: copy on G, paste on R, C and G at once. " +
    "Observers use clip's library and a minimal RESP client, both on Bun sockets to the servers' unix sockets, one request in flight each. Every timed row runs in " +
    "slices, round-robin, the order rotated every round. Redis's replicas are read-only, so leaf writes have no Redis counterpart: their ratios are against Redis's A→C.",
  tools: ["redis-server"],
  async run(ctx) {
    const n = ctx.quick ? 300 : 3000;
    const rounds = ctx.quick ? 3 : 10;
    const chains: (ClipChain | RedisChain)[] = [];
    try {
      // One entry per timed row; redis rows have b = -1.
      const rows: { runner: Runner; mode: Mode; b: number; kind: "r2g" | "l2r" | "l2a" | "redis" }[] = [];
      for (const mode of ["memory", "data"] as Mode[]) {
        for (let b = 0; b < ctx.bins.length; b++) {
          const dir = join(ctx.dir, `${mode}${b}`);
          mkdirSync(dir);
          const ch = await clipChain({ bin: ctx.bins[b], dir, store: mode, tag: `${mode[0]}${b}` });
          chains.push(ch);
          const [r, , g] = ch.clients;
          const [rp, cp, gp] = ch.pollers;
          rows.push({ runner: await polled(r, [gp], 7), mode, b, kind: "r2g" });
          rows.push({ runner: await polled(g, [rp], 6), mode, b, kind: "l2r" });
          rows.push({ runner: await polled(g, [rp, cp, gp], 8), mode, b, kind: "l2a" });
        }
        const dir = join(ctx.dir, `redis-${mode}`);
        mkdirSync(dir);
        const rc = await redisChain({ dir, aof: REDIS_FOR[mode], tag: mode[0] });
        chains.push(rc);
        rows.push({ runner: await redisPolled(rc), mode, b: -1, kind: "redis" });
      }
      ctx.log(`${rows.length} timed rows, ${n} writes each in ${rounds} rounds`);
      const lat = await roundRobin(
        rows.map((r) => r.runner),
        n,
        rounds,
      );
      const us = (k: number) => lat[k].map((r) => r.map((ms) => ms * 1000));
      for (const mode of ["memory", "data"] as Mode[]) {
        const red = us(rows.findIndex((r) => r.mode === mode && r.kind === "redis"));
        const refName = REDIS_NAME[REDIS_FOR[mode]];
        const flag = mode === "memory" ? "--memory" : "--data";
        rows.forEach((x, k) => {
          if (x.mode !== mode || x.kind === "redis") return;
          const mine = us(k);
          const who = clipLabel(ctx, x.b);
          if (x.kind === "r2g") {
            ctx.measure({ what: `${who} ${flag} root→grandchild p50 (µs)`, clip: percentile(mine, 0.5), ref: percentile(red, 0.5), refName, target: { op: "≤", x: 1.0 } });
            ctx.measure({ what: `${who} ${flag} root→grandchild p99 (µs)`, clip: percentile(mine, 0.99), ref: percentile(red, 0.99), refName, target: { op: "≤", x: 1.0 } });
          } else if (x.kind === "l2r") {
            ctx.measure({ what: `${who} ${flag} leaf→root p99 (µs)`, clip: percentile(mine, 0.99), ref: percentile(red, 0.99), refName, target: { op: "≤", x: 2.0 } });
          } else {
            ctx.measure({ what: `${who} ${flag} leaf→all p99 (µs; no Redis counterpart: its replicas are read-only)`, clip: percentile(mine, 0.99), ref: percentile(red, 0.99), refName });
          }
        });
      }
      for (const ch of chains) if ("pollers" in ch) for (const s of ch.servers) {
        const w = warnings(s);
        if (w.length) ctx.note(`${s.name} logged ${w.length} warning(s), e.g. \`${w[0].replace(/^\S+\s+/, "")}\``);
      }
    } finally {
      for (const c of chains.reverse()) await c.close();
    }
  },
};
export default row;
