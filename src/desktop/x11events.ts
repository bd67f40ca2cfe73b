// X11 clipboard change events without polling: a minimal X11 client that
// speaks just enough of the core protocol and the XFIXES extension to be told
// each time the CLIPBOARD selection changes owner (a copy in any
// application, also a re-copy of the same text) or loses it (owner gone).
// No Debian package gives these events to a script (clipnotify is not
// packaged), and a poll costs CPU forever and misses re-copies; the dozen
// requests needed are less code than a poll's fingerprinting.
// The codec part (display names, Xauthority, requests, replies) is pure.

import { readFileSync } from "node:fs";
import { hostname, homedir } from "node:os";
import type { Tick } from "./backend.ts";

export type XAddress = { kind: "unix"; path: string; display: string } | { kind: "tcp"; host: string; port: number; display: string };

/** DISPLAY (":0", ":1.0", "unix:0", "localhost:10.0", "/tmp/launch-x/org.xquartz:0") to where the server listens. */
export function parseDisplay(d: string): XAddress | null {
  if (d.startsWith("/")) return { kind: "unix", path: d, display: /:([0-9]+)(\.[0-9]+)?$/.exec(d)?.[1] ?? "0" };
  const m = /^(.*):([0-9]+)(\.[0-9]+)?$/.exec(d);
  if (!m) return null;
  const [, host, display] = m;
  if (host === "" || host === "unix") return { kind: "unix", path: `/tmp/.X11-unix/X${display}`, display };
  return { kind: "tcp", host: host.replace(/^\[(.*)\]$/, "$1"), port: 6000 + Number(display), display };
}

interface XauthEntry {
  family: number;
  address: string;
  number: string;
  name: string;
  data: Uint8Array;
}

export function parseXauthority(buf: Uint8Array): XauthEntry[] {
  const out: XauthEntry[] = [];
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let o = 0;
  const field = (): Uint8Array | null => {
    if (o + 2 > buf.length) return null;
    const n = v.getUint16(o);
    if (o + 2 + n > buf.length) return null;
    const f = buf.subarray(o + 2, o + 2 + n);
    o += 2 + n;
    return f;
  };
  const dec = new TextDecoder();
  while (o + 2 <= buf.length) {
    const family = v.getUint16(o);
    o += 2;
    const [address, number, name, data] = [field(), field(), field(), field()];
    if (!address || !number || !name || !data) break;
    out.push({ family, address: dec.decode(address), number: dec.decode(number), name: dec.decode(name), data });
  }
  return out;
}

const FAMILY_LOCAL = 256;
const FAMILY_WILD = 65535;

/** The MIT-MAGIC-COOKIE-1 for this display, as Xlib picks it; none when there is no such entry. */
export function cookieFor(entries: XauthEntry[], addr: XAddress, host = hostname()): { name: string; data: Uint8Array } | null {
  const usable = entries.filter((e) => e.name === "MIT-MAGIC-COOKIE-1" && (e.number === addr.display || e.number === ""));
  const local = addr.kind === "unix" || addr.host === "localhost" || addr.host === "127.0.0.1" || addr.host === "::1";
  const pick =
    usable.find((e) => e.family === FAMILY_LOCAL && e.address === host && local) ??
    usable.find((e) => e.family === FAMILY_WILD) ??
    usable.find((e) => e.family === FAMILY_LOCAL && local) ??
    usable.find((e) => e.family !== FAMILY_LOCAL);
  return pick ? { name: pick.name, data: pick.data } : null;
}

const pad4 = (n: number) => (4 - (n % 4)) % 4;

function withName(head: number[], name: string): Uint8Array {
  const s = new TextEncoder().encode(name);
  const len = 8 + s.length + pad4(s.length);
  const b = new Uint8Array(len);
  const v = new DataView(b.buffer);
  b[0] = head[0];
  b[1] = head[1];
  v.setUint16(2, len / 4, true);
  v.setUint16(4, s.length, true);
  b.set(s, 8);
  return b;
}

export const req = {
  setup(auth: { name: string; data: Uint8Array } | null): Uint8Array {
    const name = new TextEncoder().encode(auth?.name ?? "");
    const data = auth?.data ?? new Uint8Array(0);
    const b = new Uint8Array(12 + name.length + pad4(name.length) + data.length + pad4(data.length));
    const v = new DataView(b.buffer);
    b[0] = 0x6c; // 'l': little-endian, for every number both ways
    v.setUint16(2, 11, true);
    v.setUint16(4, 0, true);
    v.setUint16(6, name.length, true);
    v.setUint16(8, data.length, true);
    b.set(name, 12);
    b.set(data, 12 + name.length + pad4(name.length));
    return b;
  },
  internAtom: (name: string) => withName([16, 0], name),
  queryExtension: (name: string) => withName([98, 0], name),
  xfixesQueryVersion(major: number): Uint8Array {
    const b = new Uint8Array(12);
    const v = new DataView(b.buffer);
    b[0] = major;
    b[1] = 0;
    v.setUint16(2, 3, true);
    v.setUint32(4, 5, true);
    v.setUint32(8, 0, true);
    return b;
  },
  /** SetSelectionOwner, SelectionWindowDestroy and SelectionClientClose on `selection`, reported to `window`. */
  xfixesSelectSelectionInput(major: number, window: number, selection: number): Uint8Array {
    const b = new Uint8Array(16);
    const v = new DataView(b.buffer);
    b[0] = major;
    b[1] = 2;
    v.setUint16(2, 4, true);
    v.setUint32(4, window, true);
    v.setUint32(8, selection, true);
    v.setUint32(12, 7, true);
    return b;
  },
};

/** The connection-setup answer: refused (with the server's reason) or the first screen's root window. */
export function parseSetup(b: Uint8Array): { need: number } | { ok: false; reason: string; size: number } | { ok: true; root: number; size: number } {
  if (b.length < 8) return { need: 8 };
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const size = 8 + v.getUint16(6, true) * 4;
  if (b.length < size) return { need: size };
  if (b[0] !== 1) {
    const reason = new TextDecoder().decode(b.subarray(8, 8 + (b[0] === 0 ? b[1] : size - 8))).replace(/\0+$/, "").trim();
    return { ok: false, reason: reason || (b[0] === 2 ? "more authentication needed" : "refused"), size };
  }
  const vendorLen = v.getUint16(24, true);
  const formats = b[29];
  const screens = 40 + vendorLen + pad4(vendorLen) + 8 * formats;
  if (b[28] < 1 || screens + 4 > size) return { ok: false, reason: "no screen", size };
  return { ok: true, root: v.getUint32(screens, true), size };
}

/** One message after setup: replies are 32 bytes plus their length; errors and events are 32. */
export type XMessage = { kind: "reply"; seq: number; body: Uint8Array } | { kind: "error"; seq: number; code: number } | { kind: "event"; code: number; body: Uint8Array };

/** A push splitter: feed chunks, get whole messages, keep the rest. */
export class XReader {
  private buf: Uint8Array = new Uint8Array(0);
  push(chunk: Uint8Array): XMessage[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: XMessage[] = [];
    for (;;) {
      const b = this.buf;
      if (b.length < 32) break;
      const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
      let size = 32;
      if (b[0] === 1) size += v.getUint32(4, true) * 4;
      // Replies we ask for are tiny; anything huge is a broken or hostile peer.
      if (size > 1 << 20) throw new Error("X server sent an oversized reply");
      if (b.length < size) break;
      const m = b.subarray(0, size);
      const seq = v.getUint16(2, true);
      if (b[0] === 0) out.push({ kind: "error", seq, code: b[1] });
      else if (b[0] === 1) out.push({ kind: "reply", seq, body: m });
      else out.push({ kind: "event", code: b[0] & 0x7f, body: m });
      this.buf = b.subarray(size);
    }
    return out;
  }
}

/**
 * Ticks for each change of the CLIPBOARD selection's owner, until `signal`
 * aborts. Throws when it cannot connect or subscribe (the backend then
 * polls), or when the server goes away.
 */
export async function* selectionEvents(display: string, signal: AbortSignal, subscribed?: () => void, xauthority = process.env.XAUTHORITY): AsyncIterable<Tick> {
  const addr = parseDisplay(display);
  if (!addr) throw new Error(`cannot read DISPLAY=${display}`);
  let auth: { name: string; data: Uint8Array } | null = null;
  try {
    const file = xauthority || `${homedir()}/.Xauthority`;
    auth = cookieFor(parseXauthority(readFileSync(file)), addr);
  } catch {
    // no Xauthority: servers that allow local clients (Xvfb, many sessions) need none
  }

  const queue: Tick[] = [];
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  const notify = () => {
    wake?.();
    wake = null;
  };
  const replies = new Map<number, (m: XMessage) => void>();
  let seq = 0;
  let setupDone: ((r: ReturnType<typeof parseSetup>) => void) | null = null;
  let setupBuf = new Uint8Array(0);
  let firstEvent = -1;
  const reader = new XReader();

  const fail = (e: Error) => {
    if (failure) return;
    failure = e;
    const waiting = [...replies.values()];
    replies.clear();
    for (const r of waiting) r({ kind: "error", seq: 0, code: -1 });
    setupDone?.({ ok: false, reason: e.message, size: 0 });
    notify();
  };
  const onData = (chunk: Uint8Array) => {
    try {
      if (setupDone) {
        setupBuf = Buffer.concat([setupBuf, chunk]);
        const s = parseSetup(setupBuf);
        if ("need" in s) return;
        const done = setupDone;
        setupDone = null;
        const rest = setupBuf.subarray(s.size);
        done(s);
        if (!rest.length) return;
        chunk = rest;
      }
      for (const m of reader.push(chunk)) {
        if (m.kind === "event") {
          // XFixesSelectionNotify is the extension's event 0.
          if (m.code === firstEvent) queue.push({ fresh: true });
        } else {
          const r = replies.get(m.seq);
          replies.delete(m.seq);
          r?.(m);
        }
      }
      if (queue.length) notify();
    } catch (e) {
      fail(e as Error);
      sock?.end();
    }
  };
  const handlers = {
    data: (_s: unknown, d: Uint8Array) => onData(new Uint8Array(d)),
    close: () => fail(new Error("the X server closed the connection")),
    error: (_s: unknown, e: Error) => fail(e),
  };

  const setup = new Promise<ReturnType<typeof parseSetup>>((r) => (setupDone = r));
  let sock: Awaited<ReturnType<typeof Bun.connect>> | undefined;
  sock = addr.kind === "unix" ? await Bun.connect({ unix: addr.path, socket: handlers }) : await Bun.connect({ hostname: addr.host, port: addr.port, socket: handlers });
  const stop = () => {
    sock?.end();
    notify();
  };
  signal.addEventListener("abort", stop, { once: true });
  try {
    sock.write(req.setup(auth));
    const s = await setup;
    if (!("ok" in s) || !s.ok) throw new Error(`the X server refused us: ${"reason" in s ? s.reason : "?"}`);
    const ask = (bytes: Uint8Array) =>
      new Promise<XMessage>((resolve) => {
        seq = (seq + 1) & 0xffff;
        replies.set(seq, resolve);
        sock!.write(bytes);
      });
    const [atom, ext] = await Promise.all([ask(req.internAtom("CLIPBOARD")), ask(req.queryExtension("XFIXES"))]);
    if (atom.kind !== "reply" || ext.kind !== "reply") throw failure ?? new Error("the X server refused InternAtom/QueryExtension");
    if (!ext.body[8]) throw new Error("the X server has no XFIXES extension");
    const major = ext.body[9];
    firstEvent = ext.body[10];
    const clipboard = new DataView(atom.body.buffer, atom.body.byteOffset).getUint32(8, true);
    const ver = await ask(req.xfixesQueryVersion(major));
    if (ver.kind !== "reply") throw failure ?? new Error("XFIXES QueryVersion failed");
    // SelectSelectionInput has no reply: an error would come back with its sequence number.
    seq = (seq + 1) & 0xffff;
    const selectSeq = seq;
    replies.set(selectSeq, (m) => fail(new Error(`XFIXES SelectSelectionInput failed (error ${m.kind === "error" ? m.code : "?"})`)));
    sock.write(req.xfixesSelectSelectionInput(major, s.root, clipboard));
    // A round trip (GetInputFocus) so that an error for the above has arrived before we say we are subscribed.
    const sync = await ask(new Uint8Array([43, 0, 1, 0]));
    if (failure) throw failure;
    if (sync.kind !== "reply") throw new Error("the X server did not answer");
    subscribed?.();
    yield { fresh: false }; // watching from here on
    while (!signal.aborted) {
      if (failure) throw failure;
      if (queue.length) {
        queue.length = 0; // a burst of owner changes is one tick
        yield { fresh: true };
        continue;
      }
      await new Promise<void>((r) => {
        wake = r;
        if (queue.length || failure || signal.aborted) r();
      });
    }
  } finally {
    signal.removeEventListener("abort", stop);
    sock.end();
  }
}
