// Row "cold": how long `clip paste 3` of a 16 B value takes from exec to
// exit, against the floor under any compiled Bun program (an empty file
// built by the same bun with the same flags as `npm run build`) and against
// redis-cli; hyperfine -N (no shell), in rounds whose command order rotates.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../lib/proc.ts";
import { clipLabel, type RowModule } from "../lib/row.ts";
import { startClip, startRedis } from "../lib/servers.ts";
import { stop } from "../lib/proc.ts";
import { summarize } from "../lib/stats.ts";

/**
 * `npm run build`'s command with the entry and the output swapped: the same
 * bun, the same flags, whatever they become.
 */
function buildCommand(root: string, entry: string, outfile: string): string[] {
  const script: string = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).scripts.build;
  const part = script.split("&&").find((p) => p.includes("--compile"));
  if (!part) throw new Error(`package.json's build script has no bun build --compile: ${script}`);
  const words = part.trim().split(/\s+/);
  if (words[0] !== "bun" || words[1] !== "build") throw new Error(`unexpected build script: ${part}`);
  const out: string[] = [process.execPath];
  for (let i = 1; i < words.length; i++) {
    const w = words[i];
    if (w === "--outfile") {
      out.push(w, outfile);
      i++;
    } else if (w.startsWith("--outfile=")) out.push(`--outfile=${outfile}`);
    else if (!w.startsWith("-") && /\.[cm]?[jt]sx?$/.test(w)) out.push(entry);
    else out.push(w);
  }
  return out;
}

const row: RowModule = {
  name: "cold",
  how:
    "`hyperfine -N` of `clip paste 3` (a 16 B value; the server's socket in `CLIP_SOCKET`, as a user's default), `redis-cli -s S get k` (16 B) and an empty file " +
    "compiled by the same bun with `npm run build`'s flags (the floor under any compiled Bun program), in rounds whose command order rotates; all runs' times pooled.",
  tools: ["hyperfine", "redis-server", "redis-cli"],
  async run(ctx) {
    const empty = join(ctx.dir, "empty");
    writeFileSync(`${empty}.ts`, "");
    const build = buildCommand(ctx.root, `${empty}.ts`, empty);
    await run(build, { stdout: "ignore", timeoutMs: 120_000 });
    ctx.note(`empty program built with \`${build.slice(1).join(" ").replaceAll(ctx.dir, "DIR")}\``);
    const value = join(ctx.dir, "value");
    writeFileSync(value, "0123456789abcdef");
    const servers = [];
    const redis = await startRedis({ dir: ctx.dir, name: "redis" });
    try {
      for (let b = 0; b < ctx.bins.length; b++) {
        const s = await startClip({ bin: ctx.bins[b], dir: ctx.dir, name: `c${b}`, store: "data" });
        servers.push(s);
        await run([ctx.bins[b], "copy", "3", value], { env: { CLIP_SOCKET: s.socket } });
      }
      await run(["redis-cli", "-s", redis.socket, "set", "k", "0123456789abcdef"]);
      // One build: the bare `clip paste 3` a user types, its socket from the environment.
      // Several: each needs its own server, so each command names it.
      const one = ctx.bins.length === 1;
      const cmds = [
        ...servers.map((s, b) => (one ? `${ctx.bins[b]} paste 3` : `${ctx.bins[b]} paste 3 -s unix:${s.socket}`)),
        empty,
        `redis-cli -s ${redis.socket} get k`,
      ];
      const times: number[][] = cmds.map(() => []);
      const rounds = ctx.quick ? 3 : 10;
      const json = join(ctx.dir, "hyperfine.json");
      for (let r = 0; r < rounds; r++) {
        const order = cmds.map((_, i) => (i + r) % cmds.length);
        await run(
          ["hyperfine", "-N", "--style", "none", "--warmup", ctx.quick ? "5" : "10", "--runs", ctx.quick ? "20" : "50", "--export-json", json, ...order.map((i) => cmds[i])],
          { env: one ? { CLIP_SOCKET: servers[0].socket } : {}, timeoutMs: 120_000 },
        );
        const res = JSON.parse(readFileSync(json, "utf8")).results as { times: number[]; exit_codes?: number[] }[];
        res.forEach((x, k) => {
          if (x.exit_codes?.some((c) => c !== 0)) throw new Error(`${cmds[order[k]]} failed under hyperfine`);
          times[order[k]].push(...x.times.map((t) => t * 1000));
        });
      }
      const floor = summarize(times[servers.length]);
      const rcli = summarize(times[servers.length + 1]);
      servers.forEach((_, b) => {
        const clip = summarize(times[b]);
        ctx.measure({ what: `cold \`${clipLabel(ctx, b)} paste 3\`, 16 B (ms)`, clip, ref: floor, refName: "empty compiled Bun program", target: { op: "≤", x: 1.15 } });
        ctx.measure({ what: `cold \`${clipLabel(ctx, b)} paste 3\`, 16 B (ms)`, clip, ref: rcli, refName: "`redis-cli get k`" });
      });
    } finally {
      for (const s of servers) await stop(s.proc);
      await stop(redis.proc);
    }
  },
};
export default row;
