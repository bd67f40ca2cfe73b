// Processes for the benchmarks: every one is started here, remembered, and
// stopped by its pid (never by name); every wait is bounded. The orchestrator
// kills what is still live when its time limit passes.

import { existsSync } from "node:fs";

export type Proc = ReturnType<typeof Bun.spawn>;
type SpawnOptions = NonNullable<Parameters<typeof Bun.spawn>[1]>;

const live = new Set<Proc>();
/** Processes started as the leader of their own process group (shell pipelines): signalled as a group. */
const leaders = new WeakSet<Proc>();

export function spawn(cmd: string[], opts: SpawnOptions = {}): Proc {
  // A shell pipeline's cat and clip are the shell's children: in a group of their own, a
  // timeout or the time limit stops all of them through the shell's pid.
  const group = cmd[0] === "sh";
  const p = Bun.spawn(group ? ["setsid", ...cmd] : cmd, { stdin: "ignore", stdout: "ignore", stderr: "inherit", ...opts } as SpawnOptions);
  if (group) leaders.add(p);
  live.add(p);
  p.exited.then(() => live.delete(p));
  return p;
}

function signal(p: Proc, sig: NodeJS.Signals): void {
  if (p.exitCode !== null || p.signalCode !== null) return;
  try {
    process.kill(leaders.has(p) ? -p.pid : p.pid, sig);
  } catch {
    try {
      process.kill(p.pid, sig);
    } catch {}
  }
}

/** SIGTERM, then SIGKILL if it is still there after `graceMs`. */
export async function stop(p: Proc, graceMs = 5000): Promise<void> {
  signal(p, "SIGTERM");
  const t = setTimeout(() => signal(p, "SIGKILL"), graceMs);
  await p.exited;
  clearTimeout(t);
  live.delete(p);
}

/** Every process still running, each by its pid, at once: for the time limit and Ctrl-C. */
export function killAll(): void {
  for (const p of live) signal(p, "SIGKILL");
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => stop(p, 2000)));
}

export interface Ran {
  ms: number;
  stdout: string;
}

/**
 * Runs a command to its end, killed after `timeoutMs`; throws on a non-zero
 * exit with the end of its stderr. `ms` runs from just before the spawn to the
 * exit, the way a user's shell would time it.
 */
export async function run(
  cmd: string[],
  opts: { stdout?: "pipe" | "ignore" | number; stdin?: "ignore" | number; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Ran> {
  const t0 = performance.now();
  const p = spawn(cmd, { stdout: opts.stdout ?? "pipe", stdin: opts.stdin ?? "ignore", stderr: "pipe", env: opts.env ? { ...process.env, ...opts.env } : undefined });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    signal(p, "SIGKILL");
  }, opts.timeoutMs ?? 120_000);
  const out = p.stdout instanceof ReadableStream ? new Response(p.stdout).text() : Promise.resolve("");
  const err = p.stderr instanceof ReadableStream ? new Response(p.stderr).text() : Promise.resolve("");
  const code = await p.exited;
  const ms = performance.now() - t0;
  clearTimeout(timer);
  const [stdout, stderr] = await Promise.all([out, err]);
  if (timedOut) throw new Error(`${show(cmd)} did not finish in ${(opts.timeoutMs ?? 120_000) / 1000} s`);
  if (code !== 0) throw new Error(`${show(cmd)} exited with ${code}${stderr.trim() ? `: ${stderr.trim().slice(-400)}` : ""}`);
  return { ms, stdout };
}

const show = (cmd: string[]) => (cmd[0] === "sh" && cmd[1] === "-c" ? cmd[2] : cmd.join(" "));

/** Polls `cond` every 10 ms until it holds; throws after `timeoutMs`. */
export async function waitFor<T>(cond: () => T | Promise<T>, what: string, timeoutMs = 15_000): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await cond();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    await Bun.sleep(10);
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? ` (${(last as Error).message})` : ""}`);
}

/** Whether something accepts connections on this unix socket. */
export function canConnect(path: string): Promise<boolean> {
  if (!existsSync(path)) return Promise.resolve(false);
  return Bun.connect({ unix: path, socket: { data() {} } }).then(
    (s) => (s.end(), true),
    () => false,
  );
}

/** A loopback port nothing listens on now. */
export function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}

export function which(cmd: string): boolean {
  return cmd.startsWith("/") ? existsSync(cmd) : Bun.which(cmd) !== null;
}
