// The sealed format (src/crypto/seal.ts): round trips whole, byte by byte
// and in odd splits; every way of breaking a sealed value (wrong key, edits
// to the header, a chunk or a tag, truncation anywhere, dropped, swapped,
// spliced or re-flagged chunks, another context, an unknown version,
// garbage) refused with the right ClipError and no unverified byte out.

import { describe, expect, test } from "bun:test";
import { createCipheriv, createDecipheriv, createHash, hkdfSync } from "node:crypto";
import { Key, generateKey } from "../../src/crypto/key.ts";
import {
  DEFAULT_CHUNK,
  MAX_SEAL_CHUNK,
  Opener,
  SEAL_HEADER_BYTES,
  SEAL_MAGIC,
  Sealer,
  TAG_BYTES,
  isSealed,
  keyContext,
  openValue,
  regionContext,
  sealValue,
  sealedKeyId,
  sealedLength,
  type SealContext,
} from "../../src/crypto/seal.ts";
import { ClipError, type ErrorCode } from "../../src/protocol/errors.ts";

const key = new Key(Uint8Array.from({ length: 32 }, (_, i) => i));
const other = generateKey();
const r3 = regionContext(3);
/** Small chunks, so that a few bytes make several of them. */
const CS = 16;
const REC = CS + TAG_BYTES;

const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 17 + (i >> 8)) & 0xff);
const cat = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

/** Seals `plain`, fed to the sealer in pieces of `step` bytes. */
function sealIn(plain: Uint8Array, step: number, chunkSize = CS, k: Key = key, ctx: SealContext = r3): Uint8Array {
  const s = new Sealer(k, ctx, { chunkSize });
  const out: Uint8Array[] = [];
  for (let i = 0; i < plain.length; i += step) out.push(...s.push(plain.subarray(i, i + step)));
  out.push(...s.end());
  return cat(out);
}

/** Opens `sealed` fed in pieces of `step` bytes; returns what came out, and the error if one was thrown. */
function openIn(sealed: Uint8Array, step: number, k: Key | null = key, ctx: SealContext = r3, opts = {}): { out: Uint8Array; error: ClipError | null; opener: Opener } {
  const o = new Opener(k, ctx, opts);
  const out: Uint8Array[] = [];
  try {
    for (let i = 0; i < sealed.length; i += step) out.push(...o.push(sealed.subarray(i, i + step)));
    out.push(...o.end());
    return { out: cat(out), error: null, opener: o };
  } catch (e) {
    if (!(e instanceof ClipError)) throw e;
    return { out: cat(out), error: e, opener: o };
  }
}

/** Opening must fail with `code`, having put out no more than the whole chunks before `firstBad` (all of them a prefix of `plain`). */
function expectRefused(sealed: Uint8Array, plain: Uint8Array, code: ErrorCode, opts: { firstBad?: number; k?: Key | null; ctx?: SealContext; match?: RegExp } = {}): void {
  for (const step of [sealed.length || 1, 1, 7]) {
    const { out, error } = openIn(sealed, step, opts.k === undefined ? key : opts.k, opts.ctx ?? r3);
    expect(error).not.toBeNull();
    expect(error!.code).toBe(code);
    if (opts.match) expect(error!.message).toMatch(opts.match);
    expect(out.length).toBeLessThanOrEqual((opts.firstBad ?? 0) * CS);
    expect(out.length % CS).toBe(0);
    expect(same(out, plain.subarray(0, out.length))).toBe(true);
  }
}

/**
 * A value built by hand with the documented construction, chunk by chunk,
 * each with the last flag given: values a Sealer never writes, as someone
 * holding the key could.
 */
function craft(chunks: { plain: Uint8Array; last: boolean }[], ctx: SealContext = r3): Uint8Array {
  const h = Buffer.from(sealValue(key, ctx, new Uint8Array(0), { chunkSize: CS }).subarray(0, SEAL_HEADER_BYTES));
  const vk = Buffer.from(hkdfSync("sha256", key.bytes, h.subarray(21, 53), "clip seal v1", 32));
  const aad = Buffer.concat([h, Buffer.from(ctx.bound)]);
  const out: Uint8Array[] = [h];
  chunks.forEach((c, i) => {
    const nonce = Buffer.alloc(12);
    nonce.writeUInt32BE(i, 7);
    nonce[11] = c.last ? 1 : 0;
    const e = createCipheriv("aes-256-gcm", vk, nonce);
    e.setAAD(aad);
    out.push(e.update(c.plain), e.final(), e.getAuthTag());
  });
  return cat(out);
}

const chunkAt = (sealed: Uint8Array, i: number) => sealed.subarray(SEAL_HEADER_BYTES + i * REC, SEAL_HEADER_BYTES + (i + 1) * REC);

describe("seal - round trips", () => {
  const sizes = [0, 1, CS - 1, CS, CS + 1, 2 * CS, 3 * CS + 5, 200];
  for (const n of sizes) {
    test(`seal - ${n} bytes round trip in every split`, () => {
      const plain = bytes(n);
      for (const sealStep of [n || 1, 1, 5, 17]) {
        const sealed = sealIn(plain, sealStep);
        expect(sealed.length).toBe(sealedLength(n, CS));
        expect(isSealed(sealed)).toBe(true);
        for (const openStep of [sealed.length, 1, 3, REC, REC + 1]) {
          const { out, error, opener } = openIn(sealed, openStep);
          expect(error).toBeNull();
          expect(same(out, plain)).toBe(true);
          expect(opener.sealed).toBe(true);
          expect(opener.keyId).toBe(key.id);
          expect(opener.buffered).toBe(0);
        }
      }
    });
  }

  test("seal - default chunk size: one chunk, exactly one, and one byte more", () => {
    for (const n of [DEFAULT_CHUNK - 1, DEFAULT_CHUNK, DEFAULT_CHUNK + 1, 3 * DEFAULT_CHUNK]) {
      const plain = bytes(n, n);
      const sealed = sealValue(key, r3, plain);
      expect(sealed.length).toBe(sealedLength(n));
      expect(same(openValue(key, r3, sealed), plain)).toBe(true);
      expect(same(openIn(sealed, 4099).out, plain)).toBe(true);
    }
  });

  test("seal - each push returns whole chunks only once a byte past them arrives", () => {
    const s = new Sealer(key, r3, { chunkSize: CS });
    expect(cat(s.push(bytes(CS))).length).toBe(SEAL_HEADER_BYTES); // the header; the chunk may still be the last
    expect(cat(s.push(bytes(1))).length).toBe(REC);
    expect(cat(s.push(bytes(0))).length).toBe(0);
    expect(cat(s.end()).length).toBe(1 + TAG_BYTES);
    expect(() => s.push(bytes(1))).toThrow(ClipError);
  });

  test("seal - the opener hands out each chunk as soon as it is verified, not before", () => {
    const plain = bytes(3 * CS + 4);
    const sealed = sealIn(plain, plain.length);
    const o = new Opener(key, r3);
    // Header and first chunk whole, no byte past it: it could be the last chunk, so nothing yet.
    expect(o.push(sealed.subarray(0, SEAL_HEADER_BYTES + REC))).toEqual([]);
    const first = o.push(sealed.subarray(SEAL_HEADER_BYTES + REC, SEAL_HEADER_BYTES + REC + 1));
    expect(first.length).toBe(1);
    expect(same(first[0], plain.subarray(0, CS))).toBe(true);
    expect(o.buffered).toBe(1);
  });

  test("seal - two seals of the same bytes differ (fresh salt), and both open", () => {
    const plain = bytes(40);
    const a = sealValue(key, r3, plain, { chunkSize: CS });
    const b = sealValue(key, r3, plain, { chunkSize: CS });
    expect(same(a, b)).toBe(false);
    expect(same(a.subarray(SEAL_HEADER_BYTES), b.subarray(SEAL_HEADER_BYTES))).toBe(false);
    expect(same(openValue(key, r3, a), plain) && same(openValue(key, r3, b), plain)).toBe(true);
  });

  test("seal - 100 MiB streamed through sealer and opener in bounded memory", () => {
    const total = 100 << 20;
    const piece = 1 << 20;
    const s = new Sealer(key, r3);
    const o = new Opener(key, r3);
    const inHash = createHash("sha256");
    const outHash = createHash("sha256");
    let sealedBytes = 0;
    let maxHeld = 0;
    const src = new Uint8Array(piece);
    Bun.gc(true);
    const rss0 = process.memoryUsage().rss;
    let rssMax = rss0;
    // Odd sized pieces into the opener, as a socket would hand them over.
    const feed = (pieces: Uint8Array[]) => {
      const sealed = cat(pieces);
      sealedBytes += sealed.length;
      for (let i = 0; i < sealed.length; i += 300_007) for (const p of o.push(sealed.subarray(i, i + 300_007))) outHash.update(p);
      maxHeld = Math.max(maxHeld, o.buffered);
    };
    for (let sent = 0; sent < total; sent += piece) {
      src.fill((sent / piece) & 0xff);
      src[0] = sent >>> 20;
      inHash.update(src);
      feed(s.push(src));
      if ((sent / piece) % 10 === 0) {
        // Live memory, not garbage: the test shares its process with every other test file.
        Bun.gc(true);
        rssMax = Math.max(rssMax, process.memoryUsage().rss);
      }
    }
    feed(s.end());
    for (const p of o.end()) outHash.update(p);
    expect(sealedBytes).toBe(sealedLength(total));
    expect(outHash.digest("hex")).toBe(inHash.digest("hex"));
    expect(maxHeld).toBeLessThanOrEqual(DEFAULT_CHUNK + TAG_BYTES);
    // Holding the value (or its sealed form) would add 100 MiB.
    expect(rssMax - rss0).toBeLessThan(64 << 20);
  });

  test("seal - whole-value helpers and both contexts", () => {
    const kv = keyContext("team", "notes/today");
    const plain = new TextEncoder().encode("the secret plan");
    expect(same(openValue(key, kv, sealValue(key, kv, plain)), plain)).toBe(true);
    expect(kv.name).toBe("key notes/today");
    expect(() => keyContext("a/b", "c")).toThrow(ClipError);
    expect(() => regionContext(-1)).toThrow(ClipError);
  });
});

describe("seal - header", () => {
  test("seal - isSealed and sealedKeyId read a header without the key", () => {
    const sealed = sealValue(key, r3, bytes(5));
    expect(isSealed(sealed.subarray(0, 8))).toBe(true);
    expect(isSealed(sealed.subarray(0, 7))).toBe(false);
    expect(isSealed(new TextEncoder().encode("hello world"))).toBe(false);
    expect(isSealed(new Uint8Array(0))).toBe(false);
    expect(sealedKeyId(sealed)).toBe(key.id);
    expect(sealedKeyId(sealed.subarray(0, 21))).toBe(key.id);
    expect(sealedKeyId(sealed.subarray(0, 20))).toBeNull();
    expect(sealedKeyId(bytes(64))).toBeNull();
    expect(Buffer.from(sealed.subarray(0, 8))).toEqual(Buffer.from(SEAL_MAGIC));
  });

  test("seal - the format is the documented construction (decrypted here by hand)", () => {
    const plain = bytes(2 * CS + 3);
    const ctx = keyContext("g", "k");
    const sealed = sealValue(key, ctx, plain, { chunkSize: CS });
    const h = sealed.subarray(0, SEAL_HEADER_BYTES);
    expect(h[8]).toBe(1);
    expect(Buffer.from(h).readUInt32BE(9)).toBe(CS);
    expect(Buffer.from(h.subarray(13, 21)).toString("hex")).toBe(key.id);
    const vk = Buffer.from(hkdfSync("sha256", key.bytes, h.subarray(21, 53), "clip seal v1", 32));
    const aad = Buffer.concat([h, Buffer.from("key g/k")]);
    const out: Buffer[] = [];
    for (let i = 0, at = SEAL_HEADER_BYTES; at < sealed.length; i++) {
      const end = Math.min(at + REC, sealed.length);
      const nonce = Buffer.alloc(12);
      nonce.writeUInt32BE(i, 7);
      nonce[11] = end === sealed.length ? 1 : 0;
      const d = createDecipheriv("aes-256-gcm", vk, nonce);
      d.setAAD(aad);
      d.setAuthTag(sealed.subarray(end - TAG_BYTES, end));
      out.push(d.update(sealed.subarray(at, end - TAG_BYTES)), d.final());
      at = end;
    }
    expect(same(cat(out), plain)).toBe(true);
  });

  // Sealed by clip's format version 1 and checked with Python's `cryptography`
  // (AESGCM, HKDF) from docs/ENCRYPTION.md alone: key bytes 0..31, "region 3",
  // chunks of 16, the 31 bytes below. Every later clip must still open it.
  test("seal - a version 1 value sealed once still opens", () => {
    const vector = Buffer.from(VECTOR_V1, "hex");
    expect(new TextDecoder().decode(openValue(key, r3, vector))).toBe("hello, sealed world! 0123456789");
    expect(openIn(vector, 1, key, regionContext(4)).error?.code).toBe("AUTH");
  });
});

describe("seal - refused", () => {
  const plain = bytes(3 * CS + 5); // chunks 0, 1, 2 full; chunk 3 of 5 bytes, last
  const sealed = sealIn(plain, plain.length);
  const nChunks = 4;

  test("seal - no key, or another key: AUTH naming the key id, nothing out", () => {
    const msg = new RegExp(`^region 3 is encrypted with key ${key.id}: pass --key-file$`);
    expectRefused(sealed, plain, "AUTH", { k: null, match: msg });
    expectRefused(sealed, plain, "AUTH", { k: other, match: msg });
    const kv = keyContext("g", "k");
    const err = openIn(sealValue(key, kv, plain), 1, other, kv).error!;
    expect(err.message).toBe(`key k is encrypted with key ${key.id}: pass --key-file`);
    expect(err.exitCode).toBe(4);
  });

  test("seal - another key with the same id in the header still fails verification", () => {
    // A header edited to name the reader's key: the first chunk is refused.
    const forged = sealed.slice();
    forged.set(Buffer.from(other.id, "hex"), 13);
    expectRefused(forged, plain, "AUTH", { k: other, firstBad: 0, match: /chunk 0/ });
  });

  test("seal - the header is authenticated: a one-chunk value with another chunk size announced is refused", () => {
    // Chunk boundaries do not move (the only chunk is shorter than either size): only the associated data catches it.
    const short = sealValue(key, r3, bytes(5), { chunkSize: CS });
    for (const cs of [CS + 1, 2 * CS, MAX_SEAL_CHUNK]) {
      const edited = short.slice();
      Buffer.from(edited.buffer).writeUInt32BE(cs, 9);
      expectRefused(edited, bytes(5), "AUTH", { firstBad: 0, match: /chunk 0/ });
    }
  });

  test("seal - every header byte flipped is refused before any output", () => {
    for (let i = 0; i < SEAL_HEADER_BYTES; i++) {
      const bad = sealed.slice();
      bad[i] ^= 0x01;
      const code = i === 8 ? "VERSION" : "AUTH";
      expectRefused(bad, plain, code, { firstBad: 0 });
    }
  });

  test("seal - a flipped byte in any chunk's ciphertext or tag stops at that chunk", () => {
    for (let i = SEAL_HEADER_BYTES; i < sealed.length; i++) {
      const bad = sealed.slice();
      bad[i] ^= 0x80;
      const chunk = Math.floor((i - SEAL_HEADER_BYTES) / REC);
      expectRefused(bad, plain, "AUTH", { firstBad: chunk, match: new RegExp(`chunk ${chunk}`) });
    }
  });

  test("seal - truncated at every byte, at chunk boundaries and mid-chunk, is refused", () => {
    for (let n = 0; n < sealed.length; n++) {
      const cut = sealed.subarray(0, n);
      // Whole chunks before the cut may come out; the one cut (or the last whole one, not flagged last) may not.
      const whole = n <= SEAL_HEADER_BYTES ? 0 : Math.floor((n - SEAL_HEADER_BYTES) / REC);
      const firstBad = (n - SEAL_HEADER_BYTES) % REC === 0 ? Math.max(0, whole - 1) : whole;
      expectRefused(cut, plain, "AUTH", { firstBad, match: n === 0 ? /cut short/ : undefined });
    }
  });

  test("seal - a chunk dropped, two chunks swapped, or a chunk repeated is refused", () => {
    const c = (i: number) => chunkAt(sealed, i);
    const head = sealed.subarray(0, SEAL_HEADER_BYTES);
    const last = sealed.subarray(SEAL_HEADER_BYTES + 3 * REC);
    expectRefused(cat([head, c(0), c(2), last]), plain, "AUTH", { firstBad: 1 });
    expectRefused(cat([head, c(1), c(0), c(2), last]), plain, "AUTH", { firstBad: 0 });
    expectRefused(cat([head, c(0), c(2), c(1), last]), plain, "AUTH", { firstBad: 1 });
    expectRefused(cat([head, c(0), c(0), c(1), c(2), last]), plain, "AUTH", { firstBad: 1 });
    expectRefused(cat([head, c(0), c(1), c(2)]), plain, "AUTH", { firstBad: 2 }); // the last chunk dropped
  });

  test("seal - a chunk spliced from another value with the same key and context is refused", () => {
    const otherPlain = bytes(plain.length, 9);
    const donor = sealIn(otherPlain, otherPlain.length);
    for (let i = 0; i < nChunks - 1; i++) {
      const spliced = sealed.slice();
      spliced.set(chunkAt(donor, i), SEAL_HEADER_BYTES + i * REC);
      expectRefused(spliced, plain, "AUTH", { firstBad: i });
    }
    // The donor's header on this value's chunks: another salt, so another value key.
    const swappedHead = cat([donor.subarray(0, SEAL_HEADER_BYTES), sealed.subarray(SEAL_HEADER_BYTES)]);
    expectRefused(swappedHead, plain, "AUTH", { firstBad: 0 });
  });

  test("seal - the last-chunk flag moved: cut after a full chunk, or a chunk appended after the last", () => {
    const exact = bytes(3 * CS);
    const s = sealIn(exact, exact.length); // three full chunks, the third one last
    const twoChunks = s.subarray(0, SEAL_HEADER_BYTES + 2 * REC);
    expectRefused(twoChunks, exact, "AUTH", { firstBad: 1 }); // chunk 1 was sealed as not last
    const longer = sealIn(bytes(4 * CS), 4 * CS);
    // A value's own last chunk, then one more (from a value sealed with the same salt is impossible; use the longer value's chunk 3).
    expectRefused(cat([s, chunkAt(longer, 3)]), exact, "AUTH", { firstBad: 2 });
  });

  test("seal - built by hand: the construction opens, and a misplaced last flag or an empty last chunk does not", () => {
    const a = bytes(CS, 2);
    const b = bytes(5, 3);
    expect(same(openValue(key, r3, craft([{ plain: a, last: false }, { plain: b, last: true }])), cat([a, b]))).toBe(true);
    // The last flag on chunk 0, then chunk 1: chunk 0 is read as not last and fails.
    expectRefused(craft([{ plain: a, last: true }, { plain: b, last: true }]), a, "AUTH", { firstBad: 0 });
    // No chunk flagged last at all.
    expectRefused(craft([{ plain: a, last: false }, { plain: b, last: false }]), a, "AUTH", { firstBad: 1 });
    // An empty last chunk after a full one: the Sealer would have flagged the full one last.
    expectRefused(craft([{ plain: a, last: false }, { plain: new Uint8Array(0), last: true }]), a, "AUTH", { firstBad: 1, match: /empty last chunk/ });
    // A short chunk that is not last cannot be told from a last one: read as last, it fails.
    expectRefused(craft([{ plain: b, last: false }]), b, "AUTH", { firstBad: 0 });
  });

  test("seal - opened under another context: region 3's value as region 4, or as a key", () => {
    expectRefused(sealed, plain, "AUTH", { ctx: regionContext(4), firstBad: 0 });
    expectRefused(sealed, plain, "AUTH", { ctx: keyContext("g", "region 3"), firstBad: 0 });
    const kv = sealValue(key, keyContext("g", "k"), plain, { chunkSize: CS });
    expectRefused(kv, plain, "AUTH", { ctx: keyContext("g", "k2"), firstBad: 0 });
    expectRefused(kv, plain, "AUTH", { ctx: keyContext("g2", "k"), firstBad: 0 });
  });

  test("seal - an unknown format version is VERSION (exit 1), named in one line", () => {
    const v2 = sealed.slice();
    v2[8] = 2;
    const { error, out } = openIn(v2, 1);
    expect(error?.code).toBe("VERSION");
    expect(error?.exitCode).toBe(1);
    expect(error?.message).toBe("region 3 is sealed in format version 2, which this clip cannot read: upgrade clip");
    expect(out.length).toBe(0);
  });

  test("seal - garbage, an empty value and a huge announced chunk are refused before allocating", () => {
    expectRefused(bytes(500), plain, "AUTH", { match: /not a sealed value/ });
    expectRefused(new Uint8Array(0), plain, "AUTH", { match: /cut short/ });
    const huge = sealed.slice();
    Buffer.from(huge.buffer).writeUInt32BE(MAX_SEAL_CHUNK + 1, 9);
    const o = new Opener(key, r3);
    expect(() => o.push(huge)).toThrow(/chunks of 1048577 bytes/);
    expect(o.buffered).toBeLessThanOrEqual(SEAL_HEADER_BYTES);
    const zero = sealed.slice();
    Buffer.from(zero.buffer).writeUInt32BE(0, 9);
    expectRefused(zero, plain, "AUTH");
  });

  test("seal - after an error the opener keeps refusing", () => {
    const bad = sealed.slice();
    bad[SEAL_HEADER_BYTES + 2] ^= 1;
    const o = new Opener(key, r3);
    expect(() => o.push(bad)).toThrow(ClipError);
    expect(() => o.push(sealed.subarray(SEAL_HEADER_BYTES))).toThrow(/chunk 0/);
    expect(() => o.end()).toThrow(/chunk 0/);
  });
});

describe("seal - passPlain", () => {
  const cases: [string, Uint8Array][] = [
    ["empty", new Uint8Array(0)],
    ["one byte", Uint8Array.of(0x41)],
    ["a prefix of the magic", SEAL_MAGIC.subarray(0, 5)],
    ["the magic's first bytes, then other bytes", cat([SEAL_MAGIC.subarray(0, 6), bytes(100)])],
    ["text", new TextEncoder().encode("plain text, no key needed\n")],
  ];
  for (const [name, plain] of cases) {
    test(`seal - a plain value passes through unchanged: ${name}`, () => {
      for (const step of [plain.length || 1, 1, 3]) {
        for (const k of [key, null]) {
          const { out, error, opener } = openIn(plain, step, k, r3, { passPlain: true });
          expect(error).toBeNull();
          expect(same(out, plain)).toBe(true);
          expect(opener.sealed).toBe(false);
        }
      }
    });
  }

  test("seal - passPlain: a sealed value cut short from its 8th byte on is still refused", () => {
    const plain = bytes(3 * CS + 5);
    const sealed = sealValue(key, r3, plain, { chunkSize: CS });
    for (let n = SEAL_MAGIC.length; n < sealed.length; n++) {
      for (const step of [n, 1]) {
        const { out, error } = openIn(sealed.subarray(0, n), step, key, r3, { passPlain: true });
        expect(error?.code).toBe("AUTH");
        expect(same(out, plain.subarray(0, out.length))).toBe(true);
      }
    }
  });

  test("seal - passPlain still opens sealed values, and still refuses them without the key", () => {
    const plain = bytes(50);
    const sealed = sealValue(key, r3, plain, { chunkSize: CS });
    expect(same(openIn(sealed, 1, key, r3, { passPlain: true }).out, plain)).toBe(true);
    const { out, error } = openIn(sealed, 1, null, r3, { passPlain: true });
    expect(error?.code).toBe("AUTH");
    expect(out.length).toBe(0);
  });
});

// See "a version 1 value sealed once still opens".
const VECTOR_V1 =
  "89636c69700d0a1a0100000010793af32f8564e3cc7f633d9d3d606d7ad1364291d202011e953a6529b64bb4a2b74574d31034655847f57dbc940ee3a14503f1a478df8600c5c323078eef412f33ff30c14ae35090a151f55c4ebd954005ea0acf66de2ff72759d4dafc69bef8814f720876d3b9";
