// The JavaScript of a tree hop, alone: three servers (R ← C ← G) and a
// client in this one process, joined by in-memory connections
// (net/memory.ts), so no kernel, no scheduler and no other process blurs the
// figure. N small writes on R, each awaited on G (a watcher there), and the
// time per write: what the code costs, to compare two versions of it. With
// --cpu-prof, where it goes.
//
//   bun [--cpu-prof] bench/hopjs.ts [N] [memory|data]

import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Client } from "../src/client/client.ts";
import { Mux } from "../src/client/mux.ts";
import { memoryPair } from "../src/net/memory.ts";
import { appsHandlers } from "../src/server/handlers/apps.ts";
import { clipboardHandlers } from "../src/server/handlers/clipboard.ts";
import { handshakeHandlers } from "../src/server/handlers/handshake.ts";
import { kvHandlers } from "../src/server/handlers/kv.ts";
import { ClipNode } from "../src/server/node.ts";
import { attachTree } from "../src/tree/tree.ts";

const n = Number(process.argv[2] ?? 20000);
const store = process.argv[3] ?? "memory";
const dir = mkdtempSync("/dev/shm/hopjs-");
const quiet = () => {};

function server(name: string, parent: ClipNode | null) {
  const node = new ClipNode({ name, dataDir: store === "data" ? join(dir, name) : null, maxSize: 1 << 30, history: 16, token: "t", insecure: true, log: quiet });
  for (const h of [handshakeHandlers, clipboardHandlers, kvHandlers, appsHandlers]) node.use(h(node));
  const tree = attachTree(node, {
    addrs: parent ? ["memory:parent"] : [],
    token: "t",
    addresses: () => [],
    dial: async (opts) => {
      const [a, b] = memoryPair({ transport: "tcp" });
      b.handler = parent!.accept(b);
      return Mux.over(a, { kind: "tcp", host: "memory", port: 1 }, opts);
    },
  });
  return { node, tree };
}

async function client(node: ClipNode): Promise<Client> {
  const [a, b] = memoryPair({ transport: "unix" });
  b.handler = node.accept(b);
  return Client.over(await Mux.over(a, { kind: "unix", path: "memory" }));
}

const r = server("R", null);
const c = server("C", r.node);
const g = server("G", c.node);
const until = async (cond: () => boolean) => {
  while (!cond()) await Bun.sleep(5);
};
await until(() => c.tree.up.state === "synced" && g.tree.up.state === "synced");
const writer = await client(r.node);
const enc = new TextEncoder();
// Seen on G: its watcher fires as the write is applied there.
let seen = 0;
g.node.watchers.watch("r/7", () => void seen++);
const once = async (i: number) => {
  const target = seen + 1;
  await writer.copy(7, enc.encode(`${String(i).padStart(15, "0")}-${"x".repeat(48)}`));
  while (seen < target) await new Promise((res) => setImmediate(res));
};
for (let i = 0; i < 500; i++) await once(i);
const t0 = performance.now();
for (let i = 0; i < n; i++) await once(i);
const ms = performance.now() - t0;
console.log(`--${store}: ${((ms * 1000) / n).toFixed(1)} µs per write (R, C, G and the client, in one process), ${n} writes`);
writer.close();
for (const x of [g, c, r]) {
  x.tree.stop();
  x.node.shutdown();
}
rmSync(dir, { recursive: true, force: true });
process.exit(0);
