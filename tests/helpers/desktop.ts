// Fixtures for the desktop bridge: real displays (Xvfb, headless sway) to
// bridge, and an in-memory region standing in for the clip tree, shared by
// any number of bridges, that counts the writes it is given. Every process
// is stopped by its pid when disposed.

import { chownSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { ClipError } from "../../src/protocol/errors.ts";
import type { DesktopBackend } from "../../src/desktop/backend.ts";
import { type BridgeOptions, type BridgeStats, runBridge } from "../../src/desktop/bridge.ts";
import type { RegionChange, RegionPort, RegionState, ReadOptions } from "../../src/desktop/port.ts";
import { waitFor } from "./clip.ts";

export const haveXvfb = !!Bun.which("Xvfb") && !!Bun.which("xclip");
export const haveSway = !!Bun.which("sway") && !!Bun.which("wl-copy") && !!Bun.which("wl-paste") && !!Bun.which("setpriv");

/** One region of the "tree": its history of changes, live to every port. */
export class FakeRegion {
  readonly log: RegionChange[] = [];
  private rev = 0;
  private waiters = new Set<() => void>();
  private down = false;
  private epoch = 0;
  /** Writes made through a bridge's port (not through `writeElsewhere`). */
  portWrites = 0;
  /** Called as a port's write is applied, before its change goes out. */
  onPortWrite: (() => void) | null = null;

  private push(c: RegionChange) {
    this.log.push(c);
    for (const w of this.waiters) w();
  }

  /** A write made elsewhere in the tree (`clip copy R` on some machine). */
  writeElsewhere(bytes: Uint8Array | string, type = "text/plain;charset=utf-8"): number {
    const b = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
    this.push({ kind: "write", rev: ++this.rev, type, size: b.length, bytes: b, at: Date.now() });
    return this.rev;
  }

  /** The current value expires (as `--ttl` would). */
  expire(): number {
    const cur = this.current();
    if (!cur) throw new Error("nothing to expire");
    this.push({ kind: "expire", rev: ++this.rev, expired: cur.rev });
    return this.rev;
  }

  current(): (RegionChange & { kind: "write" }) | null {
    const last = [...this.log].reverse().find((c) => c.kind !== "unreadable");
    return last?.kind === "write" ? last : null;
  }

  /** The server goes away: streams end with LOST, calls fail with NOSERVER until `up()`. */
  goDown() {
    this.down = true;
    this.epoch++;
    for (const w of this.waiters) w();
  }
  up() {
    this.down = false;
  }

  writesSince(i: number) {
    return this.log.slice(i).filter((c) => c.kind === "write");
  }

  port(): RegionPort {
    const region = this;
    const cap = (c: RegionChange, o?: ReadOptions): RegionChange =>
      c.kind === "write" && o?.maxBytes !== undefined && c.size > o.maxBytes ? { ...c, bytes: null } : c;
    return {
      async current(o?: ReadOptions): Promise<RegionState> {
        if (region.down) throw new ClipError("NOSERVER", "no server (fake)");
        const cur = region.current();
        return { rev: region.rev, value: cur ? (cap(cur, o) as RegionChange & { kind: "write" }) : null };
      },
      async *changes(since: number, o?: ReadOptions): AsyncIterable<RegionChange> {
        if (region.down) throw new ClipError("NOSERVER", "no server (fake)");
        const epoch = region.epoch;
        let i = region.log.findIndex((c) => c.rev > since);
        if (i < 0) i = region.log.length;
        for (;;) {
          if (o?.signal?.aborted) return;
          if (region.epoch !== epoch) throw new ClipError("LOST", "connection lost (fake)");
          if (i < region.log.length) {
            yield cap(region.log[i++], o);
            continue;
          }
          await new Promise<void>((r) => {
            const done = () => {
              region.waiters.delete(done);
              o?.signal?.removeEventListener("abort", done);
              r();
            };
            region.waiters.add(done);
            o?.signal?.addEventListener("abort", done, { once: true });
          });
        }
      },
      async write(bytes: Uint8Array, type: string): Promise<number> {
        if (region.down) throw new ClipError("NOSERVER", "no server (fake)");
        region.portWrites++;
        region.onPortWrite?.();
        return region.writeElsewhere(new Uint8Array(bytes), type);
      },
    };
  }
}

export interface Display extends AsyncDisposable {
  env: Record<string, string>;
  pid: number;
  /** Runs a command on this display to completion: its stdout as bytes, exit code. */
  sh(argv: string[], stdin?: Uint8Array | string): Promise<{ code: number; out: Uint8Array }>;
  stop(): Promise<void>;
}

/** Hung calls are killed after 3 s: an X client asking an owner that is going away can wait forever. */
async function runOn(env: Record<string, string>, argv: string[], stdin?: Uint8Array | string) {
  const p = Bun.spawn(argv, {
    env: { ...process.env, ...env },
    stdin: stdin === undefined ? "ignore" : typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin,
    stdout: "pipe",
    stderr: "ignore",
  });
  const timer = setTimeout(() => {
    console.error(`desktop helper: ${argv.join(" ")} hung: killed`);
    p.kill(9);
  }, 3000);
  const out = await new Response(p.stdout).bytes();
  const code = await p.exited;
  clearTimeout(timer);
  return { code, out };
}

/** An Xauthority file holding one MIT-MAGIC-COOKIE-1 for any host and display (FamilyWild), as Xlib reads it. */
export function xauthFile(path: string, cookie: Uint8Array): string {
  const name = new TextEncoder().encode("MIT-MAGIC-COOKIE-1");
  const f = (b: Uint8Array) => [b.length >> 8, b.length & 255, ...b];
  require("node:fs").writeFileSync(path, new Uint8Array([0xff, 0xff, ...f(new Uint8Array(0)), ...f(new Uint8Array(0)), ...f(name), ...f(cookie)]), { mode: 0o600 });
  return path;
}

/**
 * A fresh X server on a free display number (Xvfb picks it and tells us
 * through -displayfd). With `auth`, it admits only clients with that
 * Xauthority's cookie, as a desktop session's server does.
 */
export async function startXvfb(auth?: string): Promise<Display> {
  const proc = Bun.spawn(["Xvfb", "-displayfd", "1", "-nolisten", "tcp", ...(auth ? ["-auth", auth] : []), "-screen", "0", "320x200x24"], { stdout: "pipe", stderr: "ignore" });
  const reader = proc.stdout.getReader();
  let text = "";
  const deadline = Date.now() + 15_000;
  while (!text.includes("\n") && Date.now() < deadline) {
    const { done, value } = await Promise.race([reader.read(), Bun.sleep(15_000).then(() => ({ done: true, value: undefined }))]);
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  if (!/^[0-9]+\n/.test(text)) {
    proc.kill(9);
    throw new Error(`Xvfb did not start: ${JSON.stringify(text)}`);
  }
  const env: Record<string, string> = { DISPLAY: `:${text.trim()}`, ...(auth ? { XAUTHORITY: auth } : {}) };
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill();
    await proc.exited;
  };
  return { env, pid: proc.pid, sh: (a, s) => runOn(env, a, s), stop, [Symbol.asyncDispose]: stop };
}

const SWAY_USER = "clipwl";

/** The unprivileged user sway runs as (sway will not run as root); created when missing. */
async function swayUser(): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return { uid: process.getuid!(), gid: process.getgid!() };
  const id = async (flag: string) => {
    const r = await runOn({}, ["id", flag, SWAY_USER]);
    return r.code === 0 ? Number(new TextDecoder().decode(r.out).trim()) : null;
  };
  if ((await id("-u")) === null) await runOn({}, ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SWAY_USER]);
  const [uid, gid] = [await id("-u"), await id("-g")];
  return uid === null || gid === null ? null : { uid, gid };
}

/** A headless wlroots compositor (sway), with its own runtime dir and Wayland socket. */
export async function startSway(): Promise<Display> {
  const user = await swayUser();
  if (!user) throw new Error(`cannot create the user ${SWAY_USER} to run sway`);
  const dir = mkdtempSync("/tmp/cwl-");
  chownSync(dir, user.uid, user.gid);
  const conf = `${dir}/conf`;
  await Bun.write(conf, "");
  const env = { XDG_RUNTIME_DIR: dir, WLR_BACKENDS: "headless", WLR_LIBINPUT_NO_DEVICES: "1", WLR_RENDERER: "pixman", PATH: "/usr/bin:/bin", HOME: dir };
  const argv = ["sway", "--config", conf];
  const proc = Bun.spawn(process.getuid?.() === 0 ? ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", ...argv] : argv, {
    env,
    stdout: "ignore",
    stderr: "ignore",
  });
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill();
    await proc.exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const sock = await waitFor(() => readdirSync(dir).find((f) => /^wayland-[0-9]+$/.test(f)), 15_000, "sway's Wayland socket");
    const denv = { XDG_RUNTIME_DIR: dir, WAYLAND_DISPLAY: sock };
    // Ready when a client gets an answer from it.
    await waitFor(async () => (await runOn(denv, ["wl-copy", "--clear"])).code === 0, 15_000, "sway to answer wl-copy");
    return { env: denv, pid: proc.pid, sh: (a, s) => runOn(denv, a, s), stop, [Symbol.asyncDispose]: stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** A PNG of about `size` bytes (a valid header and IHDR, then noise in a private chunk): images must travel byte-exact. */
export function fakePng(size: number, seed = 1): Uint8Array {
  const b = new Uint8Array(size);
  b.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  let x = seed * 2654435761;
  for (let i = 8; i < size; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    b[i] = x & 0xff;
  }
  return b;
}


/** This process's children running `name` (the bridges under test run in-process), optionally with `arg` among their arguments. */
export function childPids(name: string, arg?: string): number[] {
  const fs = require("node:fs") as typeof import("node:fs");
  const out: number[] = [];
  for (const d of fs.readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(d)) continue;
    try {
      const m = /^[0-9]+ \((.*)\) \S+ ([0-9]+)/.exec(fs.readFileSync(`/proc/${d}/stat`, "utf8"));
      if (!m || m[1] !== name || Number(m[2]) !== process.pid) continue;
      if (arg && !fs.readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0").includes(arg)) continue;
      out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * Every process but `except` whose environment names this display (the
 * xclip and wl-copy owners a bridge leaves holding the clipboard, on
 * purpose, and the tests' own "applications"), killed by pid: called before
 * the display itself is stopped.
 */
export function stopClientsOf(d: Display): number[] {
  const fs = require("node:fs") as typeof import("node:fs");
  const marks = Object.entries(d.env).map(([k, v]) => `${k}=${v}`);
  const killed: number[] = [];
  for (const p of fs.readdirSync("/proc")) {
    const pid = Number(p);
    if (!Number.isInteger(pid) || pid === d.pid || pid === process.pid) continue;
    try {
      const env = fs.readFileSync(`/proc/${pid}/environ`, "latin1").split("\0");
      if (!marks.every((m) => env.includes(m))) continue;
      process.kill(pid, "SIGKILL");
      killed.push(pid);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return killed;
}

export interface DesktopBridge extends AsyncDisposable {
  proc: ReturnType<typeof Bun.spawn>;
  /** Its log lines so far (stderr), without their time stamps. */
  lines(): string[];
  /** Waits for a log line containing `text`, among the lines after the first `from`. */
  logged(text: string, from?: number, timeoutMs?: number): Promise<void>;
  /** How many log lines contain `text`. */
  count(text: string): number;
  /** Sends a signal and waits for the exit status. */
  stop(signal?: NodeJS.Signals): Promise<number>;
}

/**
 * `clip desktop ARGS` from the compiled binary on a display, started and
 * waited for until it logs "ready" (or exits); killed by pid when disposed.
 */
export async function startDesktop(bin: string, args: string[], env: Record<string, string | undefined>, o: { ready?: boolean } = {}): Promise<DesktopBridge> {
  const full: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, NO_COLOR: "1", ...env })) if (v !== undefined) full[k] = v;
  const proc = Bun.spawn([bin, "desktop", ...args], { env: full, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const lines: string[] = [];
  let partial = "";
  const reading = (async () => {
    const dec = new TextDecoder();
    for await (const c of proc.stderr as ReadableStream<Uint8Array>) {
      const text = partial + dec.decode(c, { stream: true });
      const parts = text.split("\n");
      partial = parts.pop()!;
      for (const l of parts) lines.push(l.replace(/^\S+ clip desktop: /, ""));
    }
    if (partial) lines.push(partial);
  })();
  const has = (text: string, from = 0) => lines.slice(from).some((l) => l.includes(text));
  const bridge: DesktopBridge = {
    proc,
    lines: () => [...lines],
    async logged(text, from = 0, timeoutMs = 15_000) {
      await waitFor(() => has(text, from) || proc.exitCode !== null, timeoutMs, `"${text}"`).catch((e) => {
        throw new Error(`${e.message}; the bridge's log: ${lines.join(" | ")}`);
      });
      if (!has(text, from)) throw new Error(`the bridge exited (${proc.exitCode}) before logging "${text}": ${lines.join(" | ")}`);
    },
    count: (text) => lines.filter((l) => l.includes(text)).length,
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) process.kill(proc.pid, signal);
      const code = await proc.exited;
      await reading;
      return code;
    },
    async [Symbol.asyncDispose]() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(9);
      await proc.exited;
    },
  };
  if (o.ready ?? true) {
    try {
      await bridge.logged("ready");
    } catch (e) {
      await bridge[Symbol.asyncDispose]();
      throw e;
    }
  }
  return bridge;
}

/** A bridge running in this process: its log lines, its stats once it ends; disposing stops it. */
export interface InProcessBridge extends AsyncDisposable {
  lines: string[];
  stats: Promise<BridgeStats>;
}

/**
 * Runs the bridge between `region` (its port) and `backend` until disposed;
 * resolves once it is ready (or has ended). Region 0 and a 200 ms backoff
 * cap unless `o` says otherwise.
 */
export async function startBridge(region: FakeRegion, backend: DesktopBackend, o: Partial<BridgeOptions> = {}): Promise<InProcessBridge> {
  const ac = new AbortController();
  const lines: string[] = [];
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  const stats = runBridge({ region: 0, port: region.port(), backend, log: (l) => lines.push(l), signal: ac.signal, onReady: ready, maxBackoffMs: 200, ...o });
  await Promise.race([isReady, stats]);
  return {
    lines,
    stats,
    async [Symbol.asyncDispose]() {
      ac.abort();
      await stats;
    },
  };
}
