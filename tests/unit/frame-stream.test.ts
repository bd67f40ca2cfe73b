// The decoder's streamData mode (used by the session and the client): DATA
// frames come out in pieces that are views of the pushed chunks, and the
// bytes and frame boundaries of everything else are unchanged.

import { describe, expect, test } from "bun:test";
import { FrameDecoder, FrameType, encodeFrame, type Frame } from "../../src/protocol/frame.ts";

function mixed(seed: number): { bytes: Uint8Array; expect: string[] } {
  let s = seed;
  const rnd = (n: number) => ((s = (s * 1103515245 + 12345) >>> 0), s % n);
  const parts: Uint8Array[] = [];
  const expect: string[] = [];
  for (let i = 0; i < 20; i++) {
    const kind = rnd(3);
    const payload = new Uint8Array(rnd(4) === 0 ? 0 : rnd(3000)).map(() => rnd(256));
    const fin = rnd(2) === 0;
    const type = kind === 1 ? FrameType.RES : FrameType.DATA;
    parts.push(encodeFrame(type, i, kind === 0 ? null : { k: kind }, payload, fin));
    expect.push(`${type}/${i}/${fin}/${Buffer.from(payload).toString("hex")}`);
  }
  return { bytes: Buffer.concat(parts), expect };
}

/** Feeds `bytes` in chunks and joins consecutive pieces of one frame back together. */
function feed(bytes: Uint8Array, chunk: (i: number) => number, expect: string[]): { got: string[]; frames: Frame[] } {
  const d = new FrameDecoder(undefined, { streamData: true });
  const got: string[] = [];
  const frames: Frame[] = [];
  let cur = "";
  for (let pos = 0, i = 0; pos < bytes.length; i++) {
    const n = chunk(i);
    for (const f of d.push(bytes.subarray(pos, pos + n))) {
      frames.push(f);
      cur += Buffer.from(f.payload).toString("hex");
      const line = `${f.type}/${f.id}/${f.fin}/${cur}`;
      if (line === expect[got.length]) {
        got.push(line);
        cur = "";
      }
    }
    pos += n;
  }
  return { got, frames };
}

describe("frame decoder - streamData", () => {
  test("frame - DATA pieces rebuild every value, whole, byte by byte and in odd chunks", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const { bytes, expect: want } = mixed(seed);
      for (const size of [bytes.length, 1, 7, 1000]) expect(feed(bytes, () => size, want).got).toEqual(want);
    }
  });

  test("frame - a DATA frame split over chunks comes out as views, not a reassembled copy", () => {
    const payload = new Uint8Array(100_000).fill(7);
    const bytes = encodeFrame(FrameType.DATA, 9, null, payload, true);
    const chunks = [bytes.slice(0, 30_000), bytes.slice(30_000, 70_000), bytes.slice(70_000)];
    const d = new FrameDecoder(undefined, { streamData: true });
    const out = chunks.flatMap((c) => d.push(c).map((f) => ({ f, c })));
    expect(out.length).toBe(3);
    for (const { f, c } of out) expect(f.payload.buffer).toBe(c.buffer);
    expect(out.map(({ f }) => f.fin)).toEqual([false, false, true]);
    expect(out.reduce((n, { f }) => n + f.payload.length, 0)).toBe(100_000);
    expect(d.buffered).toBe(0);
  });
});
