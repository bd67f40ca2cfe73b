// Tree benchmark: how long until a write is visible elsewhere in the tree,
// next to Redis chained replication in the same run.
//
//   clip:  R ← C ← G (a chain of three servers, all on loopback TCP)
//     root→grandchild  copy on R, time until a `wait --follow` on G yields it
//     leaf→all         copy on G, time until followers on R, C and G all yield it
//     leaf copy ack    how long `copy` on G takes to return (up to the root and back)
//   redis: A ← B ← C (B replicaof A, C replicaof B)
//     root→grandchild  SET on A, time until GET on C returns it (GET in a tight loop)
//
// Sequential writes (one in flight), 64-byte values, p50/p99 over N writes.
//   snapshot: a child joins a parent holding one large region (default 512 MiB):
//     time to synced, and the peak RSS of both (the value is streamed, never held whole)
// Run: npm run build && npx bun bench/tree.ts [N [MiB]]   (N default 1000, MiB default 512)
// Needs redis-server (apt-get install redis-server); without it the Redis rows are skipped.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Client, connect } from "../src/index.ts";

const N = Number(process.argv[2] ?? 1000);
const SNAPSHOT_MB = Number(process.argv[3] ?? 512);
const BIN = resolve(import.meta.dir, "../dist/clip");
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

async function clipServer(name: string, connectTo?: number): Promise<{ port: number; client: Client }> {
  const port = freePort();
  const sock = join(dir, `${name}.sock`);
  const args = [BIN, "serve", "--socket", sock, "--memory", "--name", name, "--listen", `tcp:127.0.0.1:${port}`, "--token-file", join(dir, "token"), "--quiet"];
  if (connectTo) args.push("--connect", `127.0.0.1:${connectTo}`);
  procs.push(Bun.spawn(args, { stdin: "ignore", stdout: "ignore", stderr: "inherit" }));
  const client = await until(() => connect({ server: `unix:${sock}` }), `clip server ${name}`);
  if (connectTo) await until(async () => (await client.status()).upstream === "synced", `${name} to join`);
  return { port, client };
}

/** Copies on `from`, times until every follower has yielded the value. */
async function visible(from: Client, followers: Client[], region: number): Promise<number[]> {
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
  // Warm-up, untimed: every follower's watch is in place before the first timed write.
  for (let w = 0; w < 20; w++) {
    const waiting = seen(`warm-${w}`);
    await from.copy(region, `warm-${w}`);
    await Promise.all(waiting);
  }
  for (let i = 0; i < N; i++) {
    const v = `${String(i).padStart(8, "0")}-${pad}`;
    const t0 = performance.now();
    const waiting = seen(v);
    await from.copy(region, v);
    await Promise.all(waiting);
    lat.push(performance.now() - t0);
  }
  for (const it of iters) await it.return?.(undefined);
  return lat;
}

async function ackTimes(c: Client, region: number): Promise<number[]> {
  const lat: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await c.copy(region, `ack-${i}-${"y".repeat(52)}`);
    lat.push(performance.now() - t0);
  }
  return lat;
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

async function redisChain(): Promise<number[] | null> {
  if (!Bun.which("redis-server")) {
    console.error("redis-server not found (apt-get install redis-server): skipping the Redis rows");
    return null;
  }
  const ports = [freePort(), freePort(), freePort()];
  ports.forEach((p, i) => {
    const args = ["redis-server", "--port", String(p), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--loglevel", "warning", "--dbfilename", `d${i}.rdb`];
    if (i > 0) args.push("--replicaof", "127.0.0.1", String(ports[i - 1]));
    procs.push(Bun.spawn(args, { stdin: "ignore", stdout: "ignore", stderr: "inherit" }));
  });
  const [a, , c] = await Promise.all(ports.map((p) => until(() => Resp.open(p), `redis on ${p}`)));
  const b = await Resp.open(ports[1]);
  for (const r of [b, c]) await until(async () => (await r.cmd("INFO", "replication")).includes("master_link_status:up"), "redis replication link");
  const lat: number[] = [];
  const pad = "x".repeat(48);
  for (let i = 0; i < N; i++) {
    const v = `${String(i).padStart(8, "0")}-${pad}`;
    const t0 = performance.now();
    await a.cmd("SET", "k", v);
    while (!(await c.cmd("GET", "k")).includes(v));
    lat.push(performance.now() - t0);
  }
  return lat;
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

async function main() {
  writeFileSync(join(dir, "token"), "bench-token\n");
  const r = await clipServer("R");
  const c = await clipServer("C", r.port);
  const g = await clipServer("G", c.port);
  const rows: [string, number[]][] = [];
  rows.push(["clip  root→grandchild (R→G visible)", await visible(r.client, [g.client], 1)]);
  rows.push(["clip  leaf→all (G→R,C,G visible)", await visible(g.client, [r.client, c.client, g.client], 2)]);
  rows.push(["clip  leaf copy ack (G, via root)", await ackTimes(g.client, 3)]);
  rows.push(["clip  root copy ack (R)", await ackTimes(r.client, 4)]);
  const red = await redisChain();
  if (red) rows.push(["redis root→grandchild (A→C GET)", red]);
  console.log(`\nwrite-visible latency, ${N} sequential writes of 64 bytes, 3-server chains on loopback\n`);
  console.log(`${"".padEnd(38)}${"p50".padStart(10)}${"p99".padStart(10)}${"mean".padStart(10)}`);
  for (const [name, xs] of rows) {
    const s = stats(xs);
    console.log(`${name.padEnd(38)}${fmt(s.p50).padStart(10)}${fmt(s.p99).padStart(10)}${fmt(s.mean).padStart(10)}`);
  }
  for (const cl of [r, c, g]) cl.client.close();
  console.log(`\n${await snapshotJoin(SNAPSHOT_MB << 20)}`);
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
