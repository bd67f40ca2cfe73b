// Run by `node` (tests/integration/library-node.test.ts): the library as a
// Node user imports it, through the package's exports, against a real
// server. It reports what it saw as one JSON line on stdout; the test decides
// whether that is right. Arguments: the server address and a folder holding
// big.bin (a value for region 3) where it writes out4.bin (region 4's value).
// CLIP_TOKEN, CLIP_SECRET (the group "team"'s) and CLIP_TLS_CA come from the environment.

import { createHash } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ClipError, FileSource, connect, generateKey } from "clip";

const [server, dir] = process.argv.slice(2);
const sha = (b) => createHash("sha256").update(b).digest("hex");
const opts = { server, token: process.env.CLIP_TOKEN || undefined, tls: process.env.CLIP_TLS_CA ? { ca: process.env.CLIP_TLS_CA } : undefined };
const out = { runtime: typeof Bun === "undefined" ? `node ${process.version}` : "bun", resolved: import.meta.resolve("clip") };
// The in-process server is Bun's alone: under Node the exports map has no clip/server.
out.server = await import("clip/server").then(
  (m) => (typeof m.startServer === "function" ? "startServer" : "no startServer"),
  (e) => e.code ?? String(e),
);

const c = await connect(opts);
const c2 = await connect(opts);

// A value larger than the socket's buffers and the queue's low-water mark: sent with backpressure.
const big = readFileSync(join(dir, "big.bin"));
out.copy3 = await c.copy(3, big);
// The same value from its file (over a unix socket the server may read it by path, value/handoff.ts).
out.copy7 = await c.copy(7, new FileSource(join(dir, "big.bin"), statSync(join(dir, "big.bin")).size));
const p4 = await c.paste(4);
writeFileSync(join(dir, "out4.bin"), p4);
out.paste4 = { size: p4.length, sha: sha(p4) };

// wait: the next write after the region's current revision, made on the other connection.
const before = (await c.read(5))?.rev ?? 0;
const waiting = c.wait(5, { since: before, timeout: 20 });
const wake = await c2.copy(5, "wake up");
const woke = await waiting;
out.wait = { text: new TextDecoder().decode(woke.value), rev: woke.rev, writtenRev: wake.rev };

// follow: every later write, in order, a large one among them.
const part = big.subarray(0, 1_500_001);
const following = (async () => {
  const seen = [];
  for await (const clip of c.follow(6, { since: wake.rev })) {
    seen.push({ region: clip.region, rev: clip.rev, size: clip.value.length, sha: sha(clip.value) });
    if (seen.length === 3) break;
  }
  return seen;
})();
const revs = [];
for (const v of ["one", part, "three"]) revs.push((await c2.copy(6, v)).rev);
out.follow = { seen: await following, revs };

// kv in a group: a prefix watch sees the other connection's puts and delete, in order.
const secret = process.env.CLIP_SECRET;
const kv = await c.kv({ group: "team", secret });
const kv2 = await c2.kv({ group: "team", secret });
const watch = kv.watch({ prefix: "job/" });
await watch.ready;
await kv2.put("job/1", "first");
await kv2.put("job/2", part);
await kv2.del("job/1");
const events = [];
for await (const e of watch) {
  events.push({ event: e.event, key: e.key, size: e.event === "put" ? e.value.length : null, sha: e.event === "put" ? sha(e.value) : null });
  if (events.length === 3) break;
}
out.kv = { events, get: sha(await kv.get("job/2")), text: await kv2.getText("job/1").catch((e) => (e instanceof ClipError ? e.code : String(e))) };

// End-to-end encryption (node:crypto): sealed on the way in, opened on the way out; the server sees "encrypted".
const key = generateKey();
const sealer = await connect({ ...opts, key });
await sealer.copy(9, part, { encrypt: true });
const opened = await sealer.paste(9);
out.sealed = { opened: sha(opened), size: opened.length, keyId: key.id, serverSays: (await c.list()).find((r) => r.region === 9)?.encrypted ?? null };
sealer.close();

c.close();
c2.close();
console.log(JSON.stringify(out));
// No process.exit: the test also checks that nothing the library opened keeps Node running.
