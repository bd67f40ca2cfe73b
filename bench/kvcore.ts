// The server core and the library's kv calls in one process over in-memory
// connections: CPU per put+get with no socket, for finding where a small
// request's time goes (profile it with `bun --cpu-prof-md bench/kvcore.ts`).
// usage: bun bench/kvcore.ts [--seconds 3] [--depth 16] [--history 16] [--rounds 3]
import { parseArgs } from "node:util";
import { memoryServer } from "../tests/helpers/memory.ts";

const { values: a } = parseArgs({ options: { seconds: { type: "string", default: "3" }, depth: { type: "string", default: "16" }, history: { type: "string", default: "16" }, rounds: { type: "string", default: "3" } } });
const server = await memoryServer({ history: Number(a.history) });
const admin = await server.client();
const secret = await admin.groups.create("b");
const kvs = [];
for (let i = 0; i < 50; i++) kvs.push(await (await server.client()).kv({ group: "b", secret }));
const v = new Uint8Array(16).fill(97);
const results: number[] = [];
for (let round = 0; round < Number(a.rounds); round++) {
  let stop = false;
  let ops = 0;
  const loops = [];
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < 50 * Number(a.depth); i++) {
    loops.push(
      (async () => {
        const kv = kvs[i % 50];
        const k = `k${i}`;
        while (!stop) {
          await kv.put(k, v);
          await kv.get(k);
          ops += 2;
        }
      })(),
    );
  }
  await Bun.sleep(Number(a.seconds) * 1000);
  stop = true;
  await Promise.all(loops);
  const cpu = process.cpuUsage(c0);
  const wall = performance.now() - t0;
  results.push(((cpu.user + cpu.system) / ops));
  console.log(`round ${round}: ${Math.round(ops / (wall / 1000))} ops/s, ${((cpu.user + cpu.system) / ops).toFixed(2)} µs CPU per op (client and server)`);
}
results.sort((x, y) => x - y);
console.log(`median ${results[Math.floor(results.length / 2)].toFixed(2)} µs/op`);
process.exit(0);
