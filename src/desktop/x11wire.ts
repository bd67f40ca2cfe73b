// The few X11 messages clip speaks (pure, no I/O): where DISPLAY points,
// which Xauthority cookie to present, the connection setup, InternAtom,
// QueryExtension and XFIXES requests, and a push splitter for what the
// server sends back. Little-endian throughout: we say so in the setup.
// x11events.ts puts them on a socket.

import { hostname } from "node:os";

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
