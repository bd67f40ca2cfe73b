// Load generator for small values: C connections, each looping copy of a
// 16-byte value then paste of it, through the library client. Prints one
// JSON line: {ops, copies, pastes, seconds, errors}. Run by bench/run.ts,
// once in-process-sized (one process, 50 connections) and split over
// several processes to see whether one client process is the bottleneck.
//
//   bun bench/load.ts SOCKET CONNECTIONS SECONDS [WARMUP_SECONDS]

import { connect } from "../src/index.ts";

const [socket, connsArg, secondsArg, warmArg] = process.argv.slice(2);
const conns = Number(connsArg ?? 50);
const seconds = Number(secondsArg ?? 5);
const warm = Number(warmArg ?? 1);
if (!socket || !(conns > 0) || !(seconds > 0)) {
  console.error("usage: bun bench/load.ts SOCKET CONNECTIONS SECONDS [WARMUP_SECONDS]");
  process.exit(2);
}

const clients = await Promise.all(Array.from({ length: conns }, () => connect({ server: `unix:${socket}`, name: "bench" })));
const value = new Uint8Array(16).fill(0x61);
let counting = false;
let stop = false;
let copies = 0;
let pastes = 0;
let errors = 0;

async function loop(i: number): Promise<void> {
  const c = clients[i];
  const r = i % 10;
  while (!stop) {
    try {
      await c.copy(r, value);
      if (counting) copies++;
      const got = await c.paste(r);
      if (got.length !== 16) errors++;
      if (counting) pastes++;
    } catch {
      errors++;
      if (c.closed) return;
    }
  }
}

const loops = clients.map((_, i) => loop(i));
await Bun.sleep(warm * 1000);
counting = true;
const t0 = performance.now();
await Bun.sleep(seconds * 1000);
counting = false;
const elapsed = (performance.now() - t0) / 1000;
stop = true;
await Promise.all(loops);
for (const c of clients) c.close();
console.log(JSON.stringify({ ops: copies + pastes, copies, pastes, seconds: elapsed, errors }));
process.exit(0);
