// Row "encrypt": what end-to-end encryption costs. A 1 GiB `clip copy
// --encrypt` then `clip paste` (sealed on the client, opened on the client)
// against the same plain copy and paste through the same server, rounds
// interleaved; and the client's peak memory for the encrypted copy, which
// must stream (one read buffer, not the value).

import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { bigServers, bigSize, clipEnv, sizeLabel, stopServers } from "../lib/big.ts";
import { run } from "../lib/proc.ts";
import { interleave, type Side } from "../lib/rounds.ts";
import { clipLabel, type RowModule } from "../lib/row.ts";
import { exact, fmt, gbps, summarize } from "../lib/stats.ts";

const MiB = 1 << 20;

const row: RowModule = {
  name: "encrypt",
  how:
    "`clip copy 3 FILE --encrypt` then `clip paste 3 > /dev/null` (FILE: 1 GiB, 256 MiB with --quick, on tmpfs; key made by `clip keygen`) against `clip copy 3 FILE` then `clip paste 3 > /dev/null` " +
    "through the same server (`--data` on tmpfs), rounds interleaved; GB/s is the value's size over the copy's and the paste's times together, each from spawn to exit. " +
    "The client's peak RSS for the encrypted copy is GNU time's `%M`, over 3 runs.",
  tools: ["/usr/bin/time"],
  async run(ctx) {
    const size = bigSize(ctx);
    const file = await ctx.bigFile(size);
    const config = join(ctx.dir, "config");
    mkdirSync(config, { mode: 0o700 });
    const servers = await bigServers(ctx);
    const devnull = openSync("/dev/null", "w");
    try {
      for (const [b, s] of servers.entries()) {
        const bin = ctx.bins[b];
        const label = clipLabel(ctx, b);
        if (!(await run([bin, "copy", "--help"])).stdout.includes("--encrypt")) {
          ctx.note(`${label}: this build has no --encrypt; skipped`);
          continue;
        }
        const env = { ...clipEnv(s), XDG_CONFIG_HOME: join(config, String(b)), CLIP_KEY_FILE: "", CLIP_ENCRYPT: "" };
        await run([bin, "keygen"], { env });
        const times = { plain: { copy: [] as number[], paste: [] as number[] }, sealed: { copy: [] as number[], paste: [] as number[] } };
        const side = (name: "plain" | "sealed"): Side => ({
          name: `${label} ${name}`,
          once: async () => {
            const copy = (await run([bin, "copy", "3", file, ...(name === "sealed" ? ["--encrypt"] : [])], { env, timeoutMs: 180_000 })).ms;
            const paste = (await run([bin, "paste", "3"], { env, stdout: devnull, timeoutMs: 180_000 })).ms;
            times[name].copy.push(copy);
            times[name].paste.push(paste);
            return gbps(size, copy + paste);
          },
        });
        const res = await interleave([side("sealed"), side("plain")], ctx.quick ? 3 : 10, { log: ctx.log });
        // The warm-up round is in `times` too: drop it, as interleave drops it from its figures.
        for (const t of [times.plain, times.sealed]) for (const k of ["copy", "paste"] as const) t[k].shift();
        const same = await run(["sh", "-c", `'${bin}' copy 3 '${file}' --encrypt && '${bin}' paste 3 | cmp - '${file}' && echo same`], { env, timeoutMs: 180_000 });
        if (!same.stdout.includes("same")) throw new Error(`${label}: the encrypted paste differs from the file copied`);
        ctx.measure({
          what: `${sizeLabel(size)} \`${label} copy 3 FILE --encrypt\` + \`paste 3\` (GB/s)`,
          clip: summarize(res[0]),
          ref: summarize(res[1]),
          refName: "the same copy + paste, plain, same server",
          target: { op: "≥", x: 0.7 },
        });
        const each = (k: "copy" | "paste") => summarize(times.sealed[k].map((ms) => gbps(size, ms)));
        const plainEach = (k: "copy" | "paste") => summarize(times.plain[k].map((ms) => gbps(size, ms)));
        ctx.note(
          `${label}: copy ${fmt(each("copy").median)} GB/s sealed vs ${fmt(plainEach("copy").median)} plain; paste ${fmt(each("paste").median)} GB/s opened vs ${fmt(plainEach("paste").median)} plain (medians)`,
        );

        const peak = async (args: string[]) => {
          const out = join(ctx.dir, "time.out");
          await run(["/usr/bin/time", "-f", "%M", "-o", out, bin, ...args], { env, stdout: devnull, timeoutMs: 180_000 });
          return (Number(readFileSync(out, "utf8").trim().split("\n").pop()) * 1024) / MiB;
        };
        const sealedPeaks: number[] = [];
        const plainPeaks: number[] = [];
        for (let i = 0; i < 3; i++) {
          sealedPeaks.push(await peak(["copy", "3", file, "--encrypt"]));
          plainPeaks.push(await peak(["copy", "3", file]));
        }
        ctx.measure({
          what: `${label} client peak RSS, \`copy 3 FILE --encrypt\` of ${sizeLabel(size)} (MiB)`,
          clip: summarize(sealedPeaks),
          ref: exact(64),
          refName: "(the budget: 64 MiB)",
          target: { op: "≤", x: 1.0 },
        });
        ctx.note(`${label}: client peak RSS of the plain copy: ${plainPeaks.map((p) => `${fmt(p)} MiB`).join(", ")}; encrypted: ${sealedPeaks.map((p) => `${fmt(p)} MiB`).join(", ")}`);
      }
    } finally {
      closeSync(devnull);
      await stopServers(servers);
    }
  },
};
export default row;
