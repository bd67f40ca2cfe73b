// Row "rss": the server's peak resident memory (VmHWM) while it takes a
// 1 GiB copy and serves it back, as a share of the value's size: a server
// that streams holds a few buffers, not the value.

import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GIB, bigServers, clipEnv, stopServers } from "../lib/big.ts";
import { run } from "../lib/proc.ts";
import { clipLabel, type RowModule } from "../lib/row.ts";
import { exact, fmt, summarize } from "../lib/stats.ts";

function status(pid: number, field: "VmHWM" | "VmRSS"): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** Resets the peak (Linux: writing 5 to clear_refs), so each round has its own; false where that is not allowed. */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

const mib = (b: number) => `${fmt(b / 2 ** 20)} MiB`;

const row: RowModule = {
  name: "rss",
  how:
    "each round: the server's peak is reset (`echo 5 > /proc/PID/clear_refs`), then `clip copy 3 FILE` (1 GiB) and `clip paste 3 > /dev/null`, " +
    "then VmHWM is read from /proc/PID/status (server `--data` on tmpfs). The clients' own peaks come from GNU time (`%M`), once each, in the notes.",
  tools: ["/usr/bin/time"],
  async run(ctx) {
    const file = await ctx.bigFile(GIB);
    const servers = await bigServers(ctx);
    const devnull = openSync("/dev/null", "w");
    try {
      const rounds = ctx.quick ? 3 : 6;
      const idle = servers.map((s) => status(s.proc.pid, "VmRSS"));
      const peaks = servers.map(() => [] as number[]);
      let perRound = true;
      // Builds interleaved round by round, their order rotated, as everywhere else.
      for (let r = 0; r < rounds; r++) {
        for (let i = 0; i < servers.length; i++) {
          const b = (i + r) % servers.length;
          const pid = servers[b].proc.pid;
          const env = clipEnv(servers[b]);
          perRound &&= resetPeak(pid);
          await run([ctx.bins[b], "copy", "3", file], { env, timeoutMs: 120_000 });
          await run([ctx.bins[b], "paste", "3"], { env, stdout: devnull, timeoutMs: 120_000 });
          peaks[b].push(status(pid, "VmHWM"));
        }
      }
      for (const [b, s] of servers.entries()) {
        const bin = ctx.bins[b];
        const env = clipEnv(s);
        if (!perRound) {
          peaks[b] = [status(s.proc.pid, "VmHWM")];
          ctx.note(`${clipLabel(ctx, b)}: /proc/PID/clear_refs is not writable here, so the peak is the server's whole life (${rounds} copies and pastes)`);
        }
        const clientPeak = async (cmd: string[]) => {
          const out = join(ctx.dir, "time.out");
          await run(["/usr/bin/time", "-f", "%M", "-o", out, ...cmd], { env, stdout: devnull, timeoutMs: 120_000 });
          return Number(readFileSync(out, "utf8").trim().split("\n").pop()) * 1024;
        };
        const copyPeak = await clientPeak([bin, "copy", "3", file]);
        const pastePeak = await clientPeak([bin, "paste", "3"]);
        const clip = summarize(peaks[b].map((p) => p / GIB));
        ctx.measure({ what: `${clipLabel(ctx, b)} server peak RSS (VmHWM) during a 1 GiB copy + paste / the value's size`, clip, ref: exact(1), refName: "(the value: 1 GiB)", target: { op: "≤", x: 0.25 } });
        ctx.note(
          `${clipLabel(ctx, b)} server: ${mib(idle[b])} idle, peaks ${peaks[b].map(mib).join(", ")}; client peaks: \`clip copy 3 FILE\` ${mib(copyPeak)}, \`clip paste 3\` ${mib(pastePeak)}`,
        );
      }
    } finally {
      closeSync(devnull);
      await stopServers(servers);
    }
  },
};
export default row;
