// What the 1 GiB rows share: a clip server storing on tmpfs, and socat
// counterparts on unix sockets with 1 MiB buffers (socat's fastest setting,
// where its default is 8 KiB).

import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { clipLabel, type Ctx } from "./row.ts";
import { type Proc, run, spawn, stop, waitFor } from "./proc.ts";
import type { Side } from "./rounds.ts";
import { gbps } from "./stats.ts";
import { type ClipServer, startClip } from "./servers.ts";

export const GIB = 1 << 30;

/** The value the throughput rows move: 1 GiB; 256 MiB in a --quick pass, which only checks the harness. */
export const bigSize = (ctx: Ctx) => (ctx.quick ? 256 << 20 : GIB);
export const sizeLabel = (bytes: number) => (bytes >= GIB ? `${bytes / GIB} GiB` : `${bytes >> 20} MiB`);
export const SOCAT_BUF = "-b1048576";

/**
 * One clip server per build, `--data` in the row's folder on tmpfs. Where the
 * server keeps history (`--history`), it keeps none: 10 rounds of 1 GiB
 * copies with 16 earlier values each would fill the machine's memory.
 */
export async function bigServers(ctx: Ctx): Promise<ClipServer[]> {
  const extra = ctx.serveHas("--history") ? ["--history", "0"] : [];
  const out: ClipServer[] = [];
  for (let b = 0; b < ctx.bins.length; b++) out.push(await startClip({ bin: ctx.bins[b], dir: ctx.dir, name: `${clipLabel(ctx, b).replace("#", "")}`, store: "data", extra }));
  return out;
}

export async function stopServers(servers: ClipServer[]): Promise<void> {
  for (const s of servers) await stop(s.proc);
}

/** The environment a user's `clip` command would have: the server's socket as the default. */
export const clipEnv = (s: ClipServer) => ({ CLIP_SOCKET: s.socket });

/**
 * A socat listening on a unix socket, copying what it receives into `to`
 * (a fresh file: the old one is removed first, as the server writes each
 * value to a new file). Resolves once listening; `done` when it has exited.
 */
export async function socatSink(dir: string, to: string): Promise<{ sock: string; done: Promise<number>; proc: Proc }> {
  const sock = join(dir, "sink.sock");
  rmSync(sock, { force: true });
  rmSync(to, { force: true });
  const proc = spawn(["socat", "-u", SOCAT_BUF, `UNIX-LISTEN:${sock}`, to === "/dev/null" ? "OPEN:/dev/null" : `CREATE:${to}`]);
  await waitFor(() => existsSync(sock) || proc.exitCode !== null, "socat to listen", 10_000);
  if (proc.exitCode !== null) throw new Error(`socat sink exited with ${proc.exitCode}`);
  return { sock, done: proc.exited, proc };
}

/** A socat serving `file` to the first client of a unix socket. */
export async function socatSource(dir: string, file: string): Promise<{ sock: string; done: Promise<number>; proc: Proc }> {
  const sock = join(dir, "source.sock");
  rmSync(sock, { force: true });
  const proc = spawn(["socat", "-u", SOCAT_BUF, `OPEN:${file}`, `UNIX-LISTEN:${sock}`]);
  await waitFor(() => existsSync(sock) || proc.exitCode !== null, "socat to listen", 10_000);
  if (proc.exitCode !== null) throw new Error(`socat source exited with ${proc.exitCode}`);
  return { sock, done: proc.exited, proc };
}

/**
 * The reference side of the copy rows: a fresh socat sink writing to a file
 * on tmpfs, and `send(sock)` (a command line) feeding it; GB/s of `bytes`
 * from the sender's spawn until both have exited.
 */
export function socatSinkSide(dir: string, bytes: number, send: (sock: string) => string[]): Side {
  return {
    name: "socat",
    once: async () => {
      const sink = await socatSink(dir, join(dir, "sink"));
      const t0 = performance.now();
      await run(send(sink.sock), { timeoutMs: 120_000 });
      await exitedOk(sink.done, "socat sink");
      return gbps(bytes, performance.now() - t0);
    },
  };
}

/** Awaits a socat's exit and checks it: a failed reference must not pass for a fast one. */
export async function exitedOk(done: Promise<number>, what: string): Promise<void> {
  const code = await done;
  if (code !== 0) throw new Error(`${what} exited with ${code}`);
}
