// Protocol fuzzing against a live server (`npm run fuzz`). Each case is one
// connection, on the unix socket or on TCP, before hello, after hello, or
// after the token proof, carrying random bytes and valid frames mutated
// (lengths, ids, types, flags, truncations, hostile meta, huge claimed
// sizes). Between cases, real clients check that the server still answers
// copy/paste exactly. Every case is derived from (seed, case number), so a
// finding replays with `--seed S --case N`.
//
//   npm run fuzz -- [--seed 1] [--frames 100000] [--time 120] [--case N]

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Client } from "../src/client/client.ts";
import { isClipError } from "../src/protocol/errors.ts";
import { FrameType, MAX_FRAME, PROTOCOL_VERSION, encodeFrame } from "../src/protocol/frame.ts";
import { RawConn, Rng, type Target, alive, loggedTcpPort, rssKb } from "./harness.ts";

export interface FuzzOptions {
  seed: number;
  /** Stop after this many frames tried... */
  frames: number;
  /** ...or after this long. */
  timeMs: number;
  pid: number;
  unix: string;
  tcp?: { host: string; port: number };
  token?: string;
  /** Extra op names to aim at (kv, tree) beyond the clipboard's. */
  ops?: string[];
  /** Only this case (replay). */
  only?: number;
  concurrency?: number;
  log?: (line: string) => void;
}

export interface FuzzReport {
  seed: number;
  frames: number;
  cases: number;
  /** Server processes that died: must be 0. */
  crashes: number;
  /** Liveness checks (copy + paste, exact bytes) run and failed. */
  checks: number;
  checkFailures: string[];
  startRssKb: number;
  peakRssKb: number;
  endRssKb: number;
  /** Cases the server cut off (protocol error, auth failure...). */
  cutOff: number;
  seconds: number;
  /** The case that killed the server, if one did. */
  crashCase?: number;
}

const BASE_OPS = ["hello", "auth", "copy", "paste", "wait", "list", "status", "apps"];
/** The kv, group, chat and tree ops (tree ops as a would-be child sends them). */
export const MORE_OPS = [
  "kv.auth", "kv.put", "kv.get", "kv.del", "kv.list", "kv.watch",
  "group.create", "group.delete", "group.info", "group.list", "group.rotate",
  "chat.join", "chat.say", "tree.join", "tree.forward", "tree.report", "tree.publish", "tree.show",
];

/** Values that break naive validators. Region 9 is kept for the liveness checks. */
const NASTY: unknown[] = [
  -1, 0, 1, 10, 3.5, 1e308, -0, 2 ** 31, 2 ** 32, 2 ** 53, Number.MAX_SAFE_INTEGER + 2, "3", "", "x".repeat(300), null, true, [], {}, [1, 2], { r: 1 },
  "../../etc/passwd", "r/1", "k/a/b", "\u0000", "\ud800", "__proto__", "constructor",
];

function metaFor(rng: Rng, op: string): Record<string, unknown> {
  const m: Record<string, unknown> = { op };
  switch (op) {
    case "hello":
      Object.assign(m, { v: rng.chance(0.8) ? PROTOCOL_VERSION : rng.pick(NASTY), kind: rng.pick(["cli", "lib", "peer", "x", 5]), pid: rng.pick([1, -1, "p", 2 ** 40]), name: rng.pick(["n", "x".repeat(5000), 7]) });
      break;
    case "auth":
      Object.assign(m, { cnonce: rng.pick(["00".repeat(16), "", "zz", "a".repeat(5000)]), proof: rng.pick(["00".repeat(32), "", "nothex", "ab".repeat(5000)]) });
      break;
    case "copy":
      Object.assign(m, { r: rng.chance(0.7) ? rng.int(9) : rng.pick(NASTY), size: rng.pick([0, 5, 100, 65537, 1 << 20, 2 ** 30, 2 ** 30 + 1, 2 ** 40, 2 ** 53, -1, 0.5, "9", null]) });
      break;
    case "paste":
    case "wait":
      Object.assign(m, { r: rng.chance(0.7) ? rng.int(10) : rng.pick(NASTY), follow: rng.pick([true, false, "yes", 1]) });
      break;
    case "tree.join":
    case "tree.report":
      Object.assign(m, { id: rng.pick([`f${rng.int(99)}`, "", 5, "x".repeat(200)]), name: "fz", tree: nodeInfo(rng), have: rng.pick([[], [["r/1", 1, "n"]], [[1, 2, 3]], "x", [["r/1", -1, 5]]]) });
      break;
    case "tree.forward":
      Object.assign(m, { w: opMeta(rng) });
      break;
    default:
      // Unknown to us (kv, group, tree ops): throw plausible fields at them.
      for (const k of ["r", "g", "group", "secret", "key", "k", "prefix", "value", "size", "id", "rev", "since", "count", "name", "w", "tree", "topic", "msg", "room", "text"]) {
        if (rng.chance(0.4)) m[k] = rng.chance(0.5) ? rng.pick(NASTY) : `f${rng.int(5)}`;
      }
  }
  if (rng.chance(0.05)) m[rng.pick(["__proto__", "constructor", "op"])] = rng.pick(NASTY);
  return m;
}

/** A server's description as the tree sends it, sometimes wrong. */
function nodeInfo(rng: Rng): unknown {
  if (rng.chance(0.2)) return rng.pick(NASTY);
  const n: Record<string, unknown> = { id: `f${rng.int(99)}`, name: "fz", addrs: rng.pick([[], ["tcp:127.0.0.1:1"], "x", [5]]), role: rng.pick(["root", "child", "x"]), clients: rng.pick([0, -1, "x"]), rev: rng.pick([0, 2 ** 53, -5]) };
  if (rng.chance(0.3)) n.children = rng.pick([[], [{ ...n }], "x", [{ id: 1 }]]);
  return n;
}

/** A write as the tree carries it, sometimes wrong: any entry kind, odd versions. */
function opMeta(rng: Rng): unknown {
  if (rng.chance(0.15)) return rng.pick(NASTY);
  const key = rng.pick(["r/1", "r/8", "r/99", "r/-1", "g/fz", "k/fz/a", "k/nogroup/a", "", "x", "g/", "k//", "r/1/2"]);
  const t = rng.pick([1, (Date.now() + 1) * 1000, (Date.now() + 10 * 86400_000) * 1000, 2 ** 53, -1, 1.5, "1"]);
  const w: Record<string, unknown> = { key, ver: rng.chance(0.9) ? { t, n: rng.pick(["a", "", "z".repeat(100), 3]) } : rng.pick(NASTY), meta: rng.chance(0.9) ? { at: 1, by: "fz", hash: rng.pick(["x", 5]), salt: "s" } : rng.pick(NASTY), has: rng.pick([true, false, "yes"]) };
  if (rng.chance(0.2)) w.del = rng.pick([true, false, 1]);
  if (rng.chance(0.15)) w.clear = rng.pick(["", "r/", "k/fz/", 5]);
  return w;
}

/** Deep nesting, long strings, not-an-object: meta the JSON parser must survive. */
function hostileMeta(rng: Rng): Uint8Array {
  const enc = new TextEncoder();
  switch (rng.int(6)) {
    case 0:
      return enc.encode("[".repeat(30000) + "]".repeat(30000));
    case 1:
      return enc.encode(`{"op":"copy","r":1,"x":"${"y".repeat(60000)}"}`);
    case 2:
      return enc.encode(rng.pick(["null", "[]", "1", '"s"', "{", '{"op":', "{}"]));
    case 3:
      return new Uint8Array([0xff, 0xfe, 0x7b, 0x7d]);
    case 4:
      return enc.encode(`{"op":"copy","r":1,${Array.from({ length: 3000 }, (_, i) => `"k${i}":${i}`).join(",")}}`);
    default:
      return enc.encode('{"op":"paste","r":1,"r":2,"__proto__":{"admin":true}}');
  }
}

function rawFrame(type: number, flags: number, id: number, meta: Uint8Array, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + meta.length + payload.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, 8 + meta.length + payload.length);
  v.setUint8(4, type);
  v.setUint8(5, flags);
  v.setUint32(6, id >>> 0);
  v.setUint16(10, Math.min(meta.length, 0xffff));
  out.set(meta, 12);
  out.set(payload, 12 + meta.length);
  return out;
}

/** One valid frame (sometimes a whole upload: REQ then DATA frames). */
function validFrames(rng: Rng, ops: string[], ids: number[]): Uint8Array[] {
  const id = rng.chance(0.2) && ids.length ? rng.pick(ids) : rng.pick([1, 2, 3, rng.int(1000) + 1, 0, 0xffffffff, 0x7fffffff]);
  ids.push(id);
  const kind = rng.int(10);
  if (kind === 0) return [encodeFrame(FrameType.CANCEL, id, null)];
  if (kind === 1) return [encodeFrame(FrameType.DATA, id, null, rng.bytes(rng.int(64)), rng.chance(0.5))];
  if (kind === 2) return [encodeFrame(rng.pick([FrameType.RES, FrameType.ERR, FrameType.EVT]), id, rng.chance(0.5) ? { code: "X", message: "m" } : null)];
  const op = rng.chance(0.9) ? rng.pick(ops) : rng.pick(["", "nope", "x".repeat(1000)]);
  const meta = metaFor(rng, op);
  if (op !== "copy" && op !== "tree.forward" && op !== "kv.put") return [encodeFrame(FrameType.REQ, id, meta)];
  // An upload: the value in one frame, or split into DATA frames, or left open.
  const total = rng.pick([0, 1, 100, 70_000]);
  const body = rng.bytes(Math.min(total, 4096));
  const out = [encodeFrame(FrameType.REQ, id, meta, body.subarray(0, rng.int(body.length + 1)), rng.chance(0.4))];
  const parts = rng.int(4);
  for (let i = 0; i < parts; i++) out.push(encodeFrame(FrameType.DATA, id, null, body.subarray(0, rng.int(body.length + 1)), i === parts - 1 && rng.chance(0.7)));
  return out;
}

function mutate(rng: Rng, f: Uint8Array): Uint8Array {
  if (f.length < 12) return rng.bytes(f.length + 1);
  const b = f.slice();
  const v = new DataView(b.buffer);
  switch (rng.int(9)) {
    case 0: // claimed length: huge, tiny, off by one, just over the limit
      v.setUint32(0, rng.pick([0, 1, 7, 8, 0xffffffff, 0x7fffffff, MAX_FRAME - 4, MAX_FRAME - 3, MAX_FRAME, v.getUint32(0) + 1, v.getUint32(0) - 1, rng.int(2 ** 32)]) >>> 0);
      return b;
    case 1:
      v.setUint8(4, rng.pick([0, 7, 255, rng.int(256)]));
      return b;
    case 2:
      v.setUint8(5, rng.int(256));
      return b;
    case 3:
      v.setUint32(6, rng.pick([0, 0xffffffff, rng.int(2 ** 32)]) >>> 0);
      return b;
    case 4:
      if (b.length >= 12) v.setUint16(10, rng.pick([0, 0xffff, v.getUint16(10) + 1, rng.int(0x10000)]));
      return b;
    case 5: // truncation: the peer stops mid-frame (and may go on with the next)
      return b.subarray(0, rng.int(b.length));
    case 6: {
      const n = 1 + rng.int(4);
      for (let i = 0; i < n; i++) b[rng.int(b.length)] = rng.int(256);
      return b;
    }
    case 7:
      return rawFrame(FrameType.REQ, 1, rng.int(100), hostileMeta(rng), new Uint8Array(0));
    default: {
      // A frame that claims far more payload than it will ever send.
      const out = b.slice(0, 12);
      new DataView(out.buffer).setUint32(0, rng.pick([MAX_FRAME - 4, 1 << 20, 65536]));
      return out;
    }
  }
}

export interface Case {
  target: "unix" | "tcp";
  phase: "raw" | "hello" | "ready";
  bytes: Uint8Array[];
  frames: number;
  /** Bytes per write, so frames also arrive split across reads. */
  chunk: number;
}

/** Case n of a seed: the same bytes on every run. */
export function makeCase(seed: number, n: number, ops: string[], hasTcp: boolean): Case {
  const rng = new Rng((seed * 1_000_003 + n) >>> 0);
  const target = hasTcp && rng.chance(0.5) ? "tcp" : "unix";
  const phase = rng.pick(["raw", "hello", "ready", "ready"] as const);
  const ids: number[] = [];
  const bytes: Uint8Array[] = [];
  const count = 1 + rng.int(12);
  for (let i = 0; i < count; i++) {
    const r = rng.next();
    if (r < 0.12) bytes.push(rng.bytes(1 + rng.int(64)));
    else if (r < 0.55) bytes.push(...validFrames(rng, ops, ids));
    else {
      const fs = validFrames(rng, ops, ids);
      const k = rng.int(fs.length);
      fs[k] = mutate(rng, fs[k]);
      bytes.push(...fs);
    }
  }
  return { target, phase, bytes, frames: count, chunk: rng.pick([1, 7, 100, 4096, 1 << 20]) };
}

const PROBE = 0x7ffffff0;

/** Runs one case; resolves once the server answered the probe, cut us off, or went quiet. */
async function runCase(c: Case, o: FuzzOptions): Promise<{ cutOff: boolean }> {
  const t: Target = c.target === "tcp" && o.tcp ? o.tcp : { unix: o.unix };
  let conn: RawConn;
  try {
    conn = await RawConn.open(t);
  } catch {
    return { cutOff: true };
  }
  try {
    if (c.phase !== "raw") {
      const ok = await conn.handshake(c.phase === "ready" ? o.token : undefined);
      // Over TCP the proof may be refused BUSY (token checks taking turns): not a finding.
      if (!ok && c.phase === "ready" && c.target === "unix") throw new Error(`handshake failed on ${c.target}`);
      if (!ok && c.phase === "ready") return { cutOff: true };
    }
    const all = Buffer.concat(c.bytes);
    for (let pos = 0; pos < all.length; pos += c.chunk) conn.write(all.subarray(pos, pos + c.chunk));
    conn.write(encodeFrame(FrameType.REQ, PROBE, { op: "list" }));
    await conn.until(() => !!conn.reply(PROBE), 150);
    return { cutOff: conn.closed };
  } finally {
    conn.end();
  }
}

let checkLine: Promise<unknown> = Promise.resolve();

/** A real client round trip on every transport: the server still does its job. */
function check(o: FuzzOptions, n: number): Promise<string | null> {
  // One at a time: two checks copying to region 9 at once would race each other.
  const p = checkLine.then(() => checkNow(o, n));
  checkLine = p.catch(() => {});
  return p;
}

async function checkNow(o: FuzzOptions, n: number): Promise<string | null> {
  const targets: { server: string; token?: string }[] = [{ server: `unix:${o.unix}` }];
  if (o.tcp) targets.push({ server: `tcp:${o.tcp.host}:${o.tcp.port}`, token: o.token });
  for (const t of targets) {
    let c: Client | null = null;
    try {
      // The fuzzer's own wrong token proofs make token checks take turns; a
      // real client told BUSY comes back, and so does the check.
      for (let attempt = 1; !c; attempt++) {
        try {
          c = await Client.connect({ server: t.server, token: t.token, timeoutMs: 5000 });
        } catch (e) {
          if (!isClipError(e, "BUSY") || attempt === 5) throw e;
          await Bun.sleep(1000);
        }
      }
      const value = new TextEncoder().encode(`fuzz check ${n} ${t.server}`);
      await c.copy(9, value);
      const got = await c.paste(9);
      if (Buffer.compare(Buffer.from(got), Buffer.from(value)) !== 0) return `paste on ${t.server} returned other bytes`;
    } catch (e) {
      return `check ${n} on ${t.server}: ${(e as Error).message}`;
    } finally {
      c?.close();
    }
  }
  return null;
}

export async function fuzz(o: FuzzOptions): Promise<FuzzReport> {
  const ops = [...BASE_OPS, ...(o.ops ?? [])];
  const start = Date.now();
  const r: FuzzReport = { seed: o.seed, frames: 0, cases: 0, crashes: 0, checks: 0, checkFailures: [], startRssKb: rssKb(o.pid), peakRssKb: 0, endRssKb: 0, cutOff: 0, seconds: 0 };
  r.peakRssKb = r.startRssKb;
  let next = o.only ?? 0;
  const last = o.only ?? Number.POSITIVE_INFINITY;
  let stop = false;
  const worker = async () => {
    while (!stop) {
      if (r.frames >= o.frames || Date.now() - start > o.timeMs || next > last) break;
      const n = next++;
      const c = makeCase(o.seed, n, ops, !!o.tcp);
      r.frames += c.frames;
      let res: { cutOff: boolean };
      try {
        res = await runCase(c, o);
      } catch (e) {
        if (!alive(o.pid)) {
          stop = true;
          r.crashes++;
          r.crashCase = n;
          break;
        }
        r.checkFailures.push(`case ${n}: ${(e as Error).message}`);
        continue;
      }
      r.cases++;
      if (res.cutOff) r.cutOff++;
      if (!alive(o.pid)) {
        stop = true;
        r.crashes++;
        r.crashCase = n;
        break;
      }
      if (n % 50 === 49) {
        r.peakRssKb = Math.max(r.peakRssKb, rssKb(o.pid));
        r.checks++;
        const bad = await check(o, n);
        if (bad) r.checkFailures.push(bad);
        o.log?.(`case ${n + 1}: ${r.frames} frames, rss ${Math.round(rssKb(o.pid) / 1024)} MiB`);
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency ?? 8 }, worker));
  if (alive(o.pid)) {
    r.checks++;
    const bad = await check(o, -1);
    if (bad) r.checkFailures.push(bad);
  } else if (r.crashes === 0) r.crashes++;
  r.endRssKb = rssKb(o.pid);
  r.peakRssKb = Math.max(r.peakRssKb, r.endRssKb);
  r.seconds = (Date.now() - start) / 1000;
  return r;
}

// --- as a parent to a child ---

export interface ParentFuzzOptions {
  seed: number;
  cases: number;
  timeMs: number;
  token: string;
  /** The child's pid, once it runs (the child is started after listen()). */
  childPid: () => number;
}

export interface ParentFuzzReport {
  frames: number;
  cases: number;
  /** Children that died: must be 0. */
  crashes: number;
  seconds: number;
}

/**
 * A hostile parent: it proves the token (a parent holds it), then answers
 * the child's tree.join with events built from valid ones and mutated:
 * snapshot entries and ops of every entry kind, odd versions, values that
 * lie about their size, garbage, then it hangs up. The child reconnects with
 * its backoff, and each connection is one case.
 */
export class HostileParent {
  port = 0;
  report: ParentFuzzReport = { frames: 0, cases: 0, crashes: 0, seconds: 0 };
  private listener: { stop(closeActive?: boolean): void; port: number } | null = null;
  private n = 0;
  private readonly started = Date.now();
  private done!: () => void;
  readonly finished = new Promise<void>((r) => (this.done = r));

  constructor(private readonly o: ParentFuzzOptions) {}

  listen(): number {
    const { FrameDecoder } = require("../src/protocol/frame.ts") as typeof import("../src/protocol/frame.ts");
    const { serverProof } = require("../src/protocol/proof.ts") as typeof import("../src/protocol/proof.ts");
    type S = { dec: InstanceType<typeof FrameDecoder>; rng: Rng; snonce: string; timer?: ReturnType<typeof setTimeout> };
    const self = this;
    this.listener = Bun.listen<S>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(sock) {
          const n = self.n++;
          sock.data = { dec: new FrameDecoder(), rng: new Rng((self.o.seed * 7919 + n) >>> 0), snonce: "ab".repeat(16) };
          if (self.over()) sock.end();
        },
        data(sock, chunk) {
          let frames;
          try {
            frames = sock.data.dec.push(chunk);
          } catch {
            sock.end();
            return;
          }
          for (const f of frames) {
            if (f.type !== FrameType.REQ) continue;
            const send = (b: Uint8Array) => {
              sock.write(b);
              self.report.frames++;
            };
            if (f.meta.op === "hello") send(encodeFrame(FrameType.RES, f.id, { v: PROTOCOL_VERSION, server: "evil", id: "e0e0e0e0e0e0", auth: "token", nonce: sock.data.snonce, admin: true }));
            else if (f.meta.op === "auth") send(encodeFrame(FrameType.RES, f.id, { proof: serverProof(self.o.token, sock.data.snonce, String(f.meta.cnonce)) }));
            else if (f.meta.op === "tree.join") {
              for (const b of joinStream(sock.data.rng, f.id)) send(b);
              self.report.cases++;
              // Hang up a little later: the child must cope with what it got, then with the loss.
              sock.data.timer = setTimeout(() => sock.end(), 50 + sock.data.rng.int(200));
            } else if (f.meta.op === "tree.forward") send(encodeFrame(FrameType.ERR, f.id, { code: sock.data.rng.pick(["X", "PROTOCOL", 5]), message: "no" }));
            else send(encodeFrame(FrameType.RES, f.id, {}));
          }
        },
        close(sock) {
          clearTimeout(sock.data?.timer);
          if (!alive(self.o.childPid())) self.report.crashes++;
          if (self.over()) self.done();
        },
      },
    });
    this.port = this.listener.port;
    return this.port;
  }

  private over(): boolean {
    return this.report.cases >= this.o.cases || Date.now() - this.started > this.o.timeMs || this.report.crashes > 0;
  }

  /** Stops answering: the child becomes the root of its own subtree again. */
  stop(): void {
    this.report.seconds = (Date.now() - this.started) / 1000;
    this.listener?.stop(true);
    this.done();
  }
}

/** The events a parent sends on a join stream: mostly well-formed, some not. */
function joinStream(rng: Rng, id: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let rev = 1 + rng.int(5);
  const t0 = Date.now() * 1000;
  const op = (i: number) => {
    const w = rng.chance(0.7)
      ? { key: rng.pick(["r/1", "r/2", "r/8", "k/fz/a", "g/fz"]), ver: { t: t0 + i, n: "e0e0e0e0e0e0" }, meta: { at: Date.now(), by: "evil" }, has: true }
      : (opMeta(rng) as Record<string, unknown>);
    return w;
  };
  const evt = (meta: object, payload?: Uint8Array, fin = true) => encodeFrame(FrameType.EVT, id, meta, payload, fin);
  if (rng.chance(0.85)) out.push(evt({ t: "path", path: rng.chance(0.9) ? [] : rng.pick([["x"], "x", [1]]), parent: rng.chance(0.9) ? { id: "e0e0e0e0e0e0", name: "evil", addrs: [], role: "root", clients: 0, rev } : nodeInfo(rng) }));
  const entries = rng.int(4);
  for (let i = 0; i < entries; i++) {
    // A key's entry, then (sometimes) its history rows, as a snapshot sends them.
    // Mostly well-formed, so that most joins get as far as synced and the stream after it is exercised too.
    out.push(evt({ t: "entry", ...op(i), rev: rng.chance(0.9) ? i + 1 : rng.pick([-1, "x", 2 ** 53]), dropped: rng.chance(0.9) ? 0 : rng.pick([3, -2, "x"]) }, rng.bytes(rng.int(50))));
    for (let j = rng.chance(0.7) ? 0 : rng.int(3); j > 0; j--) out.push(evt({ t: "row", ...op(i), rev: rng.chance(0.9) ? j : "x", has: rng.chance(0.5), skip: rng.chance(0.1) }, rng.bytes(rng.int(30))));
  }
  if (rng.chance(0.8)) out.push(evt({ t: "synced", rev: rng.chance(0.9) ? rev : rng.pick(NASTY), entries }));
  const more = rng.int(8);
  for (let i = 0; i < more; i++) {
    const k = rng.int(10);
    let frames: Uint8Array[];
    if (k < 4) {
      // An op whose value is split, cut short, or longer than it says.
      const w = op(100 + i);
      const body = rng.bytes(rng.int(3000));
      const cut = rng.int(body.length + 1);
      frames = [evt({ t: "op", rev: ++rev, op: w, ...(rng.chance(0.15) ? { held: true } : {}) }, body.subarray(0, cut), rng.chance(0.6))];
      if (rng.chance(0.5)) frames.push(encodeFrame(FrameType.DATA, id, null, body.subarray(cut), true));
    } else if (k === 4) frames = [evt({ t: "reseq", rev: rng.pick([rev, 0, -1, "x"]) })];
    else if (k === 5) frames = [evt({ t: "msg", topic: rng.pick(["chat:fz", 5]), msg: rng.pick([{ text: "hi" }, null, "x"]) })];
    else if (k === 6) frames = [evt({ t: "beat", rev: rng.pick([rev, 2 ** 53, "x"]) })];
    else if (k === 7) frames = [evt({ t: rng.pick(["entry", "synced", "path", "nope", 5]), ...op(200 + i) })];
    else if (k === 8) frames = [encodeFrame(rng.pick([FrameType.RES, FrameType.ERR, FrameType.DATA]), rng.pick([id, 0, id + 1]), { code: "X", message: "m", t: "op" })];
    else frames = [rng.bytes(1 + rng.int(40))];
    if (rng.chance(0.25)) frames[0] = mutate(rng, frames[0]);
    out.push(...frames);
  }
  return out;
}

// --- npm run fuzz ---

function flag(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

if (import.meta.main && process.argv.includes("--parent")) {
  // npm run fuzz -- --parent [--seed S] [--cases N] [--time S]
  const { startServer } = await import("../tests/helpers/clip.ts");
  const seed = flag("seed", Date.now() % 100000);
  const dir = mkdtempSync("/tmp/fzp-");
  const token = `fuzz-parent-${seed}`;
  writeFileSync(`${dir}/token`, token, { mode: 0o600 });
  let pid = 0;
  const parent = new HostileParent({ seed, cases: flag("cases", 1000), timeMs: flag("time", 120) * 1000, token, childPid: () => pid });
  const port = parent.listen();
  const child = await startServer({ dir, memory: true, args: ["--connect", `tcp:127.0.0.1:${port}`, "--token-file", `${dir}/token`] });
  pid = child.pid;
  const rss0 = rssKb(pid);
  let peak = rss0;
  const watch = setInterval(() => (peak = Math.max(peak, rssKb(pid))), 200);
  await parent.finished;
  parent.stop();
  clearInterval(watch);
  const r = parent.report;
  const ok = alive(pid) && (await check({ seed, frames: 0, timeMs: 0, pid, unix: child.socket }, -1).catch((e) => String(e))) === null;
  console.log(`hostile parent: ${r.frames} frames in ${r.cases} joins (${r.seconds.toFixed(1)} s); child crashes ${r.crashes + (alive(pid) ? 0 : 1)}; child answers after: ${ok}; child rss start ${(rss0 / 1024).toFixed(1)} MiB, peak ${(peak / 1024).toFixed(1)} MiB`);
  if (!ok) console.log(child.stderr().slice(-3000));
  await child[Symbol.asyncDispose]();
  rmSync(dir, { recursive: true, force: true });
  process.exitCode = ok && r.crashes === 0 ? 0 : 1;
} else if (import.meta.main) {
  const { startServer } = await import("../tests/helpers/clip.ts");
  const seed = flag("seed", Date.now() % 100000);
  const frames = flag("frames", 100_000);
  const timeMs = flag("time", 120) * 1000;
  const only = process.argv.includes("--case") ? flag("case", 0) : undefined;
  const dir = mkdtempSync("/tmp/fz-");
  const token = "fuzz-token-" + seed;
  writeFileSync(`${dir}/token`, token, { mode: 0o600 });
  await using srv = await startServer({ dir, args: ["--listen", "tcp:127.0.0.1:0", "--token-file", `${dir}/token`] });
  const port = loggedTcpPort(srv.stderr());
  console.log(`fuzzing server pid ${srv.pid}, seed ${seed}, up to ${frames} frames / ${timeMs / 1000} s`);
  const r = await fuzz({ seed, frames, timeMs, only, ops: MORE_OPS, pid: srv.pid, unix: srv.socket, tcp: { host: "127.0.0.1", port }, token, log: (l) => console.log(l) });
  console.log(JSON.stringify(r, null, 2));
  console.log(
    `frames tried ${r.frames} in ${r.cases} connections (${r.seconds.toFixed(1)} s); crashes ${r.crashes}; checks ${r.checks - r.checkFailures.length}/${r.checks} ok; ` +
      `rss start ${(r.startRssKb / 1024).toFixed(1)} MiB, peak ${(r.peakRssKb / 1024).toFixed(1)} MiB, end ${(r.endRssKb / 1024).toFixed(1)} MiB`,
  );
  if (r.crashes) console.log(`replay: npm run fuzz -- --seed ${seed} --case ${r.crashCase}\nserver log:\n${srv.stderr().slice(-4000)}`);
  rmSync(dir, { recursive: true, force: true });
  process.exitCode = r.crashes || r.checkFailures.length ? 1 : 0;
}
