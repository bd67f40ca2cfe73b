// Row "revisions": what history, replay and conditional writes cost, each
// against the same server doing without (issue 10's targets):
//   - kv put+get of 16 B from 50 connections with --history 16 vs --history 0,
//     and the server's RSS after the same writes;
//   - 10,000 held changes replayed by a watch from --since 0, vs the same
//     10,000 writes received live by a watch;
//   - a conditional put (--if-rev of the current revision) vs a plain put, one
//     at a time, on the root and on a grandchild of a three-server chain.

import { type Kv, connect } from "../../src/index.ts";
import { stop } from "../lib/proc.ts";
import { interleave } from "../lib/rounds.ts";
import type { RowModule } from "../lib/row.ts";
import { startClip } from "../lib/servers.ts";
import { summarize } from "../lib/stats.ts";
import { clipChain } from "../lib/tree.ts";

const CONNS = 50;
const HELD = 10_000;
const KEYS = 100;

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(require("node:fs").readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : 0;
}

/** put+get loops on every connection for `ms`; ops per second. */
async function putGet(kvs: Kv[], ms: number): Promise<number> {
  const v = new Uint8Array(16).fill(0x61);
  let stop = false;
  let ops = 0;
  const loops = kvs.map(async (kv, i) => {
    let n = 0;
    while (!stop) {
      const key = `k${i}-${n++ % 64}`;
      await kv.put(key, v);
      await kv.get(key);
      ops += 2;
    }
  });
  const t0 = performance.now();
  await Bun.sleep(ms);
  stop = true;
  const elapsed = performance.now() - t0;
  await Promise.all(loops);
  return (ops / elapsed) * 1000;
}

const row: RowModule = {
  name: "revisions",
  how:
    `(1) ${CONNS} library connections looping kv put then get of 16 B on a \`--memory\` server with \`--history 16\` against one with \`--history 0\`, interleaved, and each server's RSS after the same run; ` +
    `(2) a prefix watch receiving ${HELD} changes of ${KEYS} keys live as one writer puts them (16 in flight), against a watch from \`--since 0\` replaying the same ${HELD} held changes (history ${HELD / KEYS} per key), time to the last event; ` +
    "(3) on a three-server chain (`--memory`), one put at a time with `ifRev` set to the key's current revision against a plain put, on the root and on the grandchild, latency per put.",
  tools: [],
  async run(ctx) {
    const bin = ctx.bins[0];
    const ms = ctx.quick ? 1000 : 3000;

    // (1) history on vs off
    {
      const on = await startClip({ bin, dir: ctx.dir, name: "h16", store: "memory", extra: ["--history", "16"] });
      const off = await startClip({ bin, dir: ctx.dir, name: "h0", store: "memory", extra: ["--history", "0"] });
      const clients: { close(): void }[] = [];
      try {
        const kvsOf = async (sock: string) => {
          const admin = await connect({ server: `unix:${sock}` });
          clients.push(admin);
          const secret = await admin.groups.create("b");
          const out: Kv[] = [];
          for (let i = 0; i < CONNS; i++) {
            const c = await connect({ server: `unix:${sock}` });
            clients.push(c);
            out.push(await c.kv({ group: "b", secret }));
          }
          return out;
        };
        const kOn = await kvsOf(on.socket);
        const kOff = await kvsOf(off.socket);
        const res = await interleave(
          [
            { name: "history 16", once: () => putGet(kOn, ms) },
            { name: "history 0", once: () => putGet(kOff, ms) },
          ],
          ctx.quick ? 2 : 5,
          { log: ctx.log },
        );
        ctx.measure({ what: `kv put+get 16 B, ${CONNS} conns, --history 16 (ops/s)`, clip: summarize(res[0]), ref: summarize(res[1]), refName: "the same server with --history 0", target: { op: "≥", x: 0.9 } });
        const a = rssKb(on.proc.pid);
        const b = rssKb(off.proc.pid);
        ctx.note(`server RSS after the same writes (${CONNS} × 64 keys, each written many times): --history 16 ${Math.round(a / 1024)} MiB, --history 0 ${Math.round(b / 1024)} MiB; history of ${CONNS * 64} keys × 16 rows × ~250 B of small values and metadata ≈ ${Math.round((CONNS * 64 * 16 * 250) / 1048576)} MiB`);
      } finally {
        for (const c of clients) c.close();
        await stop(on.proc);
        await stop(off.proc);
      }
    }

    // (2) replay vs live
    {
      const s = await startClip({ bin, dir: ctx.dir, name: "replay", store: "memory", extra: ["--history", String(HELD / KEYS)] });
      const c = await connect({ server: `unix:${s.socket}` });
      try {
        const secret = await c.groups.create("r");
        const kv = await c.kv({ group: "r", secret });
        const w = await connect({ server: `unix:${s.socket}` });
        const wkv = await w.kv({ group: "r", secret });
        const v = new Uint8Array(16).fill(0x62);
        let from = 0;
        const live = async (): Promise<number> => {
          from = (await wkv.put("mark", v)).rev; // the replay below starts right after this
          const watch = kv.watch({ prefix: "p/" });
          await watch.ready;
          const t0 = performance.now();
          let next = 0;
          const writer = Promise.all(Array.from({ length: 16 }, async () => {
            while (next < HELD) {
              const i = next++;
              await wkv.put(`p/${i % KEYS}`, v);
            }
          }));
          let n = 0;
          for await (const _ of watch) if (++n === HELD) break;
          const t = performance.now() - t0;
          await writer;
          return t;
        };
        const replay = async (): Promise<number> => {
          const t0 = performance.now();
          const watch = kv.watch({ prefix: "p/" }, { since: from });
          let n = 0;
          for await (const _ of watch) if (++n === HELD) break;
          return performance.now() - t0;
        };
        // Each round writes the held changes anew (a live run), then replays them; the replay is
        // of exactly the writes the live run just made (history holds HELD/KEYS per key).
        const lives: number[] = [];
        const replays: number[] = [];
        for (let r = 0; r < (ctx.quick ? 2 : 5) + 1; r++) {
          const a = await live();
          const b = await replay();
          if (r > 0) {
            lives.push(a);
            replays.push(b);
          }
        }
        ctx.measure({ what: `replay ${HELD} held changes with --since (ms)`, clip: summarize(replays), ref: summarize(lives), refName: `the same ${HELD} writes received live`, target: { op: "≤", x: 1.5 } });
        w.close();
      } finally {
        c.close();
        await stop(s.proc);
      }
    }

    // (3) conditional vs plain put latency, on the root and on a grandchild
    {
      const chain = await clipChain({ bin, dir: ctx.dir, store: "memory", tag: "cond" });
      try {
        const secret = await chain.clients[0].groups.create("c");
        for (const [where, i] of [["root", 0], ["grandchild", 2]] as const) {
          let kv!: Kv;
          for (let t = 0; t < 50; t++) {
            try {
              kv = await chain.clients[i].kv({ group: "c", secret });
              break;
            } catch {
              await Bun.sleep(50); // the group reaches the grandchild
            }
          }
          let rev = (await kv.put("x", "0")).rev;
          const N = ctx.quick ? 200 : 1000;
          const plain = async () => {
            const t0 = performance.now();
            rev = (await kv.put("x", "1")).rev;
            return performance.now() - t0;
          };
          const cond = async () => {
            const t0 = performance.now();
            rev = (await kv.put("x", "1", { ifRev: rev })).rev;
            return performance.now() - t0;
          };
          const res = await interleave(
            [
              { name: "if-rev", once: async () => { const xs = []; for (let k = 0; k < N; k++) xs.push(await cond()); return summarize(xs).median; } },
              { name: "plain", once: async () => { const xs = []; for (let k = 0; k < N; k++) xs.push(await plain()); return summarize(xs).median; } },
            ],
            ctx.quick ? 3 : 7,
            { log: ctx.log },
          );
          ctx.measure({ what: `conditional put on the ${where}, median latency per round of ${N} (ms)`, clip: summarize(res[0]), ref: summarize(res[1]), refName: "a plain put, same place", target: { op: "≤", x: 1.2 } });
        }
      } finally {
        await chain.close();
      }
    }
  },
};
export default row;
