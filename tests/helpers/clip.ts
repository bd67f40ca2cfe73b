// Test fixtures: real servers from the compiled binary, on sockets in short
// per-test temp folders, stopped by pid when the test is done.

import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";

export const BIN = resolve(import.meta.dir, "../../dist/clip");

/** A short temp folder (unix socket paths are limited to ~104 bytes). */
export function tempDir(prefix = "c"): string & Disposable {
  const dir = mkdtempSync(`/tmp/${prefix}-`);
  return Object.assign(new String(dir) as unknown as string, {
    [Symbol.dispose]() {
      rmSync(dir, { recursive: true, force: true });
    },
    toString: () => dir,
    valueOf: () => dir,
  });
}

/** Polls until `cond` is true (or returns a truthy value); fails after `timeoutMs`. */
export async function waitFor<T>(cond: () => T | Promise<T>, timeoutMs = 10_000, what = "condition"): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await cond();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    await Bun.sleep(20);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
}

export interface RunResult {
  code: number;
  stdout: Uint8Array;
  text: string;
  stderr: string;
}

export interface RunOptions {
  stdin?: Uint8Array | string | Blob | "ignore";
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
}

/** Runs the compiled binary to completion. */
export async function clip(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const proc = Bun.spawn([BIN, ...args], {
    stdin: opts.stdin === undefined || opts.stdin === "ignore" ? "ignore" : typeof opts.stdin === "string" ? new TextEncoder().encode(opts.stdin) : opts.stdin,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", ...opts.env },
  });
  const timer = setTimeout(() => proc.kill(9), opts.timeoutMs ?? 30_000);
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).bytes(), new Response(proc.stderr).text()]);
  const code = await proc.exited;
  clearTimeout(timer);
  return { code, stdout, text: new TextDecoder().decode(stdout), stderr };
}

export interface ServerHandle extends AsyncDisposable {
  socket: string;
  dir: string;
  data: string;
  proc: ReturnType<typeof Bun.spawn>;
  pid: number;
  stderr(): string;
  /** Runs a client command against this server. */
  run(args: string[], opts?: RunOptions): Promise<RunResult>;
  stop(signal?: NodeJS.Signals | number): Promise<number>;
}

export interface ServeOptions {
  args?: string[];
  memory?: boolean;
  dir?: string;
  /** Reuse a data folder (restart after kill -9). */
  data?: string;
  env?: Record<string, string>;
  /** Wait for this TCP address to accept too (when --listen is given). */
  name?: string;
}

/** Starts `clip serve` on a fresh socket; resolves once it accepts connections. */
export async function startServer(opts: ServeOptions = {}): Promise<ServerHandle> {
  const dir = opts.dir ?? mkdtempSync("/tmp/cs-");
  const socket = join(dir, "s.sock");
  const data = opts.data ?? join(dir, "data");
  const args = [BIN, "serve", "--socket", socket, ...(opts.memory ? ["--memory"] : ["--data", data]), "--name", opts.name ?? "t", ...(opts.args ?? [])];
  let err = "";
  const proc = Bun.spawn(args, { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", ...opts.env } });
  (async () => {
    const dec = new TextDecoder();
    for await (const c of proc.stderr as ReadableStream<Uint8Array>) err += dec.decode(c, { stream: true });
  })();
  const handle: ServerHandle = {
    socket,
    dir,
    data,
    proc,
    pid: proc.pid,
    stderr: () => err,
    run: (a, o) => clip([...a, "--server", `unix:${socket}`], o),
    async stop(signal: NodeJS.Signals | number = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) process.kill(proc.pid, signal);
      return await proc.exited;
    },
    async [Symbol.asyncDispose]() {
      if (proc.exitCode === null && proc.signalCode === null) {
        process.kill(proc.pid, "SIGKILL");
        await proc.exited;
      }
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitFor(async () => {
      if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}: ${err}`);
      if (!existsSync(socket)) return false;
      return await Bun.connect({ unix: socket, socket: { data() {} } }).then(
        (s) => (s.end(), true),
        () => false,
      );
    }, 10_000, `server on ${socket}`);
    await waitFor(() => /listening/.test(err), 5_000, "the listening log line");
  } catch (e) {
    await handle[Symbol.asyncDispose]();
    throw e;
  }
  return handle;
}

/** Random bytes (crypto-quality not needed; fast for large sizes). */
export function randomBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  const words = new Uint32Array(out.buffer, 0, Math.floor(n / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  for (let i = words.length * 4; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
}

/** The TCP address a server bound (port 0 resolved), read from its "listening" log line. */
export function tcpAddressOf(s: ServerHandle): string {
  const m = /listening:? .*?(tcp:(?:\[[^\]]+\]|[^ :]+):[0-9]+)/.exec(s.stderr());
  if (!m) throw new Error(`no TCP listener in the server's log: ${s.stderr()}`);
  return m[1];
}

/** A running command whose stdout is gathered as it arrives (wait --follow, a copy fed by hand). */
export function spawnClip(args: string[], opts: { stdin?: "pipe" | "ignore"; env?: Record<string, string | undefined> } = {}) {
  const proc = Bun.spawn([BIN, ...args], {
    stdin: opts.stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", ...opts.env },
  });
  const chunks: Uint8Array[] = [];
  let err = "";
  const reading = (async () => {
    for await (const c of proc.stdout as ReadableStream<Uint8Array>) chunks.push(c);
  })();
  (async () => {
    const dec = new TextDecoder();
    for await (const c of proc.stderr as ReadableStream<Uint8Array>) err += dec.decode(c, { stream: true });
  })();
  return {
    proc,
    stdout: () => Buffer.concat(chunks),
    text: () => Buffer.concat(chunks).toString("utf8"),
    stderr: () => err,
    /** Waits for exit and for stdout to be read to its end. */
    async exited(): Promise<number> {
      const code = await proc.exited;
      await reading;
      return code;
    },
    async [Symbol.asyncDispose]() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill(9);
        await proc.exited;
      }
    },
  };
}
