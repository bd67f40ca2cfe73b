// Row "http": clip's HTTP door next to its socket and to a minimal Bun.serve,
// on one server (`--data` on tmpfs, `--http` on loopback TCP and a unix
// socket), interleaved round by round:
//   - 16 B PUT then GET from 50 keep-alive connections, driven by Debian's
//     wrk, against the same loop on the socket (bench/load.ts: copy then
//     paste through the library) and against wrk on a Bun.serve that keeps
//     bodies in a Map (bench/http/map-server.ts);
//   - 1 GiB PUT then GET with curl against `clip copy` then `clip paste`;
//   - one write waking 1000 event-stream subscribers (raw connections, each
//     reading GET /v1/regions/2/events) against 1000 socket followers
//     (`follow` through the library) of another region.

import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Client, connect } from "../../src/index.ts";
import { bigSize, clipEnv, sizeLabel } from "../lib/big.ts";
import { freePort, run, spawn, stop, waitFor } from "../lib/proc.ts";
import { fanOut } from "../lib/fanout.ts";
import { interleave, type Side } from "../lib/rounds.ts";
import { clipLabel, type Ctx, type RowModule } from "../lib/row.ts";
import { type ClipServer, startClip } from "../lib/servers.ts";
import { gbps, summarize } from "../lib/stats.ts";

const CONNS = 50;
const SUBSCRIBERS = 1000;
const TOKEN = "bench-http-token";

interface HttpClip {
  server: ClipServer;
  url: string;
  unix: string;
}

async function startHttpClip(ctx: Ctx, b: number, tokenFile: string): Promise<HttpClip> {
  const port = freePort();
  const unix = join(ctx.dir, `h${b}.sock`);
  const server = await startClip({
    bin: ctx.bins[b],
    dir: ctx.dir,
    name: `http${b}`,
    store: "data",
    extra: ["--history", "0", "--http", `tcp:127.0.0.1:${port}`, "--http", `unix:${unix}`, "--token-file", tokenFile],
    // Room for the 1000 subscribers and 1000 followers, and 50 load connections.
    env: { CLIP_MAX_CONNECTIONS: String(2 * SUBSCRIBERS + 2 * CONNS + 100) },
  });
  await waitFor(() => existsSync(unix), "the HTTP unix listener");
  return { server, url: `http://127.0.0.1:${port}`, unix };
}

/** wrk's requests per second (all of them answered 2xx, or it says how many were not). */
async function wrk(ctx: Ctx, url: string, seconds: number, errors: string[]): Promise<number> {
  const out = await run(["wrk", "-t2", `-c${CONNS}`, `-d${seconds}s`, "-s", join(ctx.root, "bench/http/put-get.lua"), url], { env: { CLIP_TOKEN: TOKEN }, timeoutMs: 60_000 });
  const rps = /Requests\/sec:\s+([0-9.]+)/.exec(out.stdout);
  if (!rps) throw new Error(`wrk printed no rate: ${out.stdout.slice(0, 300)}`);
  const bad = /Non-2xx or 3xx responses:\s+([0-9]+)/.exec(out.stdout);
  if (bad) errors.push(`${bad[1]} non-2xx answers from ${url}`);
  const sock = /Socket errors:.*/.exec(out.stdout);
  if (sock) errors.push(`${url}: ${sock[0]}`);
  return Number(rps[1]);
}

/**
 * A raw event-stream reader on loopback TCP (Bun's client stops connecting
 * to a unix socket past about 800 connections): counts the events that arrive.
 */
function subscribe(url: string, path: string, onEvent: () => void): Promise<{ end(): void }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    let tail = "";
    Bun.connect({
      hostname: u.hostname,
      port: Number(u.port),
      socket: {
        open(s) {
          s.write(`GET ${path} HTTP/1.1\r\nHost: clip\r\nAuthorization: Bearer ${TOKEN}\r\nAccept: text/event-stream\r\n\r\n`);
          resolve({ end: () => s.end() });
        },
        data(_s, chunk) {
          // Events end with a blank line; only those with data count (not retry: or heartbeats).
          const text = tail + chunk.toString();
          const parts = text.split("\n\n");
          tail = parts.pop()!;
          for (const p of parts) if (p.includes("\ndata: ") || p.startsWith("data: ")) onEvent();
        },
        error(_s, e) {
          reject(e);
        },
      },
    }).catch(reject);
  });
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } })).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : Number.NaN;
}

const row: RowModule = {
  name: "http",
  how:
    `one clip server per build (\`--data\` on tmpfs, \`--http\` on loopback TCP with the cluster token and on a unix socket). ` +
    `Small: \`wrk -t2 -c${CONNS}\` with bench/http/put-get.lua (each keep-alive connection alternates PUT of 16 B to /v1/regions/N and GET of it, Authorization: Bearer) ` +
    `against bench/load.ts on the socket (${CONNS} library connections, copy then paste of 16 B) and against the same wrk on bench/http/map-server.ts (a Bun.serve storing bodies in a Map); ` +
    "requests (or ops) per second. Large: `curl -T FILE` then `curl -o /dev/null` of 1 GiB over the HTTP unix socket against `clip copy 3 FILE` then `clip paste 3 > /dev/null`, " +
    `GB/s over both. Fan-out: one 16 B copy waking ${SUBSCRIBERS} raw loopback connections reading GET /v1/regions/2/events, against ${SUBSCRIBERS} library followers of region 1, ` +
    "ms from the write to the last delivery. Targets from issue 12.",
  tools: ["wrk", "curl"],
  async run(ctx) {
    const seconds = ctx.quick ? 1 : 3;
    const tokenFile = join(ctx.dir, "token");
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    const clips: HttpClip[] = [];
    const clients: Client[] = [];
    const subs: { end(): void }[] = [];
    const errors: string[] = [];
    const portFile = join(ctx.dir, "map-port");
    rmSync(portFile, { force: true });
    const map = spawn([process.execPath, join(ctx.root, "bench/http/map-server.ts"), portFile]);
    try {
      for (let b = 0; b < ctx.bins.length; b++) clips.push(await startHttpClip(ctx, b, tokenFile));
      await waitFor(() => existsSync(portFile) && readFileSync(portFile, "utf8").length > 0, "the Map server");
      const mapUrl = `http://127.0.0.1:${readFileSync(portFile, "utf8").trim()}`;

      // 1. small values
      const load = join(ctx.root, "bench/load.ts");
      const sides: Side[] = [];
      clips.forEach((c, b) => {
        sides.push({ name: `${clipLabel(ctx, b)} http`, once: () => wrk(ctx, c.url, seconds, errors) });
        sides.push({
          name: `${clipLabel(ctx, b)} socket`,
          once: async () => {
            const out = await run([process.execPath, load, c.server.socket, String(CONNS), String(seconds), ctx.quick ? "0.3" : "1"], { timeoutMs: 60_000 });
            const r = JSON.parse(out.stdout.trim().split("\n").pop()!) as { ops: number; seconds: number; errors: number };
            if (r.errors) errors.push(`${r.errors} errors on the socket`);
            return r.ops / r.seconds;
          },
        });
      });
      sides.push({ name: "Bun.serve Map", once: () => wrk(ctx, mapUrl, seconds, errors) });
      const small = await interleave(sides, ctx.quick ? 2 : 5, { log: ctx.log });
      const mapRef = summarize(small.at(-1)!);
      clips.forEach((_, b) => {
        const http = summarize(small[2 * b]);
        ctx.measure({ what: `16 B PUT+GET over HTTP, ${CONNS} keep-alive conns, wrk (${clipLabel(ctx, b)}, req/s)`, clip: http, ref: summarize(small[2 * b + 1]), refName: "clip's socket: copy+paste, 50 library conns", target: { op: "≥", x: 0.5 } });
        ctx.measure({ what: `16 B PUT+GET over HTTP, ${CONNS} keep-alive conns, wrk (${clipLabel(ctx, b)}, req/s)`, clip: http, ref: mapRef, refName: "wrk on a Bun.serve keeping bodies in a Map", target: { op: "≥", x: 1.0 } });
      });

      // 2. one large value
      const size = bigSize(ctx);
      const file = await ctx.bigFile(size);
      const big: Side[] = [];
      clips.forEach((c, b) => {
        big.push({
          name: `${clipLabel(ctx, b)} http`,
          once: async () => {
            const put = await run(["curl", "-sS", "-f", "--unix-socket", c.unix, "-T", file, "http://clip/v1/regions/3"], { timeoutMs: 120_000 });
            const get = await run(["curl", "-sS", "-f", "--unix-socket", c.unix, "-o", "/dev/null", "http://clip/v1/regions/3"], { timeoutMs: 120_000 });
            return gbps(2 * size, put.ms + get.ms);
          },
        });
        big.push({
          name: `${clipLabel(ctx, b)} socket`,
          once: async () => {
            const copy = await run([ctx.bins[b], "copy", "3", file], { env: clipEnv(c.server), timeoutMs: 120_000 });
            const paste = await run([ctx.bins[b], "paste", "3"], { env: clipEnv(c.server), stdout: "ignore", timeoutMs: 120_000 });
            return gbps(2 * size, copy.ms + paste.ms);
          },
        });
      });
      const large = await interleave(big, ctx.quick ? 2 : 6, { log: ctx.log });
      clips.forEach((_, b) =>
        ctx.measure({
          what: `${sizeLabel(size)} PUT then GET over HTTP, curl (${clipLabel(ctx, b)}, GB/s)`,
          clip: summarize(large[2 * b]),
          ref: summarize(large[2 * b + 1]),
          refName: "clip copy then clip paste on the socket",
          target: { op: "≥", x: 0.7 },
        }),
      );

      // 3. fan-out
      const { arrived, round } = fanOut(SUBSCRIBERS, "subscribers");
      const value = new Uint8Array(16).fill(0x63);
      const fan: Side[] = [];
      for (const [b, c] of clips.entries()) {
        const writer = await connect({ server: `unix:${c.server.socket}`, name: "writer" });
        clients.push(writer);
        for (let i = 0; i < SUBSCRIBERS; i++) subs.push(await subscribe(c.url, "/v1/regions/2/events", arrived));
        for (let i = 0; i < SUBSCRIBERS; i++) {
          const f = await connect({ server: `unix:${c.server.socket}`, name: "follower" });
          clients.push(f);
          (async () => {
            for await (const _ of f.follow(1)) arrived();
          })().catch(() => {}); // ends when its connection closes
        }
        await waitFor(async () => (await metric(c.url, 'clip_watchers{transport="http"}')) >= SUBSCRIBERS && (await metric(c.url, 'clip_watchers{transport="unix"}')) >= SUBSCRIBERS, "the subscribers and followers", 60_000);
        fan.push({ name: `${clipLabel(ctx, b)} http`, once: () => round(() => writer.copy(2, value)) });
        fan.push({ name: `${clipLabel(ctx, b)} socket`, once: () => round(() => writer.copy(1, value)) });
      }
      const woken = await interleave(fan, ctx.quick ? 6 : 20, { warmup: 2 });
      clips.forEach((_, b) =>
        ctx.measure({
          what: `wake ${SUBSCRIBERS} event-stream subscribers with one write (${clipLabel(ctx, b)}, ms)`,
          clip: summarize(woken[2 * b]),
          ref: summarize(woken[2 * b + 1]),
          refName: `${SUBSCRIBERS} socket followers woken by one write`,
          target: { op: "≤", x: 2.0 },
        }),
      );
      if (errors.length) ctx.note(errors.slice(0, 5).join("; "));
    } finally {
      for (const s of subs) s.end();
      for (const c of clients) c.close();
      for (const c of clips) await stop(c.server.proc);
      await stop(map);
    }
  },
};
export default row;
