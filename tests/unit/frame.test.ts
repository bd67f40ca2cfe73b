// The frame codec: every frame type decoded whole, byte by byte and in odd
// splits; garbage and oversize input come out as ClipError("PROTOCOL"), and
// lengths are checked before anything is allocated.

import { describe, expect, test } from "bun:test";
import { ClipError } from "../../src/protocol/errors.ts";
import {
  FLAG_FIN,
  FrameDecoder,
  FrameType,
  HEADER_SIZE,
  MAX_CHUNK,
  MAX_FRAME,
  MAX_META,
  encodeFrame,
  withStreamId,
  writeHeader,
  type Frame,
} from "../../src/protocol/frame.ts";

const enc = new TextEncoder();

/** Feeds `bytes` in chunks of `size` (Infinity: whole) and returns the frames. */
function decodeIn(bytes: Uint8Array, size: number, d = new FrameDecoder()): Frame[] {
  const out: Frame[] = [];
  const step = Number.isFinite(size) ? size : bytes.length || 1;
  for (let i = 0; i < bytes.length; i += step) out.push(...d.push(bytes.subarray(i, i + step)));
  expect(d.buffered).toBe(0);
  return out;
}

/** The parts joined: the test builds its input from frames and raw headers. */
const concat = (parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

function expectProtocolError(fn: () => unknown): ClipError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ClipError);
    expect((e as ClipError).code).toBe("PROTOCOL");
    return e as ClipError;
  }
  throw new Error("expected a PROTOCOL error, got none");
}

/** A raw header with any field, to build frames the encoder would refuse. */
function rawHeader(len: number, type: number, flags: number, id: number, metaLen: number): Uint8Array {
  const b = new Uint8Array(HEADER_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(0, len);
  v.setUint8(4, type);
  v.setUint8(5, flags);
  v.setUint32(6, id);
  v.setUint16(10, metaLen);
  return b;
}

const payload = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);

const cases: { name: string; type: FrameType; id: number; meta: object | null; payload: Uint8Array; fin: boolean }[] = [
  { name: "REQ with meta", type: FrameType.REQ, id: 1, meta: { op: "hello", v: 1, kind: "cli" }, payload: new Uint8Array(0), fin: true },
  { name: "REQ opening an upload", type: FrameType.REQ, id: 7, meta: { op: "copy", r: 3, size: 10 }, payload: payload(10), fin: false },
  { name: "RES with a value", type: FrameType.RES, id: 0xffffffff, meta: { r: 3, size: 300 }, payload: payload(300), fin: true },
  { name: "RES empty", type: FrameType.RES, id: 2, meta: null, payload: new Uint8Array(0), fin: true },
  { name: "ERR", type: FrameType.ERR, id: 9, meta: { code: "USAGE", message: "bad region \"é\"" }, payload: new Uint8Array(0), fin: true },
  { name: "DATA mid-value", type: FrameType.DATA, id: 3, meta: null, payload: payload(1000), fin: false },
  { name: "DATA last", type: FrameType.DATA, id: 3, meta: null, payload: payload(1), fin: true },
  { name: "EVT", type: FrameType.EVT, id: 12, meta: { r: 1, size: 2 }, payload: enc.encode("hi"), fin: true },
  { name: "CANCEL", type: FrameType.CANCEL, id: 12, meta: null, payload: new Uint8Array(0), fin: true },
];

describe("frame codec", () => {
  for (const c of cases) {
    for (const [how, size] of [
      ["whole", Infinity],
      ["byte by byte", 1],
      ["in chunks of 5", 5],
      ["in chunks of 13", 13],
    ] as const) {
      test(`frame - ${c.name} round trips ${how}`, () => {
        const bytes = encodeFrame(c.type, c.id, c.meta, c.payload, c.fin);
        const frames = decodeIn(bytes, size);
        expect(frames.length).toBe(1);
        const f = frames[0];
        expect(f.type).toBe(c.type);
        expect(f.id).toBe(c.id);
        expect(f.fin).toBe(c.fin);
        expect(f.meta).toEqual((c.meta ?? {}) as Record<string, unknown>);
        expect([...f.payload]).toEqual([...c.payload]);
      });
    }
  }

  test("frame - the header layout is as documented", () => {
    const bytes = encodeFrame(FrameType.EVT, 0x01020304, { a: 1 }, Uint8Array.of(9, 8), false);
    const meta = enc.encode(JSON.stringify({ a: 1 }));
    const v = new DataView(bytes.buffer, bytes.byteOffset);
    expect(v.getUint32(0)).toBe(bytes.length - 4);
    expect(v.getUint8(4)).toBe(FrameType.EVT);
    expect(v.getUint8(5)).toBe(0);
    expect(v.getUint32(6)).toBe(0x01020304);
    expect(v.getUint16(10)).toBe(meta.length);
    expect([...bytes.subarray(HEADER_SIZE, HEADER_SIZE + meta.length)]).toEqual([...meta]);
    expect([...bytes.subarray(HEADER_SIZE + meta.length)]).toEqual([9, 8]);
    expect(encodeFrame(FrameType.CANCEL, 1, null)[5]).toBe(FLAG_FIN);
  });

  test("frame - writeHeader matches encodeFrame", () => {
    const p = payload(33);
    const a = encodeFrame(FrameType.DATA, 5, null, p, true);
    const b = new Uint8Array(HEADER_SIZE + p.length);
    b.set(p, HEADER_SIZE);
    writeHeader(b, FrameType.DATA, 5, 0, p.length, true);
    expect([...b]).toEqual([...a]);
  });

  test("frame - withStreamId copies a frame onto another stream, leaving the original", () => {
    const meta = { event: "put", key: "k", size: 3 };
    const a = encodeFrame(FrameType.EVT, 7, meta, Uint8Array.of(1, 2, 3));
    const b = withStreamId(a, 0xfedcba98);
    expect([...b]).toEqual([...encodeFrame(FrameType.EVT, 0xfedcba98, meta, Uint8Array.of(1, 2, 3))]);
    expect(new FrameDecoder().push(a)[0].id).toBe(7);
  });

  test("frame - many frames in one stream, whole and byte by byte, in order", () => {
    const all = concat(cases.map((c) => encodeFrame(c.type, c.id, c.meta, c.payload, c.fin)));
    for (const size of [Infinity, 1, 7, 64]) {
      const frames = decodeIn(all, size);
      expect(frames.map((f) => f.type)).toEqual(cases.map((c) => c.type));
      expect(frames.map((f) => f.payload.length)).toEqual(cases.map((c) => c.payload.length));
    }
  });

  test("frame - a full-size frame (MAX_CHUNK payload, big meta) decodes whole and split", () => {
    const big = payload(MAX_CHUNK);
    const meta = { pad: "x".repeat(MAX_META - 20) };
    const bytes = encodeFrame(FrameType.DATA, 4, meta, big, true);
    expect(bytes.length).toBeLessThanOrEqual(MAX_FRAME);
    for (const size of [Infinity, 4096, 100_001]) {
      const [f] = decodeIn(bytes, size);
      expect(f.payload.length).toBe(MAX_CHUNK);
      expect(f.payload[MAX_CHUNK - 1]).toBe(big[MAX_CHUNK - 1]);
      expect((f.meta.pad as string).length).toBe(MAX_META - 20);
    }
  });

  test("frame - payloads decoded in place are not clobbered by later chunks", () => {
    const a = encodeFrame(FrameType.DATA, 1, null, payload(100), false);
    const b = encodeFrame(FrameType.DATA, 1, null, new Uint8Array(100).fill(0xee), true);
    const d = new FrameDecoder();
    const first = d.push(concat([a, b.subarray(0, 20)]));
    const second = d.push(b.subarray(20));
    expect([...first[0].payload]).toEqual([...payload(100)]);
    expect(second[0].payload.every((x) => x === 0xee)).toBe(true);
  });

  test("frame - the encoder refuses oversize payload and meta", () => {
    expectProtocolError(() => encodeFrame(FrameType.DATA, 1, null, new Uint8Array(MAX_CHUNK + 1)));
    expectProtocolError(() => encodeFrame(FrameType.REQ, 1, { pad: "x".repeat(MAX_META) }));
  });
});

describe("frame decoder - bad input", () => {
  test("frame - a header claiming 4 GiB throws at once and holds nothing", () => {
    const d = new FrameDecoder();
    expectProtocolError(() => d.push(rawHeader(0xffffffff, FrameType.DATA, 0, 1, 0)));
    expect(d.buffered).toBeLessThanOrEqual(HEADER_SIZE);
  });

  test("frame - a header claiming 4 GiB fed byte by byte throws on its last byte", () => {
    const d = new FrameDecoder();
    const h = rawHeader(0xffffffff, FrameType.DATA, 0, 1, 0);
    for (let i = 0; i < HEADER_SIZE - 1; i++) expect(d.push(h.subarray(i, i + 1))).toEqual([]);
    expect(d.buffered).toBeLessThan(HEADER_SIZE);
    expectProtocolError(() => d.push(h.subarray(HEADER_SIZE - 1)));
    expect(d.buffered).toBeLessThanOrEqual(HEADER_SIZE);
  });

  test("frame - one byte over MAX_FRAME is refused; exactly MAX_FRAME is accepted", () => {
    expectProtocolError(() => new FrameDecoder().push(rawHeader(MAX_FRAME - 4 + 1, FrameType.DATA, 0, 1, 0)));
    const d = new FrameDecoder();
    expect(d.push(rawHeader(MAX_FRAME - 4, FrameType.DATA, 0, 1, 0))).toEqual([]);
    expect(d.buffered).toBeLessThanOrEqual(MAX_FRAME);
  });

  test("frame - a smaller limit given to the decoder is enforced", () => {
    const d = new FrameDecoder(1024);
    expectProtocolError(() => d.push(encodeFrame(FrameType.DATA, 1, null, new Uint8Array(2000))));
  });

  test("frame - a length shorter than a header is refused", () => {
    for (const len of [0, 1, 7]) expectProtocolError(() => new FrameDecoder().push(rawHeader(len, FrameType.REQ, 0, 1, 0)));
  });

  test("frame - unknown types and flags are refused", () => {
    for (const t of [0, 7, 255]) expectProtocolError(() => new FrameDecoder().push(rawHeader(8, t, 0, 1, 0)));
    for (const f of [2, 0x80, 0xff]) expectProtocolError(() => new FrameDecoder().push(rawHeader(8, FrameType.REQ, f, 1, 0)));
  });

  test("frame - meta longer than the frame is refused", () => {
    expectProtocolError(() => new FrameDecoder().push(concat([rawHeader(8 + 4, FrameType.REQ, 1, 1, 5), new Uint8Array(4)])));
  });

  test("frame - meta that is not UTF-8 JSON object is refused, whole and byte by byte", () => {
    for (const meta of [enc.encode("{not json"), Uint8Array.of(0xff, 0xfe), enc.encode("[1,2]"), enc.encode("42"), enc.encode("null"), enc.encode('"s"')]) {
      const bytes = concat([rawHeader(8 + meta.length, FrameType.REQ, 1, 1, meta.length), meta]);
      expectProtocolError(() => new FrameDecoder().push(bytes));
      expectProtocolError(() => decodeIn(bytes, 1));
    }
  });

  test("frame - HTTP and TLS greetings are refused at their header", () => {
    for (const g of ["GET / HTTP/1.1\r\nHost: x\r\n\r\n", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03abcdef", "PING\r\n\r\n\r\n\r\n"]) {
      const d = new FrameDecoder();
      expectProtocolError(() => d.push(enc.encode(g)));
      expect(d.buffered).toBeLessThanOrEqual(HEADER_SIZE);
    }
  });

  test("frame - random garbage never crashes and never buffers past the frame limit", () => {
    let seed = 12345;
    const rnd = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };
    for (let round = 0; round < 500; round++) {
      const n = 1 + Math.floor(rnd() * 64);
      const bytes = Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256));
      const d = new FrameDecoder();
      try {
        for (let i = 0; i < bytes.length; i += 3) d.push(bytes.subarray(i, i + 3));
      } catch (e) {
        expect(e).toBeInstanceOf(ClipError);
        expect((e as ClipError).code).toBe("PROTOCOL");
      }
      expect(d.buffered).toBeLessThanOrEqual(MAX_FRAME);
    }
  });

  test("frame - a valid frame followed by garbage yields the error, not a crash", () => {
    const good = encodeFrame(FrameType.REQ, 1, { op: "list" });
    const d = new FrameDecoder();
    expect(d.push(good).length).toBe(1);
    expectProtocolError(() => d.push(enc.encode("garbage garbage")));
  });
});
