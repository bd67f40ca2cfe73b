// Row "leafcopy": a 256 MiB `clip copy` made on the grandchild of a chain of
// three servers against the same copy made on the root. A leaf's write goes
// up to the root, which orders it, and back down; a tree that streams it hop
// by hop costs little more than one hop, one that stores and forwards whole
// values costs the depth times the value.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { run, stop, waitFor } from "../lib/proc.ts";
import { interleave, type Side } from "../lib/rounds.ts";
import { clipLabel, type RowModule } from "../lib/row.ts";
import { type ClipServer, joined, lastApplied, startClip, warnings } from "../lib/servers.ts";
import { summarize } from "../lib/stats.ts";

const SIZE = 256 << 20;

const row: RowModule = {
  name: "leafcopy",
  how:
    "a chain R ← C ← G on loopback TCP, each `--data` on tmpfs; `clip copy 3 FILE` (256 MiB) on G's socket against the same command on R's, " +
    "each timed from spawn to exit (copy returns once the write is applied on the server it was made on: for G, after the root ordered it and it came back down). " +
    "Between runs, untimed, the tree settles: all three servers show the same last write in `clip status --json` and both children are joined.",
  tools: [],
  async run(ctx) {
    const file = await ctx.bigFile(SIZE);
    const tokenFile = join(ctx.dir, "token");
    writeFileSync(tokenFile, "bench-token\n", { mode: 0o600 });
    // No history where the server keeps it: 16 earlier 256 MiB values on each of three servers would fill the memory.
    const extra = ctx.serveHas("--history") ? ["--history", "0"] : [];
    const all: ClipServer[] = [];
    try {
      const sides: Side[] = [];
      for (let b = 0; b < ctx.bins.length; b++) {
        const bin = ctx.bins[b];
        const chain: ClipServer[] = [];
        for (const name of ["R", "C", "G"]) {
          const s = await startClip({ bin, dir: ctx.dir, name: `${name}${b}`, store: "data", tokenFile, parentPort: chain.at(-1)?.port, extra });
          chain.push(s);
          all.push(s);
        }
        // Settled: every server has applied the same last write, and the children are joined
        // (a child that fell behind is dropped and re-syncs by snapshot: a timed copy must not
        // start on a server cut off from the tree). Read from the status: a marker write would
        // itself queue behind the large value.
        const settle = async (on: ClipServer) => {
          const target = await lastApplied(bin, on);
          if (target === null) throw new Error("clip status --json shows neither rev nor seq: cannot tell when the tree has settled");
          await waitFor(
            async () => {
              for (const s of chain.slice(1)) if (!(await joined(bin, s.socket))) return false;
              const at = await Promise.all(chain.map((s) => lastApplied(bin, s)));
              return at.every((x) => x !== null && x >= target && x === at[0]);
            },
            "the tree to settle",
            120_000,
          );
        };
        const copyOn = (s: ClipServer) => async () => {
          const { ms } = await run([bin, "copy", "3", file], { env: { CLIP_SOCKET: s.socket }, timeoutMs: 120_000 });
          await settle(s);
          return ms;
        };
        sides.push({ name: `${clipLabel(ctx, b)} leaf`, once: copyOn(chain[2]) });
        sides.push({ name: `${clipLabel(ctx, b)} root`, once: copyOn(chain[0]) });
      }
      const res = await interleave(sides, ctx.quick ? 2 : 8, { warmup: ctx.quick ? 0 : 1, log: ctx.log });
      ctx.bins.forEach((_, b) =>
        ctx.measure({
          what: `256 MiB \`${clipLabel(ctx, b)} copy 3 FILE\` on a depth-2 leaf (ms)`,
          clip: summarize(res[2 * b]),
          ref: summarize(res[2 * b + 1]),
          refName: "the same copy on the root",
          target: { op: "≤", x: 1.5 },
        }),
      );
      for (const s of all) {
        const w = warnings(s);
        if (w.length) ctx.note(`${s.name} logged ${w.length} warning(s), e.g. \`${w[0].replace(/^\S+\s+/, "")}\``);
      }
    } finally {
      for (const s of all.reverse()) await stop(s.proc);
    }
  },
};
export default row;
