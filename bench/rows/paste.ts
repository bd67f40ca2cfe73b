// Row "paste": `clip paste 3 > /dev/null` of a 1 GiB value held by a server
// on tmpfs, against socat's raw unix-socket throughput: a socat serving the
// same file from tmpfs to a socat writing it to /dev/null.

import { openSync, closeSync } from "node:fs";
import { bigSize, sizeLabel, SOCAT_BUF, bigServers, clipEnv, exitedOk, socatSource, stopServers } from "../lib/big.ts";
import { run } from "../lib/proc.ts";
import { interleave, type Side } from "../lib/rounds.ts";
import { clipLabel, type RowModule } from "../lib/row.ts";
import { gbps, summarize } from "../lib/stats.ts";

const row: RowModule = {
  name: "paste",
  how:
    "`clip paste 3 > /dev/null` of a 1 GiB value (256 MiB with --quick; server `--data` on tmpfs) against `socat -u -b1048576 OPEN:FILE UNIX-LISTEN:S` (FILE on tmpfs) " +
    "read by `socat -u -b1048576 UNIX-CONNECT:S STDOUT > /dev/null`; each timed from the client's spawn to its exit. One more paste is compared byte for byte with the file.",
  tools: ["socat"],
  async run(ctx) {
    const size = bigSize(ctx);
    const file = await ctx.bigFile(size);
    const servers = await bigServers(ctx);
    const devnull = openSync("/dev/null", "w");
    try {
      for (const [b, s] of servers.entries()) await run([ctx.bins[b], "copy", "3", file], { env: clipEnv(s), timeoutMs: 120_000 });
      const sides: Side[] = servers.map((s, b) => ({
        name: clipLabel(ctx, b),
        once: async () => gbps(size, (await run([ctx.bins[b], "paste", "3"], { env: clipEnv(s), stdout: devnull, timeoutMs: 120_000 })).ms),
      }));
      sides.push({
        name: "socat",
        once: async () => {
          const src = await socatSource(ctx.dir, file);
          const { ms } = await run(["socat", "-u", SOCAT_BUF, `UNIX-CONNECT:${src.sock}`, "STDOUT"], { stdout: devnull, timeoutMs: 120_000 });
          await exitedOk(src.done, "socat source");
          return gbps(size, ms);
        },
      });
      const res = await interleave(sides, ctx.quick ? 3 : 10, { log: ctx.log });
      for (const [b, s] of servers.entries()) {
        const same = await run(["sh", "-c", `'${ctx.bins[b]}' paste 3 | cmp - '${file}' && echo same`], { env: clipEnv(s), timeoutMs: 120_000 });
        if (!same.stdout.includes("same")) throw new Error(`${clipLabel(ctx, b)}: the pasted bytes differ from the file copied`);
      }
      const ref = summarize(res.at(-1)!);
      servers.forEach((_, b) =>
        ctx.measure({ what: `${sizeLabel(size)} \`${clipLabel(ctx, b)} paste 3 > /dev/null\` (GB/s)`, clip: summarize(res[b]), ref, refName: "socat file → unix socket → socat → /dev/null", target: { op: "≥", x: 1.0 } }),
      );
    } finally {
      closeSync(devnull);
      await stopServers(servers);
    }
  },
};
export default row;
