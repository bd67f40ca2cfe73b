// The client's end of end-to-end encryption, without a server: a write
// sealed as it streams (src/client/sealing.ts: sizes announced, sync
// sources stay sync, any reader buffer size, the type recognised from the
// plaintext), and values opened as they are read (src/client/opened.ts):
// whole and in place, or as a stream split anywhere; plain values passed
// untouched without ever loading the key; a missing or other key refused
// before a byte is given; a bad chunk stops the stream after the verified
// ones.

import { describe, expect, test } from "bun:test";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openMessage, openWhole } from "../../src/client/opened.ts";
import { Sealing } from "../../src/client/sealing.ts";
import { Key, encodeKeyFile, generateKey } from "../../src/crypto/key.ts";
import { DEFAULT_CHUNK, SEAL_HEADER_BYTES, TAG_BYTES, keyContext, openValue, regionContext, sealValue, sealedLength } from "../../src/crypto/seal.ts";
import { ClipError } from "../../src/protocol/errors.ts";
import { bytesSource, FileSource, iterableSource, type ValueSource } from "../../src/value/source.ts";
import { randomBytes, tempDir } from "../helpers/clip.ts";

const key = new Key(Uint8Array.from({ length: 32 }, (_, i) => 200 - i));
const other = generateKey();
const withKey = new Sealing(key);
const load = async () => withKey;
/** A loader that must not be called: plain values never need the key. */
const never = async (): Promise<Sealing> => {
  throw new Error("the key was looked for, for a plain value");
};
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

/** Everything a source gives, read into buffers of `step` bytes; also whether every read answered synchronously. */
async function drain(s: ValueSource, step: number): Promise<{ bytes: Uint8Array; sync: boolean }> {
  const parts: Uint8Array[] = [];
  let sync = true;
  for (;;) {
    const buf = new Uint8Array(step);
    let r = s.read(buf);
    if (typeof r !== "number") {
      sync = false;
      r = await r;
    }
    if (r === 0) break;
    parts.push(buf.slice(0, r));
  }
  s.close();
  return { bytes: new Uint8Array(Buffer.concat(parts)), sync };
}

/** A body that gives `bytes` in pieces of `step`. */
async function* pieces(bytes: Uint8Array, step: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += step) yield bytes.slice(i, i + step);
}

async function gather(body: AsyncIterable<Uint8Array>): Promise<{ bytes: Uint8Array; error: unknown }> {
  const parts: Uint8Array[] = [];
  try {
    for await (const c of body) parts.push(c.slice());
    return { bytes: new Uint8Array(Buffer.concat(parts)), error: null };
  } catch (e) {
    return { bytes: new Uint8Array(Buffer.concat(parts)), error: e };
  }
}

const message = (bytes: Uint8Array, step: number, meta: Record<string, unknown> = {}) => ({ type: 2, meta: { size: bytes.length, ...meta } as Record<string, unknown>, body: pieces(bytes, step) });

describe("sealing - writes", () => {
  test("sealing - a sealed source announces the sealed size and opens to the plaintext, whatever the reader's buffer", async () => {
    for (const n of [0, 1, 100, DEFAULT_CHUNK, DEFAULT_CHUNK + 1, 3 * DEFAULT_CHUNK - 7, (2 << 20) + 5]) {
      const plain = randomBytes(n, n + 1);
      for (const step of [1, 7, 4096, 1 << 20]) {
        if (step < 64 && n > 100_000) continue; // byte-sized reads of megabytes: slow, and the 7-byte case covers splits
        const { source, fields } = await withKey.sealWrite(bytesSource(plain), true, { region: 3 }, {});
        expect(source.size).toBe(sealedLength(n));
        expect(fields.sealed).toBe(key.id);
        const { bytes, sync } = await drain(source, step);
        expect(bytes.length).toBe(sealedLength(n));
        expect(sync).toBe(true); // bytes in memory: no promise per read
        expect(same(openValue(key, regionContext(3), bytes), plain)).toBe(true);
      }
    }
  });

  test("sealing - a file source stays synchronous; a pipe (no size) is sealed as it comes", async () => {
    using d = tempDir();
    const plain = randomBytes(300_000, 5);
    const file = join(String(d), "v");
    writeFileSync(file, plain);
    const f = await withKey.sealWrite(new FileSource(file, plain.length), true, { region: 1 }, {});
    const fromFile = await drain(f.source, 1 << 20);
    expect(fromFile.sync).toBe(true);
    expect(same(openValue(key, regionContext(1), fromFile.bytes), plain)).toBe(true);

    const piped = await withKey.sealWrite(iterableSource(pieces(plain, 9999)), true, { region: 1 }, {});
    expect(piped.source.size).toBeUndefined();
    const fromPipe = await drain(piped.source, 65536);
    expect(fromPipe.sync).toBe(false);
    expect(same(openValue(key, regionContext(1), fromPipe.bytes), plain)).toBe(true);
  });

  test("sealing - the type is recognised from the plaintext (servers see only sealed bytes); a given type is kept", async () => {
    const png = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3);
    expect((await withKey.sealWrite(bytesSource(png), true, { region: 0 }, {})).fields.type).toBe("image/png");
    expect((await withKey.sealWrite(bytesSource(new TextEncoder().encode("héllo")), true, { region: 0 }, {})).fields.type).toBe("text/plain;charset=utf-8");
    expect((await withKey.sealWrite(iterableSource(pieces(png, 3)), true, { region: 0 }, {})).fields.type).toBe("image/png");
    const given = await withKey.sealWrite(bytesSource(png), true, { region: 0 }, { type: "application/x-mine", ttl: 5 });
    expect(given.fields).toEqual({ type: "application/x-mine", ttl: 5, sealed: key.id });
    // A Key given to the write wins over the client's.
    expect((await withKey.sealWrite(bytesSource(png), other, { region: 0 }, {})).fields.sealed).toBe(other.id);
  });

  test("sealing - no usable key: the write fails before a byte is read, and the source is closed", async () => {
    using d = tempDir();
    let closed = false;
    let read = false;
    const src: ValueSource = {
      size: 10,
      read: () => {
        read = true;
        return 0;
      },
      close: () => {
        closed = true;
      },
    };
    const none = new Sealing(join(String(d), "missing-key"));
    const e = await none.sealWrite(src, true, { region: 0 }, {}).catch((x) => x);
    expect(e).toBeInstanceOf(ClipError);
    expect((e as ClipError).exitCode).toBe(1);
    expect((e as ClipError).message).toMatch(/^no key: .*missing-key does not exist: run clip keygen/);
    expect(read).toBe(false);
    expect(closed).toBe(true);
  });
});

describe("sealing - reads", () => {
  const plain = randomBytes(5 * DEFAULT_CHUNK + 123, 9);
  // A Uint8Array, not the Buffer sealValue returns: Buffer's slice() is a view, and these tests copy with slice().
  const sealed = new Uint8Array(sealValue(key, regionContext(4), plain));

  test("sealing - a whole value opens in place; meta says the plaintext's size and the key id", async () => {
    for (const n of [0, 1, DEFAULT_CHUNK, 3 * DEFAULT_CHUNK + 1, (3 << 20) + 11]) {
      const p = randomBytes(n, n + 3);
      const s = sealValue(key, regionContext(4), p);
      const meta: Record<string, unknown> = { size: s.length, encrypted: "anything" };
      const out = await openWhole(load, { region: 4 }, meta, s);
      expect(same(out, p)).toBe(true);
      expect(out.buffer).toBe(s.buffer); // in place: no second copy of the value
      expect(meta).toEqual({ size: n, encrypted: key.id });
    }
  });

  test("sealing - a plain value is untouched, never loads the key, and is not said to be encrypted (whatever the server says)", async () => {
    const p = new TextEncoder().encode("just text");
    const meta: Record<string, unknown> = { size: p.length, encrypted: "0123456789abcdef" };
    expect(await openWhole(never, { region: 0 }, meta, p)).toBe(p);
    expect(meta.encrypted).toBeUndefined();
    // A value shorter than the magic, even one that starts like it.
    const short = Uint8Array.of(0x89, 0x63, 0x6c);
    expect(await openWhole(never, { region: 0 }, {}, short)).toBe(short);
    for (const step of [1, 3, 1000]) {
      const m = await openMessage(never, { region: 0 }, message(plain, step, { encrypted: "x" }));
      expect(m.meta.encrypted).toBeUndefined();
      expect(m.meta.size).toBe(plain.length);
      const got = await gather(m.body);
      expect(got.error).toBeNull();
      expect(same(got.bytes, plain)).toBe(true);
    }
  });

  test("sealing - a sealed stream opens split anywhere (byte by byte too); meta.size is the plaintext's", async () => {
    for (const step of [1, 2, 20, 21, 53, 4096, DEFAULT_CHUNK + TAG_BYTES, 1 << 20]) {
      const m = await openMessage(load, { region: 4 }, message(sealed, step, { rev: 7 }));
      expect(m.meta).toEqual({ size: plain.length, rev: 7, encrypted: key.id });
      const got = await gather(m.body);
      expect(got.error).toBeNull();
      expect(same(got.bytes, plain)).toBe(true);
    }
  });

  test("sealing - without the key, or with another, nothing is given: SPEC's line, exit 4, with the revision", async () => {
    using d = tempDir();
    const noKey = new Sealing(undefined);
    const env = { ...process.env };
    process.env.XDG_CONFIG_HOME = String(d); // no default key file there
    delete process.env.CLIP_KEY_FILE;
    try {
      for (const [sealing, step] of [
        [noKey, 1],
        [noKey, 1 << 20],
        [new Sealing(other), 5],
      ] as const) {
        const e = await openMessage(async () => sealing, { region: 4 }, message(sealed, step, { rev: 12 })).catch((x) => x);
        expect(e).toBeInstanceOf(ClipError);
        expect(e.message).toBe(`region 4 is encrypted with key ${key.id}: pass --key-file`);
        expect(e.exitCode).toBe(4);
        expect(e.rev).toBe(12);
        const w = await Promise.resolve(openWhole(async () => sealing, { region: 4 }, { rev: 13 }, sealed.slice())).catch((x) => x);
        expect(w.message).toBe(`region 4 is encrypted with key ${key.id}: pass --key-file`);
        expect(w.rev).toBe(13);
      }
    } finally {
      process.env.XDG_CONFIG_HOME = env.XDG_CONFIG_HOME;
      if (env.CLIP_KEY_FILE !== undefined) process.env.CLIP_KEY_FILE = env.CLIP_KEY_FILE;
    }
  });

  test("sealing - a tampered chunk stops the stream: what came before is the verified chunks, whole", async () => {
    const bad = sealed.slice();
    const chunk3 = SEAL_HEADER_BYTES + 3 * (DEFAULT_CHUNK + TAG_BYTES) + 10;
    bad[chunk3] ^= 1;
    for (const step of [1000, DEFAULT_CHUNK + TAG_BYTES]) {
      const m = await openMessage(load, { region: 4 }, message(bad, step));
      const got = await gather(m.body);
      expect(got.error).toBeInstanceOf(ClipError);
      expect((got.error as ClipError).message).toMatch(/^region 4 failed verification at chunk 3/);
      expect((got.error as ClipError).exitCode).toBe(4);
      expect(got.bytes.length % DEFAULT_CHUNK).toBe(0);
      expect(got.bytes.length).toBeLessThanOrEqual(3 * DEFAULT_CHUNK);
      expect(same(got.bytes, plain.subarray(0, got.bytes.length))).toBe(true);
    }
    // Cut short, and opened in another context (a region, a key of a group): refused.
    const short = await gather((await openMessage(load, { region: 4 }, message(sealed.subarray(0, sealed.length - 1), 4096))).body);
    expect((short.error as ClipError).message).toMatch(/^region 4 failed verification at chunk 5/);
    const inHeader = await gather((await openMessage(load, { region: 4 }, message(sealed.subarray(0, 30), 4096))).body);
    expect((inHeader.error as ClipError).message).toBe("region 4 is cut short (it ends inside its header)");
    const elsewhere = await gather((await openMessage(load, { region: 5 }, message(sealed, 4096))).body);
    expect((elsewhere.error as ClipError).message).toMatch(/^region 5 failed verification at chunk 0/);
    const asKey = await Promise.resolve(openWhole(load, { group: "g", key: "k" }, {}, sealed.slice())).catch((x) => x);
    expect(asKey.message).toMatch(/^key k failed verification at chunk 0/);
    // And the right one still opens.
    const k = sealValue(key, keyContext("g", "k"), plain);
    expect(same(await openWhole(load, { group: "g", key: "k" }, {}, k), plain)).toBe(true);
  });

  test("sealing - the key is read only when a sealed value comes, and a bad key file is then one line, exit 1", async () => {
    using d = tempDir();
    const file = join(String(d), "key");
    writeFileSync(file, encodeKeyFile(key), { mode: 0o644 });
    chmodSync(file, 0o644);
    const loose = new Sealing(file);
    // A plain value does not look at the key file at all.
    expect(same(await openWhole(async () => loose, { region: 0 }, {}, Uint8Array.of(1, 2, 3)), Uint8Array.of(1, 2, 3))).toBe(true);
    const e = await Promise.resolve(openWhole(async () => loose, { region: 4 }, {}, sealed.slice())).catch((x) => x);
    expect(e.message).toBe(`key file ${file} is open to other users (mode 0644), so it is not used: chmod 600 ${file}`);
    expect(e.exitCode).toBe(1);
    chmodSync(file, 0o600);
    expect(same(await openWhole(async () => loose, { region: 4 }, {}, sealed.slice()), plain)).toBe(true);
  });
});
