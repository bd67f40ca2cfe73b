// `npm run bench`: clip side by side with its references (socat, Redis, an
// empty Bun program) on this machine, in one run, each row interleaved
// (clip run, reference run, rotated every round; with CLIP_BIN=a,b two builds
// rotated too) and reported as the median with its spread and the ratio of
// the medians, never the best run. Each row is one module in bench/rows/;
// this file picks them, installs what they need, gives each a temp folder on
// tmpfs, bounds the whole run in time, and writes the table into
// BENCHMARKS.md between its markers.
//
//   bun bench/run.ts [--quick] [--no-write] [--only copy,paste] [--limit SECONDS]
//   CLIP_BIN=old/clip,new/clip bun bench/run.ts ...
//
// --quick is a short smoke pass (few rounds); --only runs a subset and never
// writes BENCHMARKS.md (a partial table would replace the full one).

import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { killAll, stopAll, which } from "./lib/proc.ts";
import type { Ctx, Measure, RowModule } from "./lib/row.ts";
import { fmt } from "./lib/stats.ts";
import cold from "./rows/cold.ts";
import copy from "./rows/copy.ts";
import encrypt from "./rows/encrypt.ts";
import http from "./rows/http.ts";
import kv from "./rows/kv.ts";
import leafcopy from "./rows/leafcopy.ts";
import revisions from "./rows/revisions.ts";
import paste from "./rows/paste.ts";
import pipe from "./rows/pipe.ts";
import rss from "./rows/rss.ts";
import small from "./rows/small.ts";
import tree from "./rows/tree.ts";

/** Every row, in the order they run and are shown. A new row is a module here. */
export const ROWS: RowModule[] = [copy, pipe, paste, rss, encrypt, cold, small, kv, tree, leafcopy, revisions, http];

const ROOT = resolve(import.meta.dir, "..");

/** The Debian package that brings each command. */
const PACKAGES: Record<string, string> = {
  socat: "socat",
  "redis-server": "redis-server",
  "redis-cli": "redis-tools",
  "redis-benchmark": "redis-tools",
  hyperfine: "hyperfine",
  "/usr/bin/time": "time",
  setsid: "util-linux",
};

function ensureTools(cmds: string[], log: (s: string) => void): void {
  const missing = [...new Set(cmds)].filter((c) => !which(c));
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map((c) => PACKAGES[c] ?? c))];
  log(`installing ${pkgs.join(" ")} with apt-get (missing: ${missing.join(", ")})`);
  const sudo = process.getuid?.() === 0 ? [] : ["sudo", "-n"];
  const apt = (args: string[]) => Bun.spawnSync([...sudo, "apt-get", ...args], { stdout: "ignore", stderr: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } }).exitCode === 0;
  if (!apt(["install", "-y", "--no-install-recommends", ...pkgs])) {
    apt(["update"]);
    if (!apt(["install", "-y", "--no-install-recommends", ...pkgs])) throw new Error(`apt-get install ${pkgs.join(" ")} failed`);
  }
  const still = missing.filter((c) => !which(c));
  if (still.length) throw new Error(`still missing after apt-get: ${still.join(", ")}`);
}

/** Incompressible bytes: a 64 MiB random-ish block repeated with a different first byte per block. */
function makeFile(path: string, bytes: number): void {
  const block = new Uint8Array(Math.min(64 << 20, bytes));
  crypto.getRandomValues(block.subarray(0, 65536));
  for (let o = 65536; o < block.length; o += 65536) {
    block.set(block.subarray(0, 65536), o);
    block[o] ^= o >>> 16; // no two 64 KiB pieces alike
  }
  const fd = openSync(path, "w");
  try {
    for (let done = 0, i = 0; done < bytes; i++) {
      block[0] = i;
      const len = Math.min(block.length, bytes - done);
      let off = 0;
      while (off < len) off += writeSync(fd, block, off, len - off);
      done += len;
    }
  } finally {
    closeSync(fd);
  }
}

interface Args {
  quick: boolean;
  write: boolean;
  only: string[] | null;
  limitS: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { quick: false, write: true, only: null, limitS: 0 };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    const value = () => {
      const v = x.includes("=") ? x.slice(x.indexOf("=") + 1) : argv[++i];
      if (v === undefined) throw new Error(`${x} needs a value`);
      return v;
    };
    if (x === "--quick") a.quick = true;
    else if (x === "--no-write") a.write = false;
    else if (x === "--only" || x.startsWith("--only=")) a.only = value().split(",").filter(Boolean);
    else if (x === "--limit" || x.startsWith("--limit=")) a.limitS = Number(value());
    else throw new Error(`unknown argument ${x} (bun bench/run.ts [--quick] [--no-write] [--only ${ROWS.map((r) => r.name).join(",")}] [--limit SECONDS])`);
  }
  if (a.only) {
    const unknown = a.only.filter((n) => !ROWS.some((r) => r.name === n));
    if (unknown.length) throw new Error(`no row named ${unknown.join(", ")} (rows: ${ROWS.map((r) => r.name).join(", ")})`);
    a.write = false;
  }
  if (!(a.limitS >= 0)) throw new Error("--limit takes seconds");
  if (a.limitS === 0) a.limitS = a.quick ? 300 : 1500;
  return a;
}

interface Reported {
  row: string;
  measures: Measure[];
  notes: string[];
  error?: string;
  seconds: number;
}

const sh = (cmd: string[]) => Bun.spawnSync(cmd).stdout.toString();

function machine(loadStart: number[]): string[] {
  const cpu = cpus();
  const ver = (cmd: string[], re: RegExp) => (which(cmd[0]) ? (re.exec(sh(cmd))?.[1] ?? "?") : "-");
  return [
    `${cpu.length} cores (${cpu[0]?.model ?? "?"}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${readFileSync("/proc/sys/kernel/osrelease", "utf8").trim()}`,
    `bun ${Bun.version}, socat ${ver(["socat", "-V"], /socat version (\S+)/)}, redis ${ver(["redis-server", "--version"], /v=(\S+)/)}, hyperfine ${ver(["hyperfine", "--version"], /hyperfine (\S+)/)}`,
    `load average at the start ${loadStart.map((x) => x.toFixed(2)).join(" ")}, at the end ${loadavg().map((x) => x.toFixed(2)).join(" ")}`,
  ];
}

function cell(s: Measure["clip"] | undefined): string {
  if (!s) return "-";
  if (s.n <= 1 || s.lo === s.hi) return fmt(s.median);
  return `${fmt(s.median)} [${fmt(s.lo)}–${fmt(s.hi)}]`;
}

function render(args: Args, reports: Reported[], modules: RowModule[], meta: { seconds: number; loadStart: number[] }): string {
  const commit = sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).trim();
  const dirty = sh(["git", "-C", ROOT, "status", "--porcelain", "--", "src"]).trim() ? " (with uncommitted changes under src/)" : "";
  const command = `bun bench/run.ts${args.quick ? " --quick" : ""}${args.only ? ` --only ${args.only.join(",")}` : ""}`;
  const lines = [
    `Run ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, commit ${commit}${dirty}, \`${command}\`, ${Math.round(meta.seconds)} s.`,
    ...(args.quick
      ? [
          "",
          `**--quick: a smoke pass (few rounds; 256 MiB instead of 1 GiB for copy, pipe and paste) that checks the harness, run at load average ${meta.loadStart[0].toFixed(1)} on ${cpus().length} cores. Final figures come from a full \`npm run bench\` on a quiet machine.**`,
        ]
      : meta.loadStart[0] > cpus().length / 2
        ? ["", `**The machine was busy (load average ${meta.loadStart[0].toFixed(1)} on ${cpus().length} cores at the start): take final figures on a quiet machine.**`]
        : []),
    "",
    "Each cell is the median over n runs, then [the spread]: p25–p75 from 10 runs up, min–max below 10; for latency percentiles, the same percentile taken round by round, min–max. Ratio = clip's median / the reference's median. Every row interleaves clip and its reference in the same run, their order rotated every round.",
    "",
    "| row | measure | n | clip | reference | ratio | target | met |",
    "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
  ];
  for (const r of reports) {
    if (r.error) lines.push(`| ${r.row} | failed: ${r.error.replace(/\|/g, "/").replace(/\n/g, " ").slice(0, 300)} | | | | | | |`);
    for (const m of r.measures) {
      const ratio = m.ratio ?? (m.ref ? m.clip.median / m.ref.median : undefined);
      const met = m.target && ratio !== undefined ? ((m.target.op === "≥" ? ratio >= m.target.x : ratio <= m.target.x) ? "yes" : "**no**") : "";
      lines.push(
        `| ${r.row} | ${m.what} | ${m.clip.n} | ${cell(m.clip)} | ${m.ref ? `${cell(m.ref)} ${m.refName}` : m.refName} | ${ratio === undefined ? "-" : fmt(ratio)} | ${m.target ? `${m.target.op} ${m.target.x % 1 === 0 ? m.target.x.toFixed(1) : m.target.x}×` : "-"} | ${met} |`,
      );
    }
  }
  const notes = reports.flatMap((r) => r.notes.map((n) => `- ${r.row}: ${n}`));
  if (notes.length) lines.push("", "Notes:", "", ...notes);
  lines.push("", "How each row is measured:", "", ...modules.map((m) => `- **${m.name}**: ${m.how}`));
  lines.push("", `Rows took: ${reports.map((r) => `${r.row} ${Math.round(r.seconds)} s`).join(", ")}.`, "", ...machine(meta.loadStart).map((m) => `- ${m}`));
  return lines.join("\n");
}

function writeSection(text: string): void {
  const path = join(ROOT, "BENCHMARKS.md");
  const old = existsSync(path) ? readFileSync(path, "utf8") : "# Benchmarks\n";
  const start = "<!-- bench:start -->";
  const end = "<!-- bench:end -->";
  const i = old.indexOf(start);
  const j = old.indexOf(end);
  const next = i >= 0 && j > i ? `${old.slice(0, i + start.length)}\n${text}\n${old.slice(j)}` : `${old}\n${start}\n${text}\n${end}\n`;
  writeFileSync(path, next);
}

export async function main(argv: string[]): Promise<number> {
  const t0 = performance.now();
  const loadStart = loadavg();
  const log = (s: string) => console.error(`bench ${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s: ${s}`);
  const args = parseArgs(argv);
  const bins = (process.env.CLIP_BIN ?? join(ROOT, "dist/clip")).split(",").filter(Boolean).map((b) => resolve(b));
  for (const b of bins) if (!existsSync(b)) throw new Error(`${b} is missing: run npm run build`);
  const modules = args.only ? ROWS.filter((r) => args.only!.includes(r.name)) : ROWS;
  ensureTools(
    modules.flatMap((m) => m.tools),
    log,
  );

  // tmpfs when there is one: the disk is not what is measured.
  const base = existsSync("/dev/shm") ? "/dev/shm" : "/tmp";
  const dir = mkdtempSync(join(base, "clipbench-"));
  let current = "setup";
  const limit = setTimeout(() => {
    console.error(`bench: gave up: over the ${args.limitS} s limit (--limit SECONDS to change it) while running row "${current}"; killing every process the bench started`);
    killAll();
    rmSync(dir, { recursive: true, force: true });
    process.exit(1);
  }, args.limitS * 1000);
  const interrupted = () => {
    console.error("bench: interrupted; killing every process the bench started");
    killAll();
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  };
  process.on("SIGINT", interrupted);
  process.on("SIGTERM", interrupted);

  const help = sh([bins[0], "serve", "--help"]);
  const files = new Map<number, string>();
  const reports: Reported[] = [];
  try {
    for (const m of modules) {
      current = m.name;
      const rep: Reported = { row: m.name, measures: [], notes: [], seconds: 0 };
      reports.push(rep);
      const mdir = join(dir, m.name);
      mkdirSync(mdir);
      const ctx: Ctx = {
        root: ROOT,
        bins,
        quick: args.quick,
        dir: mdir,
        bigFile: async (bytes) => {
          let f = files.get(bytes);
          if (!f) {
            f = join(dir, `file-${bytes}`);
            makeFile(f, bytes);
            files.set(bytes, f);
          }
          return f;
        },
        serveHas: (flag) => new RegExp(`(^|\\s)${flag}(\\s|=|$)`, "m").test(help),
        measure: (x) => rep.measures.push(x),
        note: (x) => rep.notes.push(x),
        log: (x) => log(`${m.name}: ${x}`),
      };
      const s0 = performance.now();
      log(`${m.name}: start`);
      try {
        await m.run(ctx);
      } catch (e) {
        rep.error = (e as Error).message;
        log(`${m.name}: FAILED: ${rep.error}`);
        await stopAll();
      }
      rep.seconds = (performance.now() - s0) / 1000;
      rmSync(mdir, { recursive: true, force: true });
    }
  } finally {
    clearTimeout(limit);
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
  const seconds = (performance.now() - t0) / 1000;
  const text = render(args, reports, modules, { seconds, loadStart });
  console.log(text);
  if (args.write) {
    writeSection(text);
    log("wrote BENCHMARKS.md");
  }
  log(`done in ${seconds.toFixed(0)} s`);
  return reports.some((r) => r.error) ? 1 : 0;
}

if (import.meta.main) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (e) {
    console.error(`bench: ${(e as Error).message}`);
    killAll();
    process.exitCode = 1;
  }
  process.exit(process.exitCode);
}
