// Row "small": 16 B values through 50 connections, each looping copy then
// paste (bench/load.ts, clip's library), in one client process and split
// over two; against redis-benchmark's SET and GET of 16 B from 50
// connections on a unix socket, interleaved round by round.

import { join } from "node:path";
import { run } from "../lib/proc.ts";
import { interleave, type Side } from "../lib/rounds.ts";
import { clipLabel, type RowModule } from "../lib/row.ts";
import { startClip, startRedis } from "../lib/servers.ts";
import { stop } from "../lib/proc.ts";
import { summarize } from "../lib/stats.ts";

const row: RowModule = {
  name: "small",
  how:
    "`bench/load.ts`: 50 library connections, each looping `copy(r, 16 B)` then `paste(r)` (one request in flight each), ops = copies + pastes per second, " +
    "in one client process and in two (25 each), server `--data` on tmpfs; against `redis-benchmark -c 50 -d 16 -t set,get` on a unix socket " +
    "(SET and GET ops over the time of both, no pipelining). No target: it shows the per-request cost.",
  tools: ["redis-server", "redis-benchmark"],
  async run(ctx) {
    const seconds = ctx.quick ? 1 : 3;
    const load = join(ctx.root, "bench/load.ts");
    const servers = [];
    const redis = await startRedis({ dir: ctx.dir, name: "redis" });
    const errors: string[] = [];
    try {
      for (let b = 0; b < ctx.bins.length; b++) servers.push(await startClip({ bin: ctx.bins[b], dir: ctx.dir, name: `s${b}`, store: "data" }));
      const clipOps = async (socket: string, procs: number) => {
        const outs = await Promise.all(
          Array.from({ length: procs }, () => run([process.execPath, load, socket, String(50 / procs), String(seconds), ctx.quick ? "0.3" : "1"], { timeoutMs: 60_000 })),
        );
        const rs = outs.map((o) => JSON.parse(o.stdout.trim().split("\n").pop()!) as { ops: number; seconds: number; errors: number });
        const e = rs.reduce((a, r) => a + r.errors, 0);
        if (e) errors.push(`${e} errors in a ${procs}-process run`);
        return rs.reduce((a, r) => a + r.ops / r.seconds, 0);
      };
      const sides: Side[] = [];
      servers.forEach((s, b) => {
        sides.push({ name: `${clipLabel(ctx, b)} 1 proc`, once: () => clipOps(s.socket, 1) });
        sides.push({ name: `${clipLabel(ctx, b)} 2 procs`, once: () => clipOps(s.socket, 2) });
      });
      const n = ctx.quick ? 100_000 : 300_000;
      sides.push({
        name: "redis",
        once: async () => {
          const out = await run(["redis-benchmark", "-s", redis.socket, "-c", "50", "-n", String(n), "-d", "16", "-t", "set,get", "--csv"], { timeoutMs: 120_000 });
          const rps = [...out.stdout.matchAll(/^"(SET|GET)","([0-9.]+)"/gm)].map((m) => Number(m[2]));
          if (rps.length !== 2) throw new Error(`redis-benchmark printed no SET and GET rates: ${out.stdout.slice(0, 200)}`);
          // n SETs then n GETs: 2n operations over the time of both.
          return (2 * n) / (n / rps[0] + n / rps[1]);
        },
      });
      const res = await interleave(sides, ctx.quick ? 2 : 5, { log: ctx.log });
      const ref = summarize(res.at(-1)!);
      servers.forEach((_, b) => {
        for (const [k, procs] of [[0, "1 client process"], [1, "2 client processes"]] as const) {
          ctx.measure({ what: `16 B copy+paste, 50 conns, ${procs} (${clipLabel(ctx, b)}, ops/s)`, clip: summarize(res[2 * b + k]), ref, refName: "redis-benchmark SET+GET" });
        }
      });
      if (errors.length) ctx.note(errors.join("; "));
    } finally {
      for (const s of servers) await stop(s.proc);
      await stop(redis.proc);
    }
  },
};
export default row;
