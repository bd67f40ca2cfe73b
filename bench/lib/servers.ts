// The servers a row measures against: clip (`clip serve`, driven as a black
// box through its command line) and redis-server, each on a unix socket in
// the row's temp folder, TCP on loopback only where a tree needs it.

import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Proc, canConnect, freePort, run, spawn, waitFor } from "./proc.ts";

export interface ClipServer {
  proc: Proc;
  socket: string;
  /** The loopback TCP port, when it listens on one. */
  port?: number;
  name: string;
  /** The server's stderr, kept in a file: warnings are read back into a row's notes. */
  log: string;
}

/** The warning and error lines a server has logged so far. */
export function warnings(s: ClipServer): string[] {
  try {
    return readFileSync(s.log, "utf8")
      .split("\n")
      .filter((l) => /\b(warn|error)\b/i.test(l));
  } catch {
    return [];
  }
}

export interface ClipServerOptions {
  bin: string;
  dir: string;
  name: string;
  store: "memory" | "data";
  /** Listen on loopback TCP (for a tree), with this token file. */
  tokenFile?: string;
  /** Join the server on this loopback port as its child. */
  parentPort?: number;
  /** Extra serve flags (e.g. --history 0). */
  extra?: string[];
  env?: Record<string, string>;
}

export async function startClip(o: ClipServerOptions): Promise<ClipServer> {
  const socket = join(o.dir, `${o.name}.sock`);
  const store = o.store === "memory" ? ["--memory"] : ["--data", join(o.dir, `data-${o.name}`)];
  const args = [o.bin, "serve", "--socket", socket, ...store, "--name", o.name, "--quiet", ...(o.extra ?? [])];
  let port: number | undefined;
  if (o.tokenFile) {
    port = freePort();
    args.push("--listen", `tcp:127.0.0.1:${port}`, "--token-file", o.tokenFile);
  }
  if (o.parentPort) args.push("--connect", `127.0.0.1:${o.parentPort}`);
  const log = join(o.dir, `${o.name}.log`);
  const fd = openSync(log, "a");
  const proc = spawn(args, { env: o.env ? { ...process.env, ...o.env } : undefined, stderr: fd });
  closeSync(fd);
  const server = { proc, socket, port, name: o.name, log };
  const tail = () => readFileSync(log, "utf8").trim().split("\n").slice(-3).join(" / ");
  try {
    await waitFor(async () => proc.exitCode === null && (await canConnect(socket)), `clip serve ${o.name}`);
    if (o.parentPort) await waitJoined(o.bin, server);
  } catch (e) {
    throw new Error(`${(e as Error).message}; its log: ${tail() || "(empty)"}`);
  }
  return server;
}

/** `clip status --json` of the server on this socket. */
export async function clipStatus(bin: string, socket: string): Promise<Record<string, unknown>> {
  return JSON.parse((await run([bin, "status", "--json", "--server", `unix:${socket}`], { timeoutMs: 10_000 })).stdout);
}

/** A child that has its parent's state (the `upstream` field, where the status has one). */
export async function joined(bin: string, socket: string): Promise<boolean> {
  const s = await clipStatus(bin, socket);
  return s.role === "child" && (s.upstream === undefined || s.upstream === "synced");
}

export async function waitJoined(bin: string, s: ClipServer, timeoutMs = 60_000): Promise<void> {
  await waitFor(() => joined(bin, s.socket), `${s.name} to join its parent`, timeoutMs);
}

/** The last write a server has applied, from its status (`rev`, or `seq` in older builds); null when it shows neither. */
export async function lastApplied(bin: string, s: ClipServer): Promise<number | null> {
  const st = await clipStatus(bin, s.socket);
  const x = st.rev ?? st.seq;
  return typeof x === "number" ? x : null;
}

export interface RedisServer {
  proc: Proc;
  socket: string;
  port: number;
}

export interface RedisOptions {
  dir: string;
  name: string;
  /** "off" (no AOF, Redis's default), or the appendfsync policy. */
  aof?: "off" | "no" | "everysec" | "always";
  /** Replicate the server on this loopback port. */
  replicaOf?: number;
  /** Listen on loopback TCP too (a replica chain needs it). */
  tcp?: boolean;
  maxclients?: number;
}

export async function startRedis(o: RedisOptions): Promise<RedisServer> {
  const dir = join(o.dir, `redis-${o.name}`);
  mkdirSync(dir, { recursive: true });
  const socket = join(o.dir, `${o.name}.rsock`);
  const port = o.tcp || o.replicaOf ? freePort() : 0;
  const aof = o.aof ?? "off";
  const persist = aof === "off" ? ["--appendonly", "no"] : ["--appendonly", "yes", "--appendfsync", aof];
  const args = ["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--unixsocket", socket, "--save", "", ...persist, "--dir", dir, "--daemonize", "no", "--loglevel", "warning"];
  if (o.maxclients) args.push("--maxclients", String(o.maxclients));
  if (o.replicaOf) args.push("--replicaof", "127.0.0.1", String(o.replicaOf));
  const proc = spawn(args);
  await waitFor(async () => proc.exitCode === null && (await canConnect(socket)), `redis-server ${o.name}`);
  return { proc, socket, port };
}
