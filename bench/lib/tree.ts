// Chains of three servers for the tree benchmarks, and the ways a write is
// timed on them. clip: R ← C ← G on loopback TCP (token auth), each also on
// its own unix socket; Redis: A ← B ← C (replicaof), likewise. Observers of
// both connect to the servers' unix sockets through Bun.connect (clip's
// library, a minimal RESP client), one request in flight per connection.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Client, connect } from "../../src/index.ts";
import { stop } from "./proc.ts";
import { Resp } from "./resp.ts";
import { type ClipServer, type RedisServer, startClip, startRedis } from "./servers.ts";

/** Runs `n` timed writes and returns their latencies (ms). Prepared once, run in slices between the others. */
export type Runner = (n: number) => Promise<number[]>;

export interface ClipChain {
  servers: ClipServer[];
  /** A library client per server (for writes and followers). */
  clients: Client[];
  /** A second client per server, for polling only (nothing else shares its socket). */
  pollers: Client[];
  close(): Promise<void>;
}

export async function clipChain(o: { bin: string; dir: string; store: "memory" | "data"; tag: string; extra?: string[] }): Promise<ClipChain> {
  const tokenFile = join(o.dir, "token");
  writeFileSync(tokenFile, "bench-token\n", { mode: 0o600 });
  const servers: ClipServer[] = [];
  const clients: Client[] = [];
  const pollers: Client[] = [];
  const close = async () => {
    for (const c of [...clients, ...pollers]) c.close();
    for (const s of servers.reverse()) await stop(s.proc);
  };
  try {
    for (const name of ["R", "C", "G"]) {
      const parentPort = servers.at(-1)?.port;
      servers.push(await startClip({ bin: o.bin, dir: o.dir, name: `${name}${o.tag}`, store: o.store, tokenFile, parentPort, extra: o.extra }));
    }
    for (const s of servers) clients.push(await connect({ server: `unix:${s.socket}` }));
    for (const s of servers) pollers.push(await connect({ server: `unix:${s.socket}` }));
  } catch (e) {
    await close();
    throw e;
  }
  return { servers, clients, pollers, close };
}

export interface RedisChain {
  servers: RedisServer[];
  clients: Resp[];
  close(): Promise<void>;
}

export async function redisChain(o: { dir: string; aof: "off" | "no" | "everysec"; tag: string }): Promise<RedisChain> {
  const servers: RedisServer[] = [];
  const clients: Resp[] = [];
  const close = async () => {
    for (const c of clients) c.close();
    for (const s of servers.reverse()) await stop(s.proc);
  };
  try {
    for (const name of ["A", "B", "C"]) {
      servers.push(await startRedis({ dir: o.dir, name: `${name}${o.tag}`, aof: o.aof, tcp: true, replicaOf: servers.at(-1)?.port }));
    }
    for (const s of servers) clients.push(await Resp.open(s.socket));
    for (const r of clients.slice(1)) {
      const end = Date.now() + 15_000;
      while (!String(await r.command("INFO", "replication")).includes("master_link_status:up")) {
        if (Date.now() > end) throw new Error("redis replication link never came up");
        await Bun.sleep(20);
      }
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { servers, clients, close };
}

let serial = 0;
/** A 64-byte value never written before. */
const nextValue = () => `${String(serial++).padStart(15, "0")}-${"x".repeat(48)}`;
const dec = new TextDecoder();

/** A runner timing `once` on fresh values, after `warm` untimed ones. */
async function timed(once: (v: string) => Promise<void>, warm = 20): Promise<Runner> {
  for (let w = 0; w < warm; w++) await once(nextValue());
  return async (n) => {
    const lat: number[] = [];
    for (let i = 0; i < n; i++) {
      const v = nextValue();
      const t0 = performance.now();
      await once(v);
      lat.push(performance.now() - t0);
    }
    return lat;
  };
}

/**
 * Copies on `from`, then pastes on each of `on` in a tight loop (one request
 * in flight per connection, all at once) until each returns the value: the
 * way Redis's replica is observed with GET, and the way a script would poll.
 */
export async function polled(from: Client, on: Client[], region: number): Promise<Runner> {
  const once = async (v: string) => {
    await from.copy(region, v);
    await Promise.all(
      on.map(async (c) => {
        for (;;) {
          try {
            if (dec.decode(await c.paste(region)) === v) return;
          } catch {} // not there yet (an empty region before its first write)
        }
      }),
    );
  };
  return timed(once);
}

/** SET on A, then GET on the last server of the chain in a tight loop until it returns the value. */
export async function redisPolled(chain: RedisChain): Promise<Runner> {
  const a = chain.clients[0];
  const c = chain.clients.at(-1)!;
  const once = async (v: string) => {
    await a.command("SET", "k", v);
    for (;;) {
      const got = await c.command("GET", "k");
      if (got instanceof Buffer && got.toString() === v) return;
    }
  };
  return timed(once);
}

/** Copies on `from`; times until every follower (`wait --follow` through the library) has yielded the value. */
export async function woken(from: Client, followers: Client[], region: number): Promise<Runner> {
  const iters = followers.map((c) => c.follow(region)[Symbol.asyncIterator]());
  const seen = (v: string) =>
    followers.map(async (_, k) => {
      for (;;) {
        const r = await iters[k].next();
        if (r.done) throw new Error("follow ended");
        if (dec.decode(r.value.value) === v) return;
      }
    });
  // Untimed: every follower's watch is in place before the first timed write (a follow's
  // request leaves with its first next(), and may reach its server after a copy made elsewhere).
  const first = iters.map((it) => it.next());
  let ready = false;
  Promise.all(first).then(() => (ready = true));
  for (let w = 0; !ready; w++) {
    if (w > 500) throw new Error("followers never saw a write");
    await from.copy(region, `hello-${w}`);
    await Bun.sleep(10);
  }
  return timed(async (v) => {
    const waiting = seen(v);
    await from.copy(region, v);
    await Promise.all(waiting);
  });
}

/** How long `copy` on this server takes to return. */
export function ackTimes(c: Client, region: number): Promise<Runner> {
  return timed(async (v) => {
    await c.copy(region, v);
  }, 0);
}

/**
 * Runs every runner in `rounds` slices of `n / rounds` writes, round-robin,
 * the order rotated every round. Returns each runner's latencies per round.
 */
export async function roundRobin(runners: Runner[], n: number, rounds: number): Promise<number[][][]> {
  const out = runners.map(() => [] as number[][]);
  const k = runners.length;
  for (let r = 0; r < rounds; r++) {
    const per = Math.floor(n / rounds) + (r < n % rounds ? 1 : 0);
    for (let i = 0; i < k; i++) {
      const j = (i + r) % k;
      out[j].push(await runners[j](per));
    }
  }
  return out;
}
