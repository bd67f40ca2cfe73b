// Row "kv": clip's key-value store next to Redis, driven by the same load
// generator in this process: put+get of 16 B from 50 connections with 1 and
// with 16 requests in flight per connection, and one write waking 1000
// watchers (Redis: one PUBLISH to 1000 subscribers), interleaved round by round.

import { type Client, type Kv, connect } from "../../src/index.ts";
import { stop } from "../lib/proc.ts";
import { Resp } from "../lib/resp.ts";
import { fanOut } from "../lib/fanout.ts";
import { interleave, type Side } from "../lib/rounds.ts";
import { clipLabel, type RowModule } from "../lib/row.ts";
import { type ClipServer, startClip, startRedis } from "../lib/servers.ts";
import { summarize } from "../lib/stats.ts";

const CONNS = 50;
const DEPTH = 16;
const WATCHERS = 1000;

interface Target {
  put(i: number, key: string, v: Uint8Array): Promise<unknown>;
  get(i: number, key: string): Promise<number>;
}

/** CONNS × depth loops of put then get for `seconds` after a warm-up; ops per second. */
async function load(t: Target, depth: number, seconds: number, warm: number, errors: { n: number }): Promise<number> {
  const value = new Uint8Array(16).fill(0x61);
  let stop = false;
  let counting = false;
  let ops = 0;
  const loop = async (i: number, j: number) => {
    const key = `k${i}-${j}`;
    while (!stop) {
      try {
        await t.put(i, key, value);
        if (counting) ops++;
        if ((await t.get(i, key)) !== 16) errors.n++;
        if (counting) ops++;
      } catch {
        errors.n++;
      }
    }
  };
  const loops = Array.from({ length: CONNS * depth }, (_, n) => loop(n % CONNS, Math.floor(n / CONNS)));
  await Bun.sleep(warm * 1000);
  counting = true;
  const t0 = performance.now();
  await Bun.sleep(seconds * 1000);
  counting = false;
  const elapsed = (performance.now() - t0) / 1000;
  stop = true;
  await Promise.all(loops);
  return ops / elapsed;
}

const row: RowModule = {
  name: "kv",
  how:
    `one bench process drives both servers (clip \`serve --memory\`, redis-server without AOF, unix sockets) with the same loop: ${CONNS} connections each looping put then get ` +
    `of 16 B (clip: the library's kv.put/kv.get; Redis: SET/GET through a minimal RESP client on the same Bun sockets, corked per tick as clip's connection is), ` +
    `with 1 and with ${DEPTH} loops per connection; then one put waking ${WATCHERS} watchers of its key against one PUBLISH to ${WATCHERS} subscribers ` +
    "(time from the write to the last delivery; clip's through the library's async iterator, Redis's through a callback). Targets from issue 4.",
  tools: ["redis-server"],
  async run(ctx) {
    const seconds = ctx.quick ? 1 : 3;
    const warm = ctx.quick ? 0.3 : 1;
    const clients: Client[] = [];
    const resps: Resp[] = [];
    const servers: ClipServer[] = [];
    const env = { CLIP_MAX_CONNECTIONS: String(WATCHERS + CONNS + 100) };
    const redis = await startRedis({ dir: ctx.dir, name: "redis", maxclients: WATCHERS + CONNS + 100 });
    const errors = { n: 0 };
    try {
      for (let b = 0; b < ctx.bins.length; b++) servers.push(await startClip({ bin: ctx.bins[b], dir: ctx.dir, name: `kv${b}`, store: "memory", env }));
      const secrets: string[] = [];
      for (const s of servers) {
        const admin = await connect(`unix:${s.socket}`);
        clients.push(admin);
        secrets.push(await admin.groups.create("bench"));
      }

      // 1. put+get throughput
      const targets: Target[] = [];
      for (const [b, s] of servers.entries()) {
        const kvs: Kv[] = [];
        for (let i = 0; i < CONNS; i++) {
          const c = await connect({ server: `unix:${s.socket}`, name: "bench" });
          clients.push(c);
          kvs.push(await c.kv({ group: "bench", secret: secrets[b] }));
        }
        targets.push({ put: (i, k, v) => kvs[i].put(k, v), get: async (i, k) => (await kvs[i].get(k)).length });
      }
      const rs: Resp[] = [];
      for (let i = 0; i < CONNS; i++) rs.push(await Resp.open(redis.socket));
      resps.push(...rs);
      targets.push({ put: (i, k, v) => rs[i].command("SET", k, v), get: async (i, k) => ((await rs[i].command("GET", k)) as Buffer).length });
      for (const depth of [1, DEPTH]) {
        const sides: Side[] = targets.map((t, k) => ({ name: k < servers.length ? clipLabel(ctx, k) : "redis", once: () => load(t, depth, seconds, warm, errors) }));
        const res = await interleave(sides, ctx.quick ? 2 : 5, { warmup: 0, log: ctx.log });
        const ref = summarize(res.at(-1)!);
        servers.forEach((_, b) =>
          ctx.measure({
            what: `kv put+get 16 B, ${CONNS} conns × ${depth} in flight (${clipLabel(ctx, b)}, ops/s)`,
            clip: summarize(res[b]),
            ref,
            refName: "redis SET+GET",
            target: { op: "≥", x: depth === 1 ? 1.0 : 1.2 },
          }),
        );
      }
      for (const c of clients.splice(servers.length)) c.close();
      for (const r of resps.splice(0)) r.close();

      // 2. fan-out
      const { arrived, round } = fanOut(WATCHERS, "watchers");
      const value = new Uint8Array(16).fill(0x62);
      const sides: Side[] = [];
      for (const [b, s] of servers.entries()) {
        const watches = [];
        for (let i = 0; i < WATCHERS; i++) {
          const c = await connect({ server: `unix:${s.socket}`, name: "watcher" });
          clients.push(c);
          const w = (await c.kv({ group: "bench", secret: secrets[b] })).watch("fan");
          watches.push(w);
          (async () => {
            for await (const _ of w) arrived();
          })().catch(() => {}); // ends when its connection closes
        }
        await Promise.all(watches.map((w) => w.ready));
        const writer = await clients[b].kv({ group: "bench", secret: secrets[b] });
        sides.push({ name: clipLabel(ctx, b), once: () => round(() => writer.put("fan", value)) });
      }
      for (let i = 0; i < WATCHERS; i++) {
        const r = await Resp.open(redis.socket);
        resps.push(r);
        await r.command("SUBSCRIBE", "fan");
        r.pushes(arrived);
      }
      const pub = await Resp.open(redis.socket);
      resps.push(pub);
      sides.push({ name: "redis", once: () => round(() => pub.command("PUBLISH", "fan", value)) });
      const res = await interleave(sides, ctx.quick ? 6 : 20, { warmup: 2 });
      const ref = summarize(res.at(-1)!);
      servers.forEach((_, b) =>
        ctx.measure({ what: `wake ${WATCHERS} watchers with one put (${clipLabel(ctx, b)}, ms)`, clip: summarize(res[b]), ref, refName: "redis PUBLISH to subscribers", target: { op: "≤", x: 0.9 } }),
      );
      if (errors.n) ctx.note(`${errors.n} failed put/get requests`);
    } finally {
      for (const c of clients) c.close();
      for (const r of resps) r.close();
      for (const s of servers) await stop(s.proc);
      await stop(redis.proc);
    }
  },
};
export default row;
