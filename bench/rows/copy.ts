// Row "copy": `clip copy 3 FILE` of 1 GiB into a server storing on tmpfs,
// against socat sending the same file through a unix socket into a socat
// that writes it to a file on tmpfs (a server that stores what it receives).

import { bigSize, sizeLabel, SOCAT_BUF, bigServers, clipEnv, socatSinkSide, stopServers } from "../lib/big.ts";
import { run } from "../lib/proc.ts";
import { interleave, type Side } from "../lib/rounds.ts";
import { clipLabel, type RowModule } from "../lib/row.ts";
import { gbps, summarize } from "../lib/stats.ts";

const row: RowModule = {
  name: "copy",
  how:
    "`clip copy 3 FILE` (FILE: 1 GiB, 256 MiB with --quick, on tmpfs; the server runs `--data` on tmpfs; the time is the command's, from spawn to exit) against " +
    "`socat -u -b1048576 OPEN:FILE UNIX-CONNECT:S` into `socat -u -b1048576 UNIX-LISTEN:S CREATE:SINK` on tmpfs (until both have exited). GB = 10^9 bytes.",
  tools: ["socat"],
  async run(ctx) {
    const size = bigSize(ctx);
    const file = await ctx.bigFile(size);
    const servers = await bigServers(ctx);
    try {
      const sides: Side[] = servers.map((s, b) => ({
        name: clipLabel(ctx, b),
        once: async () => gbps(size, (await run([ctx.bins[b], "copy", "3", file], { env: clipEnv(s), timeoutMs: 120_000 })).ms),
      }));
      sides.push(socatSinkSide(ctx.dir, size, (sock) => ["socat", "-u", SOCAT_BUF, `OPEN:${file}`, `UNIX-CONNECT:${sock}`]));
      const res = await interleave(sides, ctx.quick ? 3 : 10, { log: ctx.log });
      const ref = summarize(res.at(-1)!);
      servers.forEach((_, b) =>
        ctx.measure({ what: `${sizeLabel(size)} \`${clipLabel(ctx, b)} copy 3 FILE\` (GB/s)`, clip: summarize(res[b]), ref, refName: "socat file → unix socket → socat → file", target: { op: "≥", x: 0.8 } }),
      );
    } finally {
      await stopServers(servers);
    }
  },
};
export default row;
