// Throughput of sealing and opening (src/crypto/seal.ts) on one core, in
// memory, so that the cost encryption adds to a 1 GiB copy or paste is known
// before it is wired in; and of the candidate libraries it was chosen from.
//
//   npx bun bench/seal.ts [--mib 1024] [--piece 1024]
//
// Rows:
//   0. clip's Sealer alone, 64 KiB chunks: what `copy --encrypt` adds to a
//      client, with the process's peak RSS.
//   1. clip's Sealer and Opener (node:crypto AES-256-GCM, STREAM) at chunk
//      sizes 16 KiB .. 1 MiB, fed --piece KiB at a time (1 MiB: one frame),
//      the sealed output pushed straight into an Opener; seal and open are
//      timed apart. Peak RSS shows that nothing accumulates.
//   2. The candidates, raw (one chunk of 64 KiB per call, no framing):
//      node:crypto AES-256-GCM and ChaCha20-Poly1305, WebCrypto AES-GCM
//      (asynchronous: one await per chunk), and @noble/ciphers (pure JS)
//      XChaCha20-Poly1305 and AES-256-GCM when it can be imported; it is not
//      a dependency: NOBLE_CIPHERS=/path/to/node_modules/@noble/ciphers names
//      a copy (npm install @noble/ciphers in a scratch folder). The pure-JS
//      rows run on 1/16 of the data: they are two orders slower.
// Everything is single-threaded: GB/s here is GB/s per core.

import { createCipheriv, createSecretKey, randomBytes } from "node:crypto";
import { join } from "node:path";
import { Key } from "../src/crypto/key.ts";
import { Opener, Sealer, regionContext } from "../src/crypto/seal.ts";

function flag(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

const TOTAL = flag("mib", 1024) * (1 << 20);
const PIECE = flag("piece", 1024) * 1024;
const key = new Key(randomBytes(32));
const ctx = regionContext(3);
const src = randomBytes(PIECE);
let peakRss = 0;
const sampleRss = () => (peakRss = Math.max(peakRss, process.memoryUsage().rss));
const gbps = (bytes: number, ms: number) => (bytes / (ms / 1000) / 1e9).toFixed(2);
const mib = (b: number) => `${(b / (1 << 20)).toFixed(0)} MiB`;

/** Wall and CPU time spent in the calls it wraps: CPU time stays honest when other processes share the cores. */
class Clock {
  wall = 0;
  cpu = 0;
  time<T>(fn: () => T): T {
    const c = process.cpuUsage();
    const t = performance.now();
    try {
      return fn();
    } finally {
      this.wall += performance.now() - t;
      const d = process.cpuUsage(c);
      this.cpu += (d.user + d.system) / 1000;
    }
  }
  rate(bytes: number): string {
    return `${gbps(bytes, this.wall)} GB/s wall, ${gbps(bytes, this.cpu)} GB/s CPU (${this.cpu.toFixed(0)} ms)`;
  }
}

function clipRow(chunkSize: number): void {
  const s = new Sealer(key, ctx, { chunkSize });
  const o = new Opener(key, ctx);
  const sealClock = new Clock();
  const openClock = new Clock();
  let out = 0;
  const open = (sealed: Uint8Array[]) =>
    openClock.time(() => {
      for (const piece of sealed) for (const p of o.push(piece)) out += p.length;
    });
  peakRss = 0;
  for (let sent = 0; sent < TOTAL; sent += PIECE) {
    open(sealClock.time(() => s.push(src)));
    if ((sent / PIECE) % 64 === 0) sampleRss();
  }
  open(sealClock.time(() => s.end()));
  openClock.time(() => {
    for (const p of o.end()) out += p.length;
  });
  sampleRss();
  if (out !== TOTAL) throw new Error(`opened ${out} bytes of ${TOTAL}`);
  console.log(`clip, chunk ${String(chunkSize >> 10).padStart(4)} KiB  seal ${sealClock.rate(TOTAL)}  open ${openClock.rate(TOTAL)}  peak RSS ${mib(peakRss)}`);
}

/** What `copy --encrypt` adds to a client: sealing alone, first thing in a fresh process, so its peak RSS is its own. */
function sealOnlyRow(): void {
  const rss0 = process.memoryUsage().rss;
  const s = new Sealer(key, ctx);
  const clock = new Clock();
  let sealed = 0;
  peakRss = 0;
  for (let sent = 0; sent < TOTAL; sent += PIECE) {
    for (const p of clock.time(() => s.push(src))) sealed += p.length;
    if ((sent / PIECE) % 16 === 0) sampleRss();
  }
  for (const p of clock.time(() => s.end())) sealed += p.length;
  sampleRss();
  console.log(`clip, seal alone, chunk 64 KiB  ${clock.rate(TOTAL)}  peak RSS ${mib(peakRss)} (${mib(rss0)} before; ${mib(sealed)} sealed)`);
}

/** Times `fn` over `total` bytes in 64 KiB chunks. */
async function rawRow(name: string, total: number, fn: (chunk: Uint8Array, i: number) => unknown): Promise<void> {
  const chunk = src.subarray(0, 64 << 10);
  const n = Math.floor(total / chunk.length);
  const c = process.cpuUsage();
  const t = performance.now();
  for (let i = 0; i < n; i++) {
    const r = fn(chunk, i);
    if (r instanceof Promise) await r;
  }
  const ms = performance.now() - t;
  const d = process.cpuUsage(c);
  console.log(`${name.padEnd(44)} ${gbps(n * chunk.length, ms)} GB/s wall, ${gbps(n * chunk.length, (d.user + d.system) / 1000)} GB/s CPU  (${mib(n * chunk.length)})`);
}

const nonce = (i: number, len = 12) => {
  const b = Buffer.alloc(len);
  b.writeUInt32BE(i, len - 5);
  return b;
};

console.log(`${mib(TOTAL)} in pieces of ${PIECE >> 10} KiB, ${process.versions.bun ? `Bun ${process.versions.bun}` : `Node ${process.version}`}\n`);
sealOnlyRow();
for (const cs of [16 << 10, 64 << 10, 256 << 10, 1 << 20]) clipRow(cs);
console.log("\ncandidates, raw, 64 KiB per call (seal only):");
const raw = randomBytes(32);
const aad = randomBytes(60);
const rawKeyObject = createSecretKey(raw);
await rawRow("node:crypto AES-256-GCM, key as a KeyObject", TOTAL, (c, i) => {
  const e = createCipheriv("aes-256-gcm", rawKeyObject, nonce(i));
  e.setAAD(aad);
  e.update(c);
  e.final();
  return e.getAuthTag();
});
await rawRow("node:crypto AES-256-GCM, key as bytes", TOTAL, (c, i) => {
  const e = createCipheriv("aes-256-gcm", raw, nonce(i));
  e.setAAD(aad);
  e.update(c);
  e.final();
  return e.getAuthTag();
});
try {
  await rawRow("node:crypto ChaCha20-Poly1305", TOTAL, (c, i) => {
    const e = createCipheriv("chacha20-poly1305", raw, nonce(i), { authTagLength: 16 });
    e.setAAD(aad, { plaintextLength: c.length });
    e.update(c);
    e.final();
    return e.getAuthTag();
  });
} catch (e) {
  console.log(`node:crypto ChaCha20-Poly1305: not available here (${(e as Error).message})`);
}
const wk = await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt"]);
await rawRow("WebCrypto AES-GCM (one await per chunk)", TOTAL, (c, i) => crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce(i), additionalData: aad }, wk, c as Uint8Array<ArrayBuffer>));
const nobleDir = process.env.NOBLE_CIPHERS;
try {
  const chacha = await import(nobleDir ? join(nobleDir, "chacha.js") : "@noble/ciphers/chacha.js");
  const aes = await import(nobleDir ? join(nobleDir, "aes.js") : "@noble/ciphers/aes.js");
  await rawRow("@noble/ciphers XChaCha20-Poly1305 (pure JS)", TOTAL / 16, (c, i) => chacha.xchacha20poly1305(raw, nonce(i, 24), aad).encrypt(c));
  await rawRow("@noble/ciphers AES-256-GCM (pure JS)", TOTAL / 16, (c, i) => aes.gcm(raw, nonce(i), aad).encrypt(c));
} catch {
  console.log("@noble/ciphers: not installed (set NOBLE_CIPHERS to measure it)");
}
