// Tree benchmark: how long until a write is visible elsewhere in the tree,
// next to Redis chained replication in the same run.
//
//   clip:  R ← C ← G (a chain of three servers, all on loopback TCP)
//     root→grandchild, woken by watch   copy on R, time until a `wait --follow` on G yields it
//     root→grandchild, polled like redis  copy on R, then `paste` on G in a tight loop (one connection,
//                      one request in flight) until it returns the value: the observer is never woken,
//                      as in the Redis row, so this is the row to hold against Redis's A→C
//     leaf→all, polled like redis  copy on G, then `paste` on R, C and G, each in a tight loop on its own connection
//     leaf→all         copy on G, time until followers on R, C and G all yield it
//     leaf copy ack    how long `copy` on G takes to return (up to the root and back)
//   redis: A ← B ← C (B replicaof A, C replicaof B)
//     root→grandchild  SET on A, time until GET on C returns it (GET in a tight loop)
//
//   per hop: the same write seen on R itself and on C, so the cost of one hop is a difference
//
// Like for like: clip runs twice, --memory (nothing on disk, as Redis without AOF) and
// --data (each server commits a SQLite transaction per write: WAL, synchronous=NORMAL,
// written to the OS before the write is acknowledged or relayed, never fsynced per write).
// Redis runs without AOF (its default: nothing written per SET) and with
// `appendonly yes, appendfsync no` (each SET written to the OS before its reply, no
// fsync: what clip --data does) and `appendfsync everysec`.
//
// Sequential writes (one in flight), 64-byte values, p50/p99 over N writes.
//   snapshot: a child joins a parent holding one large region (default 512 MiB):
//     time to synced, and the peak RSS of both (the value is streamed, never held whole)
// Run: npm run build && npx bun bench/tree.ts [N [MiB]]   (N default 1000, MiB default 512; 0 skips the snapshot)
// CLIP_BIN=path runs another build (CLIP_BIN=a,b: both, their order alternating every round, since
// whichever runs second was seen to look better); TREE_MODES=memory,data and REDIS_MODES=off,no,everysec pick the rows.
// Needs redis-server (apt-get install redis-server); without it the Redis rows are skipped.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Client, connect } from "../src/index.ts";

const N = Number(process.argv[2] ?? 1000);
const SNAPSHOT_MB = Number(process.argv[3] ?? 512);
// CLIP_BIN=a,b runs both builds side by side, interleaved (to compare a change under the same load).
const BINS = process.env.CLIP_BIN ? process.env.CLIP_BIN.split(",").map((b) => resolve(b)) : [resolve(import.meta.dir, "../dist/clip")];
const BIN = BINS[0];
const MODES = (process.env.TREE_MODES ?? "memory,data").split(",").filter(Boolean) as ("memory" | "data")[];
const REDIS_MODES = (process.env.REDIS_MODES ?? "off,no,everysec").split(",").filter(Boolean);
const dir = mkdtempSync("/tmp/cbt-");
const procs: ReturnType<typeof Bun.spawn>[] = [];

function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}

async function until<T>(f: () => Promise<T | false | undefined | null> | T | false | undefined | null, what: string, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const v = await f();
      if (v) return v as T;
    } catch {}
    await Bun.sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function stats(xs: number[]): { p50: number; p99: number; mean: number } {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { p50: q(0.5), p99: q(0.99), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

const fmt = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`);

// --- clip ---

async function clipServer(name: string, mode: "memory" | "data", connectTo?: number, bin = BIN): Promise<{ port: number; sock: string; client: Client; proc: ReturnType<typeof Bun.spawn> }> {
  const port = freePort();
  const sock = join(dir, `${name}.sock`);
  const store = mode === "memory" ? ["--memory"] : ["--data", join(dir, `data-${name}`)];
  const args = [bin, "serve", "--socket", sock, ...store, "--name", name, "--listen", `tcp:127.0.0.1:${port}`, "--token-file", join(dir, "token"), "--quiet"];
  if (connectTo) args.push("--connect", `127.0.0.1:${connectTo}`);
  const proc = Bun.spawn(args, { stdin: "ignore", stdout: "ignore", stderr: "inherit" });
  procs.push(proc);
  const client = await until(() => connect({ server: `unix:${sock}` }), `clip server ${name}`);
  if (connectTo) await until(async () => (await client.status()).upstream === "synced", `${name} to join`);
  return { port, sock, client, proc };
}

/** A measurement prepared once and run in slices, interleaved with the others (the machine's load changes). */
type Runner = (n: number) => Promise<number[]>;
let serial = 0;

/** Copies on `from`, times until every follower has yielded the value. */
async function visible(from: Client, followers: Client[], region: number): Promise<Runner> {
  const iters = followers.map((c) => c.follow(region)[Symbol.asyncIterator]());
  const lat: number[] = [];
  const pad = "x".repeat(48);
  const seen = (v: string) =>
    followers.map(async (_, k) => {
      for (;;) {
        const r = await iters[k].next();
        if (r.done) throw new Error("follow ended");
        if (new TextDecoder().decode(r.value) === v) return;
      }
    });
  // Warm-up, untimed: every follower's watch is in place before the first timed write
  // (a follow's request leaves with its first next(), and may reach its server after a
  // copy made on another one: copy until each follower has yielded something).
  const first = iters.map((it) => it.next());
  let ready = false;
  Promise.all(first).then(() => (ready = true));
  for (let w = 0; !ready; w++) {
    if (w > 500) throw new Error("followers never saw a write");
    await from.copy(region, `hello-${w}`);
    await Bun.sleep(10);
  }
  for (let w = 0; w < 20; w++) {
    const waiting = seen(`warm-${w}`);
    await from.copy(region, `warm-${w}`);
    await Promise.all(waiting);
  }
  return async (n) => {
    const lat: number[] = [];
    for (let i = 0; i < n; i++) {
      const v = `${String(serial++).padStart(8, "0")}-${pad}`;
      const t0 = performance.now();
      const waiting = seen(v);
      await from.copy(region, v);
      await Promise.all(waiting);
      lat.push(performance.now() - t0);
    }
    return lat;
  };
}

/** Copies on `from`, then pastes on each of `on` in a tight loop (one request in flight per
 * connection, all connections at once) until each returns the value (as the Redis row does with GET). */
async function polled(from: Client, on: Client[], region: number): Promise<Runner> {
  const pad = "x".repeat(48);
  const dec = new TextDecoder();
  const once = async (v: string) => {
    await from.copy(region, v);
    await Promise.all(
      on.map(async (c) => {
        for (;;) {
          try {
            if (dec.decode(await c.paste(region)) === v) return;
          } catch {} // not there yet (NOTFOUND before the region's first write)
        }
      }),
    );
  };
  for (let w = 0; w < 20; w++) await once(`warm-${w}`);
  return async (n) => {
    const lat: number[] = [];
    for (let i = 0; i < n; i++) {
      const v = `${String(serial++).padStart(8, "0")}-${pad}`;
      const t0 = performance.now();
      await once(v);
      lat.push(performance.now() - t0);
    }
    return lat;
  };
}

async function ackTimes(c: Client, region: number): Promise<Runner> {
  return async (n) => {
    const lat: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await c.copy(region, `ack-${String(serial++).padStart(8, "0")}-${"y".repeat(48)}`);
      lat.push(performance.now() - t0);
    }
    return lat;
  };
}

// --- redis ---

class Resp {
  private buf = "";
  private waiters: ((s: string) => void)[] = [];
  private constructor(private sock: { write(d: string): number }) {}
  static async open(port: number): Promise<Resp> {
    let r!: Resp;
    const sock = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data(_s, d) {
          r.push(new TextDecoder().decode(d));
        },
      },
    });
    r = new Resp(sock);
    return r;
  }
  private push(s: string) {
    this.buf += s;
    // Replies used here are single-line (+OK, $-1) or one bulk string.
    for (;;) {
      const w = this.waiters[0];
      if (!w) return;
      const nl = this.buf.indexOf("\r\n");
      if (nl < 0) return;
      let end = nl + 2;
      if (this.buf[0] === "$") {
        const len = Number(this.buf.slice(1, nl));
        if (len >= 0) {
          if (this.buf.length < nl + 2 + len + 2) return;
          end = nl + 2 + len + 2;
        }
      }
      const reply = this.buf.slice(0, end);
      this.buf = this.buf.slice(end);
      this.waiters.shift()!(reply);
    }
  }
  cmd(...args: string[]): Promise<string> {
    const s = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;
    return new Promise((res) => {
      this.waiters.push(res);
      this.sock.write(s);
    });
  }
}

/** A Redis chain A ← B ← C; `aof` is off, or the appendfsync policy (no, everysec, always). */
async function redisChain(aof: string): Promise<Runner | null> {
  if (!Bun.which("redis-server")) {
    console.error("redis-server not found (apt-get install redis-server): skipping the Redis rows");
    return null;
  }
  const ports = [freePort(), freePort(), freePort()];
  const chain: ReturnType<typeof Bun.spawn>[] = [];
  ports.forEach((p, i) => {
    const rdir = join(dir, `redis-${aof}-${i}`);
    mkdirSync(rdir, { recursive: true });
    const persist = aof === "off" ? ["--appendonly", "no"] : ["--appendonly", "yes", "--appendfsync", aof];
    const args = ["redis-server", "--port", String(p), "--bind", "127.0.0.1", "--save", "", ...persist, "--dir", rdir, "--loglevel", "warning", "--dbfilename", `d${i}.rdb`];
    if (i > 0) args.push("--replicaof", "127.0.0.1", String(ports[i - 1]));
    const proc = Bun.spawn(args, { stdin: "ignore", stdout: "ignore", stderr: "inherit" });
    procs.push(proc);
    chain.push(proc);
  });
  const [a, , c] = await Promise.all(ports.map((p) => until(() => Resp.open(p), `redis on ${p}`)));
  const b = await Resp.open(ports[1]);
  for (const r of [b, c]) await until(async () => (await r.cmd("INFO", "replication")).includes("master_link_status:up"), "redis replication link");
  const pad = "x".repeat(48);
  return async (n) => {
    const lat: number[] = [];
    for (let i = 0; i < n; i++) {
      const v = `${String(serial++).padStart(8, "0")}-${pad}`;
      const t0 = performance.now();
      await a.cmd("SET", "k", v);
      while (!(await c.cmd("GET", "k")).includes(v));
      lat.push(performance.now() - t0);
    }
    return lat;
  };
}

/** Peak RSS (KiB) of a process while `until` runs. */
async function peakRss(pids: number[], during: Promise<unknown>): Promise<number[]> {
  const { readFileSync } = await import("node:fs");
  const peaks = pids.map(() => 0);
  let done = false;
  during.finally(() => (done = true));
  while (!done) {
    pids.forEach((pid, i) => {
      try {
        const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
        if (m) peaks[i] = Math.max(peaks[i], Number(m[1]));
      } catch {}
    });
    await Bun.sleep(25);
  }
  await during;
  return peaks;
}

/** A child joining a parent that holds one large region: time to synced, peak memory of both. */
async function snapshotJoin(size: number): Promise<string> {
  const token = join(dir, "token");
  const start = (name: string, port: number, connectTo?: number) => {
    const args = [BIN, "serve", "--socket", join(dir, `${name}.sock`), "--data", join(dir, `data-${name}`), "--name", name, "--listen", `tcp:127.0.0.1:${port}`, "--token-file", token, "--quiet"];
    if (connectTo) args.push("--connect", `127.0.0.1:${connectTo}`);
    const p = Bun.spawn(args, { stdin: "ignore", stdout: "ignore", stderr: "inherit" });
    procs.push(p);
    return p;
  };
  const pp = freePort();
  const parent = start("SP", pp);
  const pc = await until(() => connect({ server: `unix:${join(dir, "SP.sock")}` }), "snapshot parent");
  const file = join(dir, "big.bin");
  const chunk = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 0xff);
  const w = Bun.file(file).writer();
  for (let i = 0; i < size >> 20; i++) w.write(chunk);
  await w.end();
  await pc.copy(0, Bun.file(file));
  const t0 = performance.now();
  const child = start("SC", freePort(), pp);
  const joined = (async () => {
    const cc = await until(() => connect({ server: `unix:${join(dir, "SC.sock")}` }), "snapshot child");
    await until(async () => (await cc.status()).upstream === "synced", "the snapshot", 600_000);
    cc.close();
  })();
  const [rp, rc] = await peakRss([parent.pid, child.pid], joined);
  const ms = performance.now() - t0;
  pc.close();
  return `snapshot join of a ${size >> 20} MiB region (on disk): ${(ms / 1000).toFixed(2)} s (${((size / 1048576) / (ms / 1000)).toFixed(0)} MiB/s); peak RSS parent ${(rp / 1024).toFixed(0)} MiB, child ${(rc / 1024).toFixed(0)} MiB`;
}

async function clipRows(mode: "memory" | "data", rows: Row[], b: number): Promise<Client[]> {
  const bin = BINS[b];
  const r = await clipServer(`R${mode}${b}`, mode, undefined, bin);
  const c = await clipServer(`C${mode}${b}`, mode, r.port, bin);
  const g = await clipServer(`G${mode}${b}`, mode, c.port, bin);
  const m = (mode === "memory" ? "mem " : "data") + (BINS.length > 1 ? `#${b}` : "");
  // Pollers have their own connections, so nothing else (the followers' events) shares their sockets.
  const [rp, cp, gp] = await Promise.all([r, c, g].map((s) => connect({ server: `unix:${s.sock}` })));
  const row = (name: string, run: Runner) => rows.push({ name: `clip ${m} ${name}`, run, group: mode, bin: b });
  row("root→grandchild, polled like redis", await polled(r.client, [gp], 7));
  row("leaf→all, polled like redis", await polled(g.client, [rp, cp, gp], 8));
  row("root→grandchild, woken by watch", await visible(r.client, [g.client], 1));
  row("leaf→all, woken by watch", await visible(g.client, [r.client, c.client, g.client], 2));
  row("root→root, woken by watch", await visible(r.client, [r.client], 5));
  row("root→child, woken by watch", await visible(r.client, [c.client], 6));
  row("leaf copy ack (G, via root)", await ackTimes(g.client, 3));
  row("root copy ack (R)", await ackTimes(r.client, 4));
  return [r.client, c.client, g.client, rp, cp, gp];
}

/** group: the clip mode ("redis" for Redis); bin: the build's index in CLIP_BIN, -1 for Redis. */
type Row = { name: string; run: Runner; group: string; bin: number };

async function main() {
  writeFileSync(join(dir, "token"), "bench-token\n");
  const runners: Row[] = [];
  const clients: Client[] = [];
  for (const mode of MODES) for (let b = 0; b < BINS.length; b++) clients.push(...(await clipRows(mode, runners, b)));
  for (const aof of REDIS_MODES) {
    const red = await redisChain(aof);
    const what = aof === "off" ? "no AOF" : `AOF fsync ${aof}`;
    if (red) runners.push({ name: `redis ${what} A→C (GET on C, polled)`, run: red, group: "redis", bin: -1 });
  }
  // Every row runs in ROUNDS slices, round-robin, so all see the same load. With several
  // builds, the builds' order within a mode rotates every round: the one that runs second
  // was measured faster (181-191 against 171-176 µs for two copies of one build).
  const ROUNDS = Math.min(10, N);
  const lats = runners.map(() => [] as number[]);
  const groups = [...new Set(runners.map((r) => r.group))];
  const B = BINS.length;
  for (let round = 0; round < ROUNDS; round++) {
    const n = Math.floor(N / ROUNDS) + (round < N % ROUNDS ? 1 : 0);
    const order = runners
      .map((r, k) => ({ k, key: groups.indexOf(r.group) * (B + 1) + (r.bin < 0 ? 0 : (r.bin - round + B * ROUNDS) % B) }))
      .sort((x, y) => x.key - y.key || x.k - y.k);
    for (const { k } of order) lats[k].push(...(await runners[k].run(n)));
  }
  for (const c of clients) c.close();
  const rows: [string, number[]][] = runners.map(({ name }, k) => [name, lats[k]]);
  console.log(`\nwrite-visible latency, ${N} sequential writes of 64 bytes, 3-server chains on loopback`);
  console.log("clip mem: --memory (nothing on disk), like redis no AOF; clip data: --data, a SQLite commit (WAL, synchronous=NORMAL,");
  console.log("no fsync) per write at every server before it is acknowledged or relayed, like redis AOF fsync no\n");
  console.log(`${"".padEnd(52)}${"p50".padStart(10)}${"p99".padStart(10)}${"mean".padStart(10)}`);
  for (const [name, xs] of rows) {
    const s = stats(xs);
    console.log(`${name.padEnd(52)}${fmt(s.p50).padStart(10)}${fmt(s.p99).padStart(10)}${fmt(s.mean).padStart(10)}`);
  }
  if (SNAPSHOT_MB > 0) console.log(`\n${await snapshotJoin(SNAPSHOT_MB << 20)}`);
}

try {
  await main();
} finally {
  for (const p of procs) {
    try {
      p.kill(9);
    } catch {}
  }
  await Promise.all(procs.map((p) => p.exited));
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
