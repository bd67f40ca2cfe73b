// Chaos (`npm run chaos`): a tree of 8 servers on loopback under a steady
// load of copies and kv puts; again and again one server (now and then the
// root) is killed with SIGKILL and restarted on the same --data, and rejoins.
// At the end every server must hold the same regions, groups and keys, and
// every write a client saw acknowledged must be there unless a later write
// by the same writer superseded it (bench/workload.ts keeps the log).
//
//   npm run chaos -- [--rounds 20] [--seed 1] [--servers 8]
//   npm run chaos -- --single [--rounds 40]   one server, kill -9 under load (durability)

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "../src/client/client.ts";
import { Rng, alive } from "./harness.ts";
import { AckLog, type Target, reader, runWriter } from "./workload.ts";

export interface ChaosOptions {
  servers: number;
  rounds: number;
  seed: number;
  /** Writers; each sticks to one server and owns its own targets. */
  writers: number;
  /** Give up waiting for convergence after this. */
  convergeMs: number;
  log?: (line: string) => void;
}

export interface ChaosReport {
  servers: number;
  rounds: number;
  kills: number;
  rootKills: number;
  writesAcked: number;
  writeFailures: number;
  /** Acknowledged writes missing at the end, over all servers: must be 0. */
  lost: string[];
  converged: boolean;
  convergeSeconds: number;
  /** convergeSeconds counts from the last restart (rejoin, merge, the stream) to identical state everywhere. */
  /** Servers whose state differs from server 0's at the end. */
  diverged: string[];
  seconds: number;
}

interface Proc {
  i: number;
  dir: string;
  port: number;
  parent: number | null;
  proc: ReturnType<typeof Bun.spawn> | null;
  err: string;
}

async function freePort(): Promise<number> {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}

export async function chaos(o: ChaosOptions, bin: string): Promise<ChaosReport> {
  const start = Date.now();
  const rng = new Rng(o.seed);
  const root = mkdtempSync("/tmp/chaos-");
  const tokenFile = join(root, "token");
  const token = `chaos-${o.seed}-${Math.random().toString(36).slice(2)}`;
  writeFileSync(tokenFile, token, { mode: 0o600 });
  // A tree: server i's parent is (i - 1) / 2, so the root has two children, and so on.
  const procs: Proc[] = [];
  for (let i = 0; i < o.servers; i++) procs.push({ i, dir: join(root, `s${i}`), port: await freePort(), parent: i === 0 ? null : Math.floor((i - 1) / 2), proc: null, err: "" });
  const sock = (p: Proc) => join(p.dir, "s.sock");

  const spawn = async (p: Proc) => {
    const args = [bin, "serve", "--socket", sock(p), "--data", join(p.dir, "data"), "--name", `s${p.i}`, "--listen", `tcp:127.0.0.1:${p.port}`, "--token-file", tokenFile];
    if (p.parent !== null) args.push("--connect", `tcp:127.0.0.1:${procs[p.parent].port}`);
    require("node:fs").mkdirSync(p.dir, { recursive: true });
    p.err = "";
    const proc = Bun.spawn(args, { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", CLIP_TOKEN: "" } });
    p.proc = proc;
    (async () => {
      const dec = new TextDecoder();
      for await (const c of proc.stderr as ReadableStream<Uint8Array>) p.err = (p.err + dec.decode(c, { stream: true })).slice(-20_000);
    })();
    const until = Date.now() + 15_000;
    while (Date.now() < until) {
      if (proc.exitCode !== null) throw new Error(`s${p.i} exited ${proc.exitCode}: ${p.err}`);
      if (/listening/.test(p.err)) return;
      await Bun.sleep(20);
    }
    throw new Error(`s${p.i} did not start: ${p.err}`);
  };
  const kill = async (p: Proc) => {
    p.proc?.kill(9);
    await p.proc?.exited;
  };

  const report: ChaosReport = { servers: o.servers, rounds: o.rounds, kills: 0, rootKills: 0, writesAcked: 0, writeFailures: 0, lost: [], converged: false, convergeSeconds: 0, diverged: [], seconds: 0 };
  try {
    for (const p of procs) await spawn(p);
    // Every server joined: the tree as the root sees it holds them all.
    const rootClient = await Client.connect({ server: `unix:${sock(procs[0])}` });
    await waitUntil(async () => countTree(await rootClient.tree()) === o.servers, 30_000, "the tree to form");
    const secret = await rootClient.groups.create("chaos");
    rootClient.close();
    const group = { group: "chaos", secret };
    // The group must have reached every server before writers use it there.
    for (const p of procs) {
      await waitUntil(
        async () => {
          const c = await Client.connect({ server: `unix:${sock(p)}` });
          try {
            return await c.kv(group).then(() => true, () => false);
          } finally {
            c.close();
          }
        },
        15_000,
        `the group on s${p.i}`,
      );
    }

    const log = new AckLog();
    const targets: Target[] = [];
    const specs = Array.from({ length: o.writers }, (_, w) => {
      const p = procs[w % o.servers];
      const mine: Target[] = w < 9 ? [{ kind: "region", name: String(w), writer: w }] : [0, 1].map((k) => ({ kind: "key" as const, name: `w${w}/k${k}`, writer: w }));
      targets.push(...mine);
      return { server: () => `unix:${sock(p)}`, targets: mine, group };
    });
    const stop = { stopped: false };
    const running = specs.map((s, i) => runWriter(s, i, log, stop));

    for (let round = 0; round < o.rounds; round++) {
      await Bun.sleep(300 + rng.int(1200));
      const victim = rng.chance(0.2) ? procs[0] : procs[1 + rng.int(o.servers - 1)];
      if (victim.i === 0) report.rootKills++;
      report.kills++;
      await kill(victim);
      await Bun.sleep(rng.int(500));
      await spawn(victim);
      o.log?.(`round ${round + 1}: killed and restarted s${victim.i}; ${log.writes} writes acknowledged so far`);
    }
    // Convergence is timed from the last restart: the server has to rejoin
    // and merge, and the load stops at once.
    const t0 = Date.now();
    stop.stopped = true;
    await Promise.all(running);
    report.writesAcked = log.writes;
    report.writeFailures = log.failures;

    // Convergence: every server's whole state equal to every other's.
    let states: string[] = [];
    const deadline = t0 + o.convergeMs;
    while (Date.now() < deadline) {
      states = await Promise.all(procs.map((p) => fingerprint(`unix:${sock(p)}`, group).catch((e) => `error: ${e}`)));
      if (states.every((s) => s === states[0]) && !states[0].startsWith("error")) {
        report.converged = true;
        break;
      }
      await Bun.sleep(200);
    }
    report.convergeSeconds = (Date.now() - t0) / 1000;
    report.diverged = procs.filter((p, i) => states[i] !== states[0]).map((p) => `s${p.i}`);
    for (const p of procs) {
      const r = await reader(`unix:${sock(p)}`, undefined, group);
      for (const line of await log.verify(targets, r.read)) report.lost.push(`s${p.i} ${line}`);
      r.close();
    }
  } finally {
    for (const p of procs) await kill(p);
    for (const p of procs) if (p.proc && !alive(p.proc.pid)) p.proc = null;
    if (report.lost.length || !report.converged) o.log?.(procs.map((p) => `--- s${p.i}\n${p.err.slice(-1500)}`).join("\n"));
    rmSync(root, { recursive: true, force: true });
  }
  report.seconds = (Date.now() - start) / 1000;
  return report;
}

function countTree(t: Record<string, unknown>): number {
  const walk = (n: unknown): number => {
    if (!n || typeof n !== "object") return 0;
    const kids = (n as { children?: unknown[] }).children ?? [];
    return 1 + kids.reduce((a: number, k) => a + walk(k), 0);
  };
  return walk(t.root);
}

async function waitUntil(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      if (await cond()) return;
    } catch {}
    await Bun.sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A server's whole state as one string: regions, groups (names), keys and values. */
async function fingerprint(server: string, group: { group: string; secret: string }): Promise<string> {
  const c = await Client.connect({ server, timeoutMs: 3000 });
  try {
    const dec = new TextDecoder();
    const regions: string[] = [];
    for (let r = 0; r < 10; r++) regions.push(dec.decode(await c.paste(r)));
    const groups = (await c.groups.list()).map((g) => g.group).sort();
    const kv = await c.kv(group);
    const keys: string[] = [];
    for (const k of await kv.list()) keys.push(`${k.key}=${dec.decode(await kv.get(k.key))}`);
    return JSON.stringify({ regions, groups, keys: keys.sort() });
  } finally {
    c.close();
  }
}

function flag(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

/**
 * One server, kill -9 at random moments under load (half the writers with
 * 100 KiB values, which live in files), restarted on the same --data; the
 * acknowledged-writes log is checked after every restart.
 */
export async function durability(rounds: number, seed: number, log?: (l: string) => void): Promise<{ rounds: number; acked: number; ackedPerRound: number[]; lost: string[]; seconds: number }> {
  const { mkdtempSync } = await import("node:fs");
  const { startServer } = await import("../tests/helpers/clip.ts");
  const t0 = Date.now();
  const data = mkdtempSync("/tmp/durl-");
  const rng = new Rng(seed);
  let srv = await startServer({ data });
  const lostAll: string[] = [];
  const ackedPerRound: number[] = [];
  const ack = new AckLog();
  try {
    const admin = await Client.connect({ server: `unix:${srv.socket}` });
    const group = { group: "dur", secret: await admin.groups.create("dur") };
    admin.close();
    const targets: Target[] = [];
    const specs = Array.from({ length: 6 }, (_, w) => {
      const mine: Target[] = w < 3 ? [{ kind: "region", name: String(w + 5), writer: w }] : [{ kind: "key", name: `k${w}`, writer: w }];
      targets.push(...mine);
      return { server: () => `unix:${srv.socket}`, targets: mine, group, pad: w % 2 ? 100 << 10 : 0 };
    });
    for (let round = 0; round < rounds; round++) {
      const stop = { stopped: false };
      const running = specs.map((s, i) => runWriter(s, i, ack, stop));
      const before = ack.writes;
      await Bun.sleep(50 + rng.int(300));
      srv.proc.kill(9);
      await srv.proc.exited;
      stop.stopped = true;
      await Promise.all(running);
      ackedPerRound.push(ack.writes - before);
      srv = await startServer({ data });
      const r = await reader(`unix:${srv.socket}`, undefined, group);
      for (const l of await ack.verify(targets, r.read)) lostAll.push(`round ${round + 1}: ${l}`);
      r.close();
      log?.(`round ${round + 1}: ${ack.writes} writes acknowledged, ${lostAll.length} lost`);
    }
  } finally {
    await srv[Symbol.asyncDispose]();
    rmSync(data, { recursive: true, force: true });
  }
  return { rounds, acked: ack.writes, ackedPerRound, lost: lostAll, seconds: (Date.now() - t0) / 1000 };
}

if (import.meta.main && process.argv.includes("--single")) {
  // npm run chaos -- --single [--rounds 40] [--seed 1]
  const r = await durability(flag("rounds", 40), flag("seed", 1), (l) => console.log(l));
  console.log(`single server: ${r.rounds} kill -9 rounds; writes acknowledged ${r.acked}; writes lost ${r.lost.length}; ${r.seconds.toFixed(0)} s`);
  if (r.lost.length) console.log(r.lost.join("\n"));
  process.exitCode = r.lost.length ? 1 : 0;
} else if (import.meta.main) {
  const { BIN } = await import("../tests/helpers/clip.ts");
  const o: ChaosOptions = { servers: flag("servers", 8), rounds: flag("rounds", 20), seed: flag("seed", Date.now() % 100000), writers: flag("writers", 12), convergeMs: 60_000, log: (l) => console.log(l) };
  console.log(`chaos: ${o.servers} servers, ${o.rounds} rounds, ${o.writers} writers, seed ${o.seed}`);
  const r = await chaos(o, BIN);
  console.log(JSON.stringify(r, null, 2));
  console.log(
    `rounds ${r.rounds} (${r.kills} kill -9, ${r.rootKills} of the root); writes acknowledged ${r.writesAcked}; writes lost ${r.lost.length}; ` +
      `converged ${r.converged} in ${r.convergeSeconds.toFixed(1)} s; total ${r.seconds.toFixed(0)} s`,
  );
  process.exitCode = r.lost.length === 0 && r.converged ? 0 : 1;
}
