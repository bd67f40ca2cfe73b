// The desktop clipboard, measured (issue 11), through real servers and the
// real command: two `clip serve` (root, and leaf joined to it over loopback
// TCP) from dist/clip, and one `clip desktop` per "machine" (X display A on
// root, X display B on leaf).
//   latency: a copy on display A (an xclip "application") until it is
//     pasteable on display B (B's bridge has put it there and read it back:
//     its "-> desktop" log line), p50/p99 over N copies, for 32 B of text and
//     a 1 MiB PNG; and the writes the servers counted (one per copy).
//   idle: the CPU an idle `clip desktop` uses (its own, and the programs it
//     ran and reaped, from /proc/PID/stat), over S seconds: X11 with XFIXES
//     events, X11 polled (an X server without XFIXES), xsel polled (no xclip
//     on PATH), and Wayland (headless sway, wl-paste --watch).
// Targets (SPEC, issue 11), reported, not asserted: p99 under 300 ms on
// loopback; an idle bridge under 1% of one core.
// Every server, display and bridge is started here and stopped by pid.
//
//   npm run build && bun bench/desktop.ts [latency N] [idle SECONDS]   (default: latency 100, idle 60)

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type DesktopBridge, type Display, fakePng, startDesktop, startSway, startXvfb, stopClientsOf } from "../tests/helpers/desktop.ts";
import { stop } from "./lib/proc.ts";
import { type ClipServer, lastApplied, startClip } from "./lib/servers.ts";

const BIN = process.env.CLIP_BIN ?? resolve(import.meta.dir, "../dist/clip");
const args = process.argv.slice(2);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

/** A root and a leaf joined to it, each on a unix socket in `dir`. */
async function twoServers(dir: string): Promise<ClipServer[]> {
  const tokenFile = join(dir, "token");
  writeFileSync(tokenFile, "bench-token\n", { mode: 0o600 });
  const root = await startClip({ bin: BIN, dir, name: "root", store: "memory", tokenFile });
  const leaf = await startClip({ bin: BIN, dir, name: "leaf", store: "memory", tokenFile, parentPort: root.port });
  return [root, leaf];
}

/** `clip desktop 0` on a display, against a server; no key anywhere (a home of its own). */
function bridgeOn(d: Display, server: ClipServer, home: string, extra: Record<string, string | undefined> = {}): Promise<DesktopBridge> {
  const x = "DISPLAY" in d.env ? { WAYLAND_DISPLAY: undefined } : { DISPLAY: undefined };
  return startDesktop(BIN, ["0", "--server", `unix:${server.socket}`], { ...d.env, ...x, HOME: home, XDG_CONFIG_HOME: undefined, CLIP_KEY_FILE: undefined, CLIP_ENCRYPT: undefined, ...extra });
}

async function latency(n: number, dir: string) {
  const [A, B] = await Promise.all([startXvfb(), startXvfb()]);
  const servers = await twoServers(dir);
  const [root, leaf] = servers;
  const bridges = [await bridgeOn(A, root, dir), await bridgeOn(B, leaf, dir)];
  const [a, b] = bridges;
  // Arrival times of each bridge's lines, as they come (the bridges' own time stamps are to the millisecond only).
  const arrived: number[] = [];
  const arrivedA: number[] = [];
  const seenLines = () => {
    const now = performance.now();
    while (arrived.length < b.lines().length) arrived.push(now);
    while (arrivedA.length < a.lines().length) arrivedA.push(now);
  };
  const watcher = setInterval(seenLines, 1);
  const results: Record<string, number[]> = {};
  /** Of each copy: until A's bridge had written it (read on A, written through root), and from there until pasteable on B. */
  const split: Record<string, [number[], number[]]> = {};
  const rev0 = (await lastApplied(BIN, root)) ?? 0;
  try {
    for (const [name, make, target] of [
      ["text (32 B)", (i: number) => new TextEncoder().encode(`copy number ${i} `.padEnd(32, ".")), "UTF8_STRING"],
      ["PNG (1 MiB)", (i: number) => fakePng(1 << 20, i + 1), "image/png"],
    ] as const) {
      const times: number[] = [];
      const [toWrite, toB]: [number[], number[]] = (split[name] = [[], []]);
      for (let i = 0; i < n; i++) {
        const value = make(i);
        seenLines();
        const from = b.lines().length;
        const fromA = a.lines().length;
        const t0 = performance.now();
        Bun.spawn(["xclip", "-selection", "clipboard", "-i", "-quiet", "-t", target], { env: { ...process.env, ...A.env }, stdin: value, stdout: "ignore", stderr: "ignore" });
        const deadline = Date.now() + 30_000;
        let at = 0;
        while (!at && Date.now() < deadline) {
          seenLines();
          const k = b.lines().findIndex((l, j) => j >= from && l.includes("-> desktop"));
          if (k >= 0) at = arrived[k];
          else await Bun.sleep(1);
        }
        if (!at) throw new Error(`copy ${i} (${name}) never reached B: ${b.lines().slice(from).join(" | ")}`);
        times.push(at - t0);
        seenLines();
        const k = a.lines().findIndex((l, j) => j >= fromA && l.includes("desktop -> region"));
        if (k >= 0) {
          toWrite.push(arrivedA[k] - t0);
          toB.push(at - arrivedA[k]);
        }
        // The next copy only once both bridges have settled (as a person copies, one at a time).
        await Bun.sleep(150);
      }
      results[name] = times;
    }
  } finally {
    clearInterval(watcher);
    for (const x of bridges) await x.stop();
    stopClientsOf(A);
    stopClientsOf(B);
  }
  const writes = ((await lastApplied(BIN, root)) ?? 0) - rev0;
  for (const s of servers.reverse()) await stop(s.proc);
  await A.stop();
  await B.stop();
  for (const [name, t] of Object.entries(results)) {
    console.log(`latency ${name}: n=${t.length} p50 ${pct(t, 50).toFixed(1)} ms, p99 ${pct(t, 99).toFixed(1)} ms, max ${Math.max(...t).toFixed(1)} ms (target: p99 < 300 ms)`);
    const [w, r] = split[name];
    if (w.length) console.log(`  of which: copied on A until written through root p50 ${pct(w, 50).toFixed(1)} / p99 ${pct(w, 99).toFixed(1)} ms; from there until pasteable on B p50 ${pct(r, 50).toFixed(1)} / p99 ${pct(r, 99).toFixed(1)} ms`);
  }
  console.log(`writes the servers applied: ${writes} (one per copy: ${2 * n})`);
}

const TCK = 100; // USER_HZ on Linux
function cpuTicks(pid: number): { own: number; children: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields after the name: state(0) ... utime(11) stime(12) cutime(13) cstime(14)
  return { own: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]) };
}

/** An X server without the XFIXES extension: the bridge falls back to polling. */
async function xvfbWithoutXfixes(): Promise<Display> {
  const proc = Bun.spawn(["Xvfb", "-displayfd", "1", "-nolisten", "tcp", "-extension", "XFIXES", "-screen", "0", "320x200x24"], { stdout: "pipe", stderr: "ignore" });
  const reader = proc.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { done, value } = await reader.read();
    if (done) throw new Error("Xvfb -extension XFIXES did not start");
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const env = { DISPLAY: `:${text.trim()}` };
  const stopIt = async () => {
    if (proc.exitCode === null) proc.kill();
    await proc.exited;
  };
  return { env, pid: proc.pid, sh: () => Promise.reject(new Error("unused")), stop: stopIt, [Symbol.asyncDispose]: stopIt };
}

async function idle(seconds: number, dir: string) {
  const servers = await twoServers(dir);
  const [root] = servers;
  const X = await startXvfb();
  const P = await xvfbWithoutXfixes();
  let W: Display | null = null;
  try {
    W = await startSway();
  } catch (e) {
    console.log(`idle wayland: skipped (${(e as Error).message})`);
  }
  // xsel alone on PATH: the X11 backend without xclip.
  const xselOnly = join(dir, "xsel-only");
  mkdirSync(xselOnly);
  Bun.spawnSync(["ln", "-s", Bun.which("xsel")!, join(xselOnly, "xsel")]);
  const kinds: [string, Display, Record<string, string>][] = [
    ["x11, XFIXES events", X, {}],
    ["x11 polled (no XFIXES)", P, {}],
    ["xsel polled", X, { PATH: xselOnly }],
  ];
  if (W) {
    await W.sh(["wl-copy", "warm"]);
    kinds.push(["wayland, wl-paste --watch", W, {}]);
  }
  // R holds a value, which each bridge puts on its desktop at start.
  await Bun.spawn([BIN, "copy", "0", "--server", `unix:${root.socket}`], { stdin: new TextEncoder().encode("idle value"), stdout: "ignore" }).exited;
  for (const [kind, d, env] of kinds) {
    const b = await bridgeOn(d, root, dir, env);
    await Bun.sleep(3000); // past start-up (the first reads)
    const a = cpuTicks(b.proc.pid);
    const t0 = performance.now();
    await Bun.sleep(seconds * 1000);
    const z = cpuTicks(b.proc.pid);
    const wall = (performance.now() - t0) / 1000;
    await b.stop();
    stopClientsOf(d);
    const own = (z.own - a.own) / TCK / wall;
    const kids = (z.children - a.children) / TCK / wall;
    console.log(`idle ${kind}: ${(100 * own).toFixed(2)}% of one core (clip desktop), ${(100 * kids).toFixed(2)}% (programs it ran), over ${wall.toFixed(0)} s (target: < 1%)`);
  }
  for (const x of servers.reverse()) await stop(x.proc);
  await X.stop();
  await P.stop();
  await W?.stop();
}

const n = args[0] === "latency" ? Number(args[1] ?? 100) : args[0] === "idle" ? 0 : 100;
const s = args[0] === "idle" ? Number(args[1] ?? 60) : args[0] === "latency" ? 0 : 60;
const dir = mkdtempSync("/tmp/cbd-");
try {
  if (n) await latency(n, dir);
  if (s) await idle(s, dir);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
