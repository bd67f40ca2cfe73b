// What the hardening tools (fuzz, chaos, load) and their test slices share:
// a seeded random source, the RSS of a process, raw frame sockets that speak
// only as much of the protocol as a hostile peer needs, and the TCP address
// a spawned server logged. Everything here targets loopback or unix sockets.

import { readFileSync } from "node:fs";
import { clientProof, nonce } from "../src/protocol/proof.ts";
import { FrameDecoder, FrameType, PROTOCOL_VERSION, encodeFrame, type Frame } from "../src/protocol/frame.ts";

/** mulberry32: small, fast and the same on every run for one seed. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

/** Resident set size of a process in KiB (Linux /proc), 0 if it is gone. */
export function rssKb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Open file descriptors of a process (Linux /proc). */
export function fdCount(pid: number): number {
  try {
    return require("node:fs").readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The TCP port a server logged in its "listening" line. */
export function loggedTcpPort(stderr: string): number {
  const m = /listening:? .*tcp:(?:\[[^\]]*\]|[0-9.]+):(\d+)/.exec(stderr);
  if (!m) throw new Error(`no tcp listener in the server's log:\n${stderr}`);
  return Number(m[1]);
}

export type Target = { unix: string } | { host: string; port: number };

/**
 * A raw connection: bytes out exactly as given, frames in as decoded (bad
 * bytes from the server are recorded, not thrown). No queue, no politeness.
 */
export class RawConn {
  frames: Frame[] = [];
  closed = false;
  serverError: string | null = null;
  private readonly decoder = new FrameDecoder();
  private waiters: (() => void)[] = [];
  private sock!: { write(b: Uint8Array): number; end(): void; terminate?(): void; pause?(): void };
  private reading = true;
  private pending: Uint8Array[] = [];

  static async open(t: Target): Promise<RawConn> {
    const c = new RawConn();
    const socket = {
      data: (_s: unknown, chunk: Uint8Array) => {
        if (!c.reading) return;
        try {
          c.frames.push(...c.decoder.push(chunk));
        } catch (e) {
          c.serverError = String(e);
        }
        c.wake();
      },
      drain: () => c.flush(),
      close: () => c.onClose(),
      error: () => c.onClose(),
      connectError: () => c.onClose(),
    };
    c.sock = "unix" in t ? await Bun.connect({ unix: t.unix, socket }) : await Bun.connect({ hostname: t.host, port: t.port, socket });
    return c;
  }

  private onClose(): void {
    this.closed = true;
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Stops reading: the server's writes fill the kernel buffers, then its own queue. */
  stopReading(): void {
    this.reading = false;
    this.sock.pause?.();
  }

  /** Writes bytes; what the kernel does not take now leaves on drain. */
  write(b: Uint8Array): void {
    if (this.closed) return;
    this.pending.push(b);
    this.flush();
  }

  private flush(): void {
    while (this.pending.length > 0 && !this.closed) {
      const head = this.pending[0];
      const n = this.sock.write(head);
      if (n <= 0) return;
      if (n === head.length) this.pending.shift();
      else {
        this.pending[0] = head.subarray(n);
        return;
      }
    }
  }

  get unsent(): number {
    return this.pending.reduce((a, b) => a + b.length, 0);
  }

  /** Resolves when `cond` holds, the connection closes, or `ms` pass. Returns cond(). */
  async until(cond: () => boolean, ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (!cond() && !this.closed) {
      const left = end - Date.now();
      if (left <= 0) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return cond();
  }

  /** The reply (RES or ERR) on stream `id`, or null. */
  reply(id: number): Frame | undefined {
    return this.frames.find((f) => f.id === id && (f.type === FrameType.RES || f.type === FrameType.ERR));
  }

  async call(id: number, meta: Record<string, unknown>, ms = 5000): Promise<Frame | undefined> {
    this.write(encodeFrame(FrameType.REQ, id, meta));
    await this.until(() => !!this.reply(id), ms);
    return this.reply(id);
  }

  /** hello, then (TCP with a token) the proof; returns whether the session is ready. */
  async handshake(token?: string): Promise<boolean> {
    const w = await this.call(0x7fff0001, { op: "hello", v: PROTOCOL_VERSION, kind: "lib", pid: process.pid, name: "raw" });
    if (!w || w.type !== FrameType.RES) return false;
    if (w.meta.auth !== "token") return true;
    if (!token) return false;
    const cnonce = nonce();
    const r = await this.call(0x7fff0002, { op: "auth", cnonce, proof: clientProof(token, String(w.meta.nonce), cnonce) });
    return !!r && r.type === FrameType.RES;
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.sock.end();
    } catch {}
  }
}

/**
 * An attacker guessing the cluster token: `conns` connections at once, each
 * saying hello and proving a wrong token, again and again for `ms`. Returns
 * how many guesses the server answered (each answer tells the attacker one
 * token was wrong) and how many were verified in all.
 */
export async function guessTokens(t: Target, conns: number, ms: number): Promise<{ answered: number; perSecond: number }> {
  const end = Date.now() + ms;
  let answered = 0;
  const one = async () => {
    while (Date.now() < end) {
      let c: RawConn;
      try {
        c = await RawConn.open(t);
      } catch {
        await Bun.sleep(10);
        continue;
      }
      try {
        const w = await c.call(1, { op: "hello", v: PROTOCOL_VERSION, kind: "lib" }, end - Date.now());
        if (!w || w.type !== FrameType.RES) continue;
        const cnonce = nonce();
        const r = await c.call(2, { op: "auth", cnonce, proof: clientProof(`guess-${Math.random()}`, String(w.meta.nonce), cnonce) }, Math.max(1, end - Date.now()));
        // Only an AUTH answer tells the attacker a guess was checked and wrong
        // (BUSY and timeouts are refusals without a check).
        if (r?.meta.code === "AUTH" && Date.now() <= end) answered++;
        else if (!r) await c.until(() => false, Math.max(0, end - Date.now()));
      } finally {
        c.end();
      }
    }
  };
  await Promise.all(Array.from({ length: conns }, one));
  return { answered, perSecond: answered / (ms / 1000) };
}
