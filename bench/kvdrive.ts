// Drives one clip server with the library of a given checkout: 50 connections,
// DEPTH loops each of kv put then get of 16 B, for SECONDS after 0.5 s of
// warm-up; prints ops per second. bench/kvab.sh runs it against two builds.
// usage: bun bench/kvdrive.ts CHECKOUT SOCKET DEPTH SECONDS
const [root, sock, depthS, secS] = process.argv.slice(2);
const { connect } = await import(`${root}/src/index.ts`);
const admin = await connect({ server: `unix:${sock}` });
let secret: string;
try {
  secret = await admin.groups.create("b");
} catch {
  secret = await admin.groups.rotate("b");
}
const kvs: any[] = [];
for (let i = 0; i < 50; i++) kvs.push(await (await connect({ server: `unix:${sock}` })).kv({ group: "b", secret }));
const v = new Uint8Array(16).fill(97);
let stop = false;
let ops = 0;
let counting = false;
const loops: Promise<void>[] = [];
for (let i = 0; i < 50 * Number(depthS); i++) {
  loops.push(
    (async () => {
      const kv = kvs[i % 50];
      const k = `k${i}`;
      while (!stop) {
        await kv.put(k, v);
        await kv.get(k);
        if (counting) ops += 2;
      }
    })(),
  );
}
await Bun.sleep(500);
counting = true;
const t0 = performance.now();
await Bun.sleep(Number(secS) * 1000);
counting = false;
const elapsed = (performance.now() - t0) / 1000;
stop = true;
await Promise.all(loops);
console.log(Math.round(ops / elapsed));
process.exit(0);
export {};
