// Row "pipe": `cat FILE | clip copy 3` against `cat FILE | socat - UNIX-CONNECT`
// into a socat writing a file on tmpfs: the same 1 GiB through the same kind
// of pipe, so what differs is what reads the pipe and what stores it.

import { bigSize, sizeLabel, SOCAT_BUF, bigServers, clipEnv, socatSinkSide, stopServers } from "../lib/big.ts";
import { run } from "../lib/proc.ts";
import { interleave, type Side } from "../lib/rounds.ts";
import { clipLabel, type RowModule } from "../lib/row.ts";
import { gbps, summarize } from "../lib/stats.ts";

const row: RowModule = {
  name: "pipe",
  how:
    "`sh -c 'cat FILE | clip copy 3'` (1 GiB, 256 MiB with --quick; server `--data` on tmpfs) against `sh -c 'cat FILE | socat -u -b1048576 STDIN UNIX-CONNECT:S'` " +
    "into `socat -u -b1048576 UNIX-LISTEN:S CREATE:SINK` on tmpfs; both timed from the shell's spawn to its exit (and the sink's).",
  tools: ["socat", "setsid"],
  async run(ctx) {
    const size = bigSize(ctx);
    const file = await ctx.bigFile(size);
    const servers = await bigServers(ctx);
    try {
      const sides: Side[] = servers.map((s, b) => ({
        name: clipLabel(ctx, b),
        once: async () => gbps(size, (await run(["sh", "-c", `cat '${file}' | '${ctx.bins[b]}' copy 3`], { env: clipEnv(s), timeoutMs: 120_000 })).ms),
      }));
      sides.push(socatSinkSide(ctx.dir, size, (sock) => ["sh", "-c", `cat '${file}' | socat -u ${SOCAT_BUF} STDIN 'UNIX-CONNECT:${sock}'`]));
      const res = await interleave(sides, ctx.quick ? 3 : 10, { log: ctx.log });
      const ref = summarize(res.at(-1)!);
      servers.forEach((_, b) =>
        ctx.measure({ what: `${sizeLabel(size)} \`cat FILE \\| ${clipLabel(ctx, b)} copy 3\` (GB/s)`, clip: summarize(res[b]), ref, refName: "`cat FILE \\| socat` → socat → file", target: { op: "≥", x: 0.8 } }),
      );
    } finally {
      await stopServers(servers);
    }
  },
};
export default row;
