// The benchmark of issue 4: clip's key-value store next to Redis, driven by
// the same load generator in the same run.
//
//   1. 16 B values, 50 connections, each looping put then get (clip: kv.put /
//      kv.get through the library; Redis: SET / GET through a minimal RESP
//      client written the same way): first one request in flight per
//      connection, then --depth (16) loops per connection, i.e. 16 requests
//      in flight on each. Both clients write what was sent in one tick of
//      the event loop in one write (clip's Conn does; the RESP client corks
//      the same way, as node-redis does), so neither side pipelines more.
//   2. fan-out: 1000 watchers of one key woken by one put, against 1000 Redis
//      subscribers of one channel woken by one PUBLISH; time from the write
//      to the last of the 1000 deliveries, over several rounds.
//
//   npx bun bench/kv.ts [--seconds S] [--watchers N] [--rounds R] [--depth D]
//   (CLIP_BIN=path runs another build of the server)
//
// Needs dist/clip (npm run build) and redis-server (installed with apt-get
// when missing). Both servers run on unix sockets in a temp folder and are
// stopped by pid.

import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { connect, type Client, type Kv } from "../src/index.ts";

const BIN = process.env.CLIP_BIN ?? resolve(import.meta.dir, "../dist/clip");

function flag(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}
const SECONDS = flag("seconds", 5);
const WARMUP = 1;
const CONNS = 50;
const WATCHERS = flag("watchers", 1000);
const ROUNDS = flag("rounds", 20);
const DEPTH = flag("depth", 16);

// --- a minimal RESP client, used the way the clip loop uses the library ---

class Resp {
  private buf = Buffer.alloc(0);
  private waiters: ((v: unknown) => void)[] = [];
  private onPush: ((v: unknown) => void) | null = null;
  private sock!: Awaited<ReturnType<typeof Bun.connect>>;
  private out: Buffer[] = [];

  static async open(path: string): Promise<Resp> {
    const r = new Resp();
    r.sock = await Bun.connect({
      unix: path,
      socket: {
        data: (_s, chunk) => r.data(chunk),
        close: () => {},
      },
    });
    return r;
  }

  private data(chunk: Uint8Array): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : Buffer.from(chunk);
    while (true) {
      const r = parse(this.buf, 0);
      if (!r) return;
      this.buf = this.buf.subarray(r.end);
      const w = this.waiters.shift();
      if (w) w(r.value);
      else this.onPush?.(r.value);
    }
  }

  /** Sends one command and resolves with its reply. */
  command(...args: (string | Uint8Array)[]): Promise<unknown> {
    const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
    for (const a of args) {
      const b = typeof a === "string" ? Buffer.from(a) : Buffer.from(a);
      parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n"));
    }
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      // Corked until the end of this tick, as clip's Conn is: commands sent
      // together leave in one write. (A partial write is not retried: these
      // are small, and the kernel takes them whole.)
      if (this.out.length === 0) queueMicrotask(() => this.flush());
      this.out.push(...parts);
    });
  }

  private flush(): void {
    const b = this.out.length === 1 ? this.out[0] : Buffer.concat(this.out);
    this.out = [];
    this.sock.write(b);
  }

  /** After SUBSCRIBE: every pushed message. */
  pushes(fn: (v: unknown) => void): void {
    this.onPush = fn;
  }

  close(): void {
    this.sock.end();
  }
}

/** Parses one RESP value at `at`; null when incomplete. */
function parse(b: Buffer, at: number): { value: unknown; end: number } | null {
  const nl = b.indexOf("\r\n", at);
  if (nl < 0) return null;
  const line = b.toString("latin1", at + 1, nl);
  switch (String.fromCharCode(b[at])) {
    case "+":
      return { value: line, end: nl + 2 };
    case "-":
      return { value: new Error(line), end: nl + 2 };
    case ":":
      return { value: Number(line), end: nl + 2 };
    case "$": {
      const n = Number(line);
      if (n < 0) return { value: null, end: nl + 2 };
      if (b.length < nl + 2 + n + 2) return null;
      return { value: b.subarray(nl + 2, nl + 2 + n), end: nl + 2 + n + 2 };
    }
    case "*": {
      const n = Number(line);
      const out: unknown[] = [];
      let p = nl + 2;
      for (let i = 0; i < n; i++) {
        const r = parse(b, p);
        if (!r) return null;
        out.push(r.value);
        p = r.end;
      }
      return { value: out, end: p };
    }
  }
  throw new Error(`bad RESP byte ${b[at]}`);
}

// --- the load generator: the same loop for both ---

interface Target {
  put(i: number, key: string, v: Uint8Array): Promise<unknown>;
  get(i: number, key: string): Promise<number>;
}

async function load(t: Target, depth: number): Promise<{ ops: number; errors: number }> {
  const value = new Uint8Array(16).fill(0x61);
  let stop = false;
  let counting = false;
  let ops = 0;
  let errors = 0;
  const loop = async (i: number, j: number) => {
    const key = `k${i}-${j}`;
    while (!stop) {
      try {
        await t.put(i, key, value);
        if (counting) ops++;
        if ((await t.get(i, key)) !== 16) errors++;
        if (counting) ops++;
      } catch {
        errors++;
      }
    }
  };
  const loops = Array.from({ length: CONNS * depth }, (_, n) => loop(n % CONNS, Math.floor(n / CONNS)));
  await Bun.sleep(WARMUP * 1000);
  counting = true;
  const t0 = performance.now();
  await Bun.sleep(SECONDS * 1000);
  counting = false;
  const elapsed = (performance.now() - t0) / 1000;
  stop = true;
  await Promise.all(loops);
  return { ops: ops / elapsed, errors };
}

// --- servers ---

async function waitSocket(path: string, what: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (Date.now() < end) {
    if (existsSync(path)) {
      const ok = await Bun.connect({ unix: path, socket: { data() {} } }).then(
        (s) => (s.end(), true),
        () => false,
      );
      if (ok) return;
    }
    await Bun.sleep(20);
  }
  throw new Error(`${what} did not start on ${path}`);
}

function ensureRedis(): void {
  if (Bun.which("redis-server")) return;
  console.error("bench: redis-server is missing; installing it with apt-get");
  const sudo = process.getuid?.() === 0 ? [] : ["sudo"];
  const r = Bun.spawnSync([...sudo, "apt-get", "install", "-y", "redis-server"], { stdout: "inherit", stderr: "inherit" });
  if (r.exitCode !== 0 || !Bun.which("redis-server")) throw new Error("could not install redis-server (apt-get install redis-server)");
}

async function stopProc(p: ReturnType<typeof Bun.spawn>): Promise<void> {
  if (p.exitCode === null && p.signalCode === null) process.kill(p.pid, "SIGTERM");
  const t = setTimeout(() => {
    if (p.exitCode === null) process.kill(p.pid, "SIGKILL");
  }, 5000);
  await p.exited;
  clearTimeout(t);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const f = (n: number, d = 0) => n.toFixed(d);

async function main(): Promise<void> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first`);
  ensureRedis();
  const dir = mkdtempSync("/tmp/kvb-");
  const clipSock = join(dir, "clip.sock");
  const redisSock = join(dir, "redis.sock");
  const clipProc = Bun.spawn([BIN, "serve", "--memory", "--socket", clipSock, "--name", "bench", "--quiet"], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "inherit",
    env: { ...process.env, CLIP_MAX_CONNECTIONS: String(WATCHERS + CONNS + 100) },
  });
  const redisProc = Bun.spawn(
    ["redis-server", "--port", "0", "--unixsocket", redisSock, "--save", "", "--appendonly", "no", "--dir", dir, "--loglevel", "warning", "--maxclients", String(WATCHERS + CONNS + 100)],
    { stdin: "ignore", stdout: "ignore", stderr: "inherit" },
  );
  const clients: Client[] = [];
  const resps: Resp[] = [];
  const rows: [string, string, string, string][] = [];
  try {
    await waitSocket(clipSock, "clip serve");
    await waitSocket(redisSock, "redis-server");
    const admin = await connect(`unix:${clipSock}`);
    clients.push(admin);
    const secret = await admin.groups.create("bench");

    // 1. put/get throughput
    const kvs: Kv[] = [];
    for (let i = 0; i < CONNS; i++) {
      const c = await connect({ server: `unix:${clipSock}`, name: "bench" });
      clients.push(c);
      kvs.push(await c.kv({ group: "bench", secret }));
    }
    const rs: Resp[] = [];
    for (let i = 0; i < CONNS; i++) rs.push(await Resp.open(redisSock));
    resps.push(...rs);
    const clipT: Target = {
      put: (i, k, v) => kvs[i].put(k, v),
      get: async (i, k) => (await kvs[i].get(k)).length,
    };
    const redisT: Target = {
      put: (i, k, v) => rs[i].command("SET", k, v),
      get: async (i, k) => ((await rs[i].command("GET", k)) as Buffer).length,
    };
    for (const depth of [1, DEPTH]) {
      console.error(`bench: put/get 16 B, ${CONNS} connections x ${depth} in flight, ${SECONDS} s each (+${WARMUP} s warm-up)`);
      const ours = await load(clipT, depth);
      const theirs = await load(redisT, depth);
      rows.push([`kv put+get 16 B, 50 conns x ${depth} in flight (ops/s)`, f(ours.ops), `${f(theirs.ops)} (redis SET+GET)`, f(ours.ops / theirs.ops, 2)]);
      if (ours.errors || theirs.errors) console.error(`bench: errors: clip ${ours.errors}, redis ${theirs.errors}`);
    }
    for (const c of clients.splice(1)) c.close();
    for (const r of resps.splice(0)) r.close();

    // 2. fan-out
    console.error(`bench: fan-out to ${WATCHERS} watchers / subscribers, ${ROUNDS} rounds`);
    let pending = 0;
    let done: (() => void) | null = null;
    const arrived = () => {
      if (--pending === 0) done?.();
    };
    const watches = [];
    for (let i = 0; i < WATCHERS; i++) {
      const c = await connect({ server: `unix:${clipSock}`, name: "watcher" });
      clients.push(c);
      const w = (await c.kv({ group: "bench", secret })).watch("fan");
      watches.push(w);
      (async () => {
        for await (const _ of w) arrived();
      })().catch((e) => console.error(`bench: watcher ended: ${e.message}`));
    }
    await Promise.all(watches.map((w) => w.ready));
    const subs: Resp[] = [];
    for (let i = 0; i < WATCHERS; i++) {
      const r = await Resp.open(redisSock);
      subs.push(r);
      await r.command("SUBSCRIBE", "fan");
      r.pushes(arrived);
    }
    resps.push(...subs);
    const writer = (await connect(`unix:${clipSock}`)).kv({ group: "bench", secret });
    const pub = await Resp.open(redisSock);
    resps.push(pub);
    const round = async (write: () => Promise<unknown>): Promise<number> => {
      pending = WATCHERS;
      const all = new Promise<void>((r) => (done = r));
      const t0 = performance.now();
      await write();
      await all;
      return performance.now() - t0;
    };
    const w = await writer;
    const value = new Uint8Array(16).fill(0x62);
    const oursMs: number[] = [];
    const theirsMs: number[] = [];
    for (let r = 0; r < ROUNDS + 2; r++) {
      const a = await round(() => w.put("fan", value));
      const b = await round(() => pub.command("PUBLISH", "fan", value));
      if (r >= 2) {
        oursMs.push(a);
        theirsMs.push(b);
      }
    }
    rows.push([`wake ${WATCHERS} watchers, one put (ms, median)`, f(median(oursMs), 2), `${f(median(theirsMs), 2)} (redis PUBLISH)`, f(median(oursMs) / median(theirsMs), 2)]);
    rows.push([`  same, best of ${ROUNDS} (ms)`, f(Math.min(...oursMs), 2), f(Math.min(...theirsMs), 2), f(Math.min(...oursMs) / Math.min(...theirsMs), 2)]);
    for (const x of watches) x.close();
  } finally {
    for (const c of clients) c.close();
    for (const r of resps) r.close();
    await stopProc(clipProc);
    await stopProc(redisProc);
    rmSync(dir, { recursive: true, force: true });
  }
  const redisVersion = Bun.spawnSync(["redis-server", "--version"]).stdout.toString().match(/v=(\S+)/)?.[1] ?? "?";
  console.log(`clip kv vs redis ${redisVersion}, bun ${Bun.version}, ${navigator.hardwareConcurrency} cores; ratio = clip / redis (ops/s: higher is better; ms: lower is better)`);
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i].length), ["what", "clip", "redis", "ratio"][i].length));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join("  ");
  console.log(line(["what", "clip", "redis", "ratio"]));
  for (const r of rows) console.log(line(r));
  process.exit(0);
}

await main();
