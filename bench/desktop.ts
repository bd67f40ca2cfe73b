// The desktop bridge, measured (issue 11). Two things:
//   latency: a copy on X display A (an xclip "application") until it is
//     pasteable on display B (B's bridge has put it there and read it back),
//     through two bridges and one in-memory region: p50/p99 over N copies,
//     for text and for a 1 MiB PNG.
//   idle: the CPU an idle bridge uses (its own and its children's, from
//     /proc/PID/stat), over S seconds: X11 with XFIXES events, X11 with the
//     fallback poll (xclip), xsel's poll, and Wayland (headless sway,
//     wl-paste --watch).
// Every display and bridge is started here and stopped by pid.
//
//   bun bench/desktop.ts [latency N] [idle SECONDS]   (default: latency 100, idle 60)

import { runBridge } from "../src/desktop/bridge.ts";
import { waylandBackend } from "../src/desktop/wayland.ts";
import { x11Backend } from "../src/desktop/x11.ts";
import { xselBackend } from "../src/desktop/xsel.ts";
import { FakeRegion, fakePng, startSway, startXvfb } from "../tests/helpers/desktop.ts";

const args = process.argv.slice(2);

if (args[0] === "--idle-child") {
  // One bridge, idle until killed: the process measured by the parent.
  const [, kind, display] = args;
  const region = new FakeRegion();
  region.writeElsewhere("idle value");
  const backend =
    kind === "wayland" ? waylandBackend({ env: { ...process.env, ...JSON.parse(display) } }) : kind === "xsel" ? xselBackend({ display }) : x11Backend({ display, signal: kind === "poll" ? "poll" : "events" });
  await runBridge({ region: 0, port: region.port(), backend, log: (l) => process.stderr.write(`${l}\n`), signal: new AbortController().signal, onReady: () => process.stdout.write("ready\n") });
  process.exit(0);
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

async function latency(n: number) {
  const [A, B] = await Promise.all([startXvfb(), startXvfb()]);
  const region = new FakeRegion();
  const ac = new AbortController();
  const bLines: { at: number; line: string }[] = [];
  let ready = 0;
  const bridges = [
    runBridge({ region: 0, port: region.port(), backend: x11Backend({ display: A.env.DISPLAY }), log: () => {}, signal: ac.signal, onReady: () => ready++ }),
    runBridge({ region: 0, port: region.port(), backend: x11Backend({ display: B.env.DISPLAY }), log: (line) => bLines.push({ at: performance.now(), line }), signal: ac.signal, onReady: () => ready++ }),
  ];
  while (ready < 2) await Bun.sleep(10);
  const apps: ReturnType<typeof Bun.spawn>[] = [];
  const results: Record<string, number[]> = {};
  for (const [name, make, target] of [
    ["text (32 B)", (i: number) => new TextEncoder().encode(`copy number ${i} `.padEnd(32, ".")), "UTF8_STRING"],
    ["PNG (1 MiB)", (i: number) => fakePng(1 << 20, i + 1), "image/png"],
  ] as const) {
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const value = make(i);
      const before = region.log.length;
      const from = bLines.length;
      const t0 = performance.now();
      const app = Bun.spawn(["xclip", "-selection", "clipboard", "-i", "-quiet", "-t", target], { env: { ...process.env, ...A.env }, stdin: value, stdout: "ignore", stderr: "ignore" });
      apps.push(app);
      const deadline = Date.now() + 30_000;
      let at = 0;
      while (!at && Date.now() < deadline) {
        const hit = bLines.slice(from).find((l) => l.line.includes("-> desktop"));
        if (hit) at = hit.at;
        else await Bun.sleep(1);
      }
      if (!at) throw new Error(`copy ${i} (${name}) never reached B: ${region.log.length - before} writes`);
      times.push(at - t0);
      // The next copy only once A's bridge has seen this one settle (as a person copies, one at a time).
      await Bun.sleep(100);
    }
    results[name] = times;
  }
  ac.abort();
  await Promise.all(bridges);
  for (const p of apps) if (p.exitCode === null) p.kill(9);
  await A.stop();
  await B.stop();
  for (const [name, t] of Object.entries(results)) {
    console.log(`latency ${name}: n=${t.length} p50 ${pct(t, 50).toFixed(1)} ms, p99 ${pct(t, 99).toFixed(1)} ms, max ${Math.max(...t).toFixed(1)} ms`);
  }
  console.log(`writes to the region: ${region.portWrites} (expected ${2 * n}: one per copy)`);
}

const TCK = 100; // USER_HZ on Linux
function cpuTicks(pid: number): { own: number; children: number } {
  const stat = require("node:fs").readFileSync(`/proc/${pid}/stat`, "utf8") as string;
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields after the name: state(0) ... utime(11) stime(12) cutime(13) cstime(14)
  return { own: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]) };
}

async function idle(seconds: number) {
  const X = await startXvfb();
  let W: Awaited<ReturnType<typeof startSway>> | null = null;
  try {
    W = await startSway();
  } catch (e) {
    console.log(`idle wayland: skipped (${(e as Error).message})`);
  }
  const kinds: [string, string][] = [["events", X.env.DISPLAY], ["poll", X.env.DISPLAY], ["xsel", X.env.DISPLAY]];
  if (W) {
    await W.sh(["wl-copy", "warm"]);
    kinds.push(["wayland", JSON.stringify(W.env)]);
  }
  for (const [kind, display] of kinds) {
    const child = Bun.spawn([process.execPath, import.meta.path, "--idle-child", kind, display], { stdout: "pipe", stderr: "inherit" });
    const reader = child.stdout.getReader();
    await reader.read(); // "ready"
    await Bun.sleep(3000); // past start-up (JIT, first reads)
    const a = cpuTicks(child.pid);
    const t0 = performance.now();
    await Bun.sleep(seconds * 1000);
    const b = cpuTicks(child.pid);
    const wall = (performance.now() - t0) / 1000;
    child.kill();
    await child.exited;
    const own = (b.own - a.own) / TCK / wall;
    const kids = (b.children - a.children) / TCK / wall;
    console.log(`idle ${kind}: ${(100 * own).toFixed(2)}% of one core (bridge), ${(100 * kids).toFixed(2)}% (programs it ran), over ${wall.toFixed(0)} s`);
  }
  await X.stop();
  await W?.stop();
}

const n = args[0] === "latency" ? Number(args[1] ?? 100) : args[0] === "idle" ? 0 : 100;
const s = args[0] === "idle" ? Number(args[1] ?? 60) : args[0] === "latency" ? 0 : 60;
if (n) await latency(n);
if (s) await idle(s);
process.exit(0);
