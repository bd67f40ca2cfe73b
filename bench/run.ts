// The benchmark of issue 2: clip side by side with socat and redis on the
// same machine, in the same run. `npm run bench` builds dist/clip first.
//
//   1. small values: copy+paste of 16 B from 50 connections (bench/load.ts),
//      one client process, then the same 50 split over two processes;
//      redis-benchmark SET/GET 16 B from 50 connections as a reference.
//   2. 1 GiB copy then paste over the unix socket through dist/clip, against
//      socat piping the same file through a unix socket with 1 MiB buffers;
//      peak RSS (VmHWM) of the server and of each client.
//   3. cold start: `clip paste 3` against `redis-cli get k`, with hyperfine.
//
// Every process is started here and stopped by pid; only unix sockets are
// used; the whole run is bounded (RUN_LIMIT_MS). Results go to stdout and
// into BENCHMARKS.md between the bench markers (the rest of that file is
// prose kept by hand).
//
//   bun bench/run.ts [--quick] [--no-write]

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const BIN = join(ROOT, "dist/clip");
const quick = process.argv.includes("--quick");
const write = !process.argv.includes("--no-write");
const RUN_LIMIT_MS = 10 * 60_000;
const BIG = 1 << 30;
const RUNS = quick ? 1 : 5;
const SMALL_SECONDS = quick ? 2 : 5;

type Proc = ReturnType<typeof Bun.spawn>;
const live = new Set<Proc>();

function kill(p: Proc, sig: NodeJS.Signals = "SIGTERM"): void {
  if (p.exitCode === null && p.signalCode === null) {
    try {
      process.kill(p.pid, sig);
    } catch {}
  }
}

async function stop(p: Proc): Promise<void> {
  kill(p, "SIGTERM");
  const t = setTimeout(() => kill(p, "SIGKILL"), 5000);
  await p.exited;
  clearTimeout(t);
  live.delete(p);
}

function spawn(cmd: string[], opts: Parameters<typeof Bun.spawn>[1] = {}): Proc {
  const p = Bun.spawn(cmd, { stdin: "ignore", stdout: "ignore", stderr: "inherit", ...opts });
  live.add(p);
  p.exited.then(() => live.delete(p));
  return p;
}

interface Ran {
  code: number;
  ms: number;
  stdout: string;
}

/** Runs to completion, bounded in time. */
async function run(cmd: string[], opts: { stdout?: "pipe" | "ignore" | number; timeoutMs?: number; stdin?: "ignore" | number } = {}): Promise<Ran> {
  const t0 = performance.now();
  const p = spawn(cmd, { stdout: opts.stdout ?? "pipe", stdin: opts.stdin ?? "ignore" });
  const timer = setTimeout(() => kill(p, "SIGKILL"), opts.timeoutMs ?? 120_000);
  const out = p.stdout instanceof ReadableStream ? new Response(p.stdout).text() : Promise.resolve("");
  const code = await p.exited;
  const ms = performance.now() - t0;
  clearTimeout(timer);
  const stdout = await out;
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited with ${code}${stdout ? `: ${stdout.slice(0, 400)}` : ""}`);
  return { code, ms, stdout };
}

/**
 * Peak RSS of one command, bytes, from GNU time (Bun's resourceUsage().maxRSS
 * is the largest of all children so far, not of this one). A separate run:
 * time's own start-up stays out of the timed runs.
 */
async function peakRSS(cmd: string[], stdout: number): Promise<number> {
  const file = join(tmp, "rss");
  await run(["/usr/bin/time", "-f", "%M", "-o", file, ...cmd], { stdout, timeoutMs: 120_000 });
  return Number(readFileSync(file, "utf8").trim().split("\n").pop()) * 1024;
}
let tmp = "/tmp";

function status(pid: number, field: "VmHWM" | "VmRSS"): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await Bun.sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const canConnect = (path: string) =>
  existsSync(path) &&
  Bun.connect({ unix: path, socket: { data() {} } }).then(
    (s) => (s.end(), true),
    () => false,
  );

function which(cmd: string): boolean {
  return Bun.spawnSync(["sh", "-c", `command -v ${cmd}`]).exitCode === 0;
}

function ensureTools(): void {
  const need = ["socat", "redis-server", "redis-cli", "redis-benchmark", "hyperfine", "/usr/bin/time"];
  if (need.every(which)) return;
  console.error("bench: installing socat redis-server redis-tools hyperfine");
  const apt = ["apt-get", "install", "-y", "socat", "redis-server", "redis-tools", "hyperfine", "time"];
  const sudo = process.getuid?.() === 0 ? [] : ["sudo", "-n"];
  if (Bun.spawnSync([...sudo, ...apt], { stdout: "ignore", stderr: "inherit" }).exitCode !== 0) {
    Bun.spawnSync([...sudo, "apt-get", "update"], { stdout: "ignore", stderr: "inherit" });
    if (Bun.spawnSync([...sudo, ...apt], { stdout: "ignore", stderr: "inherit" }).exitCode !== 0) throw new Error("apt-get install failed");
  }
  const missing = need.filter((c) => !which(c));
  if (missing.length) throw new Error(`still missing: ${missing.join(", ")}`);
}

async function startClip(dir: string): Promise<{ proc: Proc; socket: string }> {
  const socket = join(dir, "clip.sock");
  const proc = spawn([BIN, "serve", "--socket", socket, "--data", join(dir, "data"), "--name", "bench", "--quiet"], { stderr: "inherit" });
  await waitFor(() => canConnect(socket), "clip serve");
  return { proc, socket };
}

async function startRedis(dir: string): Promise<{ proc: Proc; socket: string }> {
  const socket = join(dir, "redis.sock");
  const proc = spawn(["redis-server", "--port", "0", "--unixsocket", socket, "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", dir, "--loglevel", "warning"]);
  await waitFor(() => canConnect(socket), "redis-server");
  return { proc, socket };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const best = (xs: number[]) => Math.min(...xs);
const gbps = (bytes: number, ms: number) => bytes / 1e9 / (ms / 1000);
const mb = (b: number) => `${(b / (1 << 20)).toFixed(0)} MiB`;
const f2 = (x: number) => x.toFixed(2);

// --- the phases ---

interface Row {
  what: string;
  ours: string;
  ref: string;
  ratio: string;
  target: string;
}
const rows: Row[] = [];
const notes: string[] = [];

async function smallValues(dir: string): Promise<void> {
  const { proc, socket } = await startClip(dir);
  try {
    const load = async (procs: number) => {
      const per = 50 / procs;
      const outs = await Promise.all(
        Array.from({ length: procs }, () => run([process.execPath, join(ROOT, "bench/load.ts"), socket, String(per), String(SMALL_SECONDS), "1"], { timeoutMs: 60_000 })),
      );
      const rs = outs.map((o) => JSON.parse(o.stdout.trim().split("\n").pop()!) as { ops: number; seconds: number; errors: number });
      const errors = rs.reduce((a, r) => a + r.errors, 0);
      if (errors) notes.push(`${errors} errors in the ${procs}-process small-value run`);
      return rs.reduce((a, r) => a + r.ops / r.seconds, 0);
    };
    const one = await load(1);
    const two = await load(2);
    const r = await startRedis(dir);
    let redis = 0;
    try {
      const n = quick ? 100_000 : 300_000;
      const out = await run(["redis-benchmark", "-s", r.socket, "-c", "50", "-n", String(n), "-d", "16", "-t", "set,get", "--csv"], { timeoutMs: 120_000 });
      const rps = [...out.stdout.matchAll(/^"(SET|GET)","([0-9.]+)"/gm)].map((m) => Number(m[2]));
      redis = rps.length ? rps.reduce((a, b) => a + b, 0) / rps.length : 0;
    } finally {
      await stop(r.proc);
    }
    const ref = `${Math.round(redis)} (redis SET/GET)`;
    rows.push({ what: "16 B copy+paste, 50 conns, 1 client process (ops/s)", ours: String(Math.round(one)), ref, ratio: f2(one / redis), target: "-" });
    rows.push({ what: "16 B copy+paste, 50 conns, 2 client processes (ops/s)", ours: String(Math.round(two)), ref, ratio: f2(two / redis), target: "-" });
  } finally {
    await stop(proc);
  }
}

/** A 1 GiB file of incompressible bytes, built from a 64 MiB random block. */
function makeBigFile(path: string): void {
  const block = new Uint8Array(64 << 20);
  crypto.getRandomValues(block.subarray(0, 65536));
  for (let o = 65536; o < block.length; o += 65536) {
    block.set(block.subarray(0, 65536), o);
    block[o] ^= o >>> 16; // no two 64 KiB pieces alike
  }
  const fd = openSync(path, "w");
  try {
    for (let i = 0; i < BIG / block.length; i++) {
      block[0] = i;
      let off = 0;
      while (off < block.length) off += writeSync(fd, block, off, block.length - off);
    }
  } finally {
    closeSync(fd);
  }
}

async function socatOnce(dir: string, file: string): Promise<number> {
  const sock = join(dir, "socat.sock");
  rmSync(sock, { force: true });
  const listener = spawn(["socat", "-b1048576", "-u", `UNIX-LISTEN:${sock}`, "FILE:/dev/null"]);
  await waitFor(() => existsSync(sock), "socat listener");
  const t0 = performance.now();
  await run(["socat", "-b1048576", "-u", `FILE:${file}`, `UNIX-CONNECT:${sock}`], { timeoutMs: 60_000 });
  await listener.exited;
  live.delete(listener);
  return performance.now() - t0;
}

async function bigValue(dir: string): Promise<void> {
  const file = join(dir, "big");
  makeBigFile(file);
  const socatMs: number[] = [];
  for (let i = 0; i < RUNS; i++) socatMs.push(await socatOnce(dir, file));
  const { proc, socket } = await startClip(dir);
  const idle = status(proc.pid, "VmRSS");
  const copyMs: number[] = [];
  const pasteMs: number[] = [];
  let serverHWM = 0;
  const devnull = openSync("/dev/null", "w");
  const copyCmd = [BIN, "copy", "3", file, "--server", `unix:${socket}`];
  const pasteCmd = [BIN, "paste", "3", "--server", `unix:${socket}`];
  let copyRSS = 0;
  let pasteRSS = 0;
  try {
    for (let i = 0; i < RUNS; i++) {
      copyMs.push((await run(copyCmd, { timeoutMs: 120_000 })).ms);
      pasteMs.push((await run(pasteCmd, { stdout: devnull, timeoutMs: 120_000 })).ms);
    }
    copyRSS = await peakRSS(copyCmd, devnull);
    pasteRSS = await peakRSS(pasteCmd, devnull);
    // One paste compared byte for byte with the file: the numbers above are of a working copy and paste.
    const same = await run(["sh", "-c", `'${BIN}' paste 3 --server 'unix:${socket}' | cmp - '${file}' && echo same`], { timeoutMs: 120_000 });
    if (!same.stdout.includes("same")) notes.push("the pasted bytes differ from the file copied!");
    serverHWM = status(proc.pid, "VmHWM");
  } finally {
    await stop(proc);
  }
  // Best of RUNS for both sides: on a shared machine the best run is the one
  // least disturbed by others; medians are in the notes.
  const socat = gbps(BIG, best(socatMs));
  const copy = gbps(BIG, best(copyMs));
  const paste = gbps(BIG, best(pasteMs));
  const ref = `${f2(socat)} (socat)`;
  rows.push({ what: "1 GiB copy, unix socket (GB/s)", ours: f2(copy), ref, ratio: f2(copy / socat), target: "≥ 0.6" });
  rows.push({ what: "1 GiB paste > /dev/null (GB/s)", ours: f2(paste), ref, ratio: f2(paste / socat), target: "≥ 1.0" });
  rows.push({ what: "server peak RSS (VmHWM) / value size", ours: mb(serverHWM), ref: `${mb(BIG)} (value)`, ratio: f2(serverHWM / BIG), target: "≤ 1.25" });
  rows.push({ what: "server RSS idle → peak", ours: `${mb(idle)} → ${mb(serverHWM)}`, ref: "-", ratio: f2(serverHWM / idle), target: "-" });
  rows.push({ what: "`clip copy` client peak RSS / value size", ours: mb(copyRSS), ref: `${mb(BIG)} (value)`, ratio: f2(copyRSS / BIG), target: "-" });
  rows.push({ what: "`clip paste` client peak RSS / value size", ours: mb(pasteRSS), ref: `${mb(BIG)} (value)`, ratio: f2(pasteRSS / BIG), target: "-" });
  notes.push(`1 GiB runs (ms; best taken): socat ${socatMs.map(Math.round).join(", ")}; copy ${copyMs.map(Math.round).join(", ")}; paste ${pasteMs.map(Math.round).join(", ")}`);
  notes.push(`1 GiB medians: copy ${f2(gbps(BIG, median(copyMs)))} GB/s (${f2(median(socatMs) / median(copyMs))}x socat's median), paste ${f2(gbps(BIG, median(pasteMs)))} GB/s (${f2(median(socatMs) / median(pasteMs))}x)`);
  rmSync(file, { force: true });
}

async function coldStart(dir: string): Promise<void> {
  const clip = await startClip(dir);
  const redis = await startRedis(dir);
  try {
    await run(["sh", "-c", `printf 0123456789abcdef | '${BIN}' copy 3 --server unix:${clip.socket}`]);
    await run(["redis-cli", "-s", redis.socket, "set", "k", "0123456789abcdef"]);
    // The floor under any Bun client: a compiled program that only writes nothing to stdout.
    const empty = join(dir, "empty");
    writeFileSync(`${empty}.ts`, 'await Bun.write(Bun.stdout, "");\n');
    await run([process.execPath, "build", "--compile", `${empty}.ts`, "--outfile", empty], { stdout: "ignore", timeoutMs: 60_000 });
    const json = join(dir, "hyperfine.json");
    const runs = quick ? 50 : 200;
    await run(
      ["hyperfine", "-N", "--style", "none", "--warmup", "20", "--runs", String(runs), "--export-json", json, `${BIN} paste 3 --server unix:${clip.socket}`, `redis-cli -s ${redis.socket} get k`, empty],
      { timeoutMs: 180_000 },
    );
    const res = JSON.parse(readFileSync(json, "utf8")).results as { mean: number; median: number; stddev: number }[];
    const [ours, ref, floor] = res.map((r) => r.median * 1000);
    const [oursMean, refMean] = res.map((r) => r.mean * 1000);
    rows.push({ what: "cold `clip paste 3` vs `redis-cli get k` (ms, median)", ours: f2(ours), ref: `${f2(ref)} (redis-cli)`, ratio: f2(ours / ref), target: "≤ 1.3" });
    rows.push({ what: "cold start floor: an empty compiled Bun program (ms, median)", ours: f2(floor), ref: `${f2(ref)} (redis-cli)`, ratio: f2(floor / ref), target: "-" });
    notes.push(`cold start means: clip ${f2(oursMean)} ms, redis-cli ${f2(refMean)} ms (hyperfine -N, ${runs} runs, 20 warm-up)`);
  } finally {
    await stop(clip.proc);
    await stop(redis.proc);
  }
}

function machine(): string[] {
  const cpu = cpus();
  return [
    `${cpu.length} cores (${cpu[0]?.model ?? "?"}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${readFileSync("/proc/sys/kernel/osrelease", "utf8").trim()}`,
    `bun ${Bun.version}, ${Bun.spawnSync(["socat", "-V"]).stdout.toString().match(/socat version (\S+)/)?.[1] ?? "?"} socat, redis ${Bun.spawnSync(["redis-server", "--version"]).stdout.toString().match(/v=(\S+)/)?.[1] ?? "?"}, hyperfine ${Bun.spawnSync(["hyperfine", "--version"]).stdout.toString().trim().split(" ")[1] ?? "?"}`,
    `load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(" ")} (other work may have been running on the same 2 cores)`,
  ];
}

function render(): string {
  const lines = [
    `Run ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC${quick ? " (--quick)" : ""}, commit ${Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: ROOT }).stdout.toString().trim()}.`,
    "",
    "| measure | clip | reference | ratio | target |",
    "| --- | ---: | ---: | ---: | --- |",
    ...rows.map((r) => `| ${r.what} | ${r.ours} | ${r.ref} | ${r.ratio} | ${r.target} |`),
    "",
    ...notes.map((n) => `- ${n}`),
    ...machine().map((m) => `- ${m}`),
  ];
  return lines.join("\n");
}

async function main(): Promise<void> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build`);
  ensureTools();
  // tmpfs when there is one: the disk is not what is measured.
  const base = existsSync("/dev/shm") ? "/dev/shm" : "/tmp";
  const dir = mkdtempSync(join(base, "clipbench-"));
  tmp = dir;
  try {
    console.error("bench: small values");
    await smallValues(dir);
    console.error("bench: 1 GiB");
    await bigValue(dir);
    console.error("bench: cold start");
    await coldStart(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const text = render();
  console.log(text);
  if (write) {
    const path = join(ROOT, "BENCHMARKS.md");
    const old = existsSync(path) ? readFileSync(path, "utf8") : "# Benchmarks\n\n<!-- bench:start -->\n<!-- bench:end -->\n";
    const start = "<!-- bench:start -->";
    const end = "<!-- bench:end -->";
    const i = old.indexOf(start);
    const j = old.indexOf(end);
    const next = i >= 0 && j > i ? `${old.slice(0, i + start.length)}\n${text}\n${old.slice(j)}` : `${old}\n${start}\n${text}\n${end}\n`;
    writeFileSync(path, next);
  }
}

const limit = setTimeout(() => {
  console.error(`bench: over ${RUN_LIMIT_MS / 1000} s, stopping`);
  for (const p of live) kill(p, "SIGKILL");
  process.exit(1);
}, RUN_LIMIT_MS);

try {
  await main();
} catch (e) {
  console.error(`bench: ${(e as Error).message}`);
  process.exitCode = 1;
} finally {
  clearTimeout(limit);
  for (const p of [...live]) await stop(p);
}
