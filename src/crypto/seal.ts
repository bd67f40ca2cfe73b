// Sealing values for end-to-end encryption: a pure, synchronous, streaming
// sealer and opener (bytes in, bytes out, no I/O). The format and why it is
// safe are in docs/ENCRYPTION.md; the key is ./key.ts.
//
//   offset  size  field
//   0       8     magic 89 63 6C 69 70 0D 0A 1A ("\x89clip\r\n\x1a")
//   8       1     format version (1)
//   9       4     chunk size C: plaintext bytes per chunk (u32, big-endian)
//   13      8     key id of the key that sealed it
//   21      32    salt: fresh random bytes for each value
//   53      ...   chunks: AES-256-GCM(ciphertext || 16-byte tag) of C
//                 plaintext bytes each, the last one of 0..C bytes
//
// The cipher is node:crypto's AES-256-GCM (BoringSSL in Bun): audited,
// synchronous and AES-NI fast (bench/seal.ts: ~4 GB/s a core). Nothing here
// is a cipher or a MAC, only the STREAM construction around one:
//   value key = HKDF-SHA-256(key, salt, "clip seal v1"), one per value;
//   nonce of chunk i = 7 zero bytes || i (u32, big-endian) || 1 if last else 0;
//   associated data of every chunk = the 53 header bytes || the context.
// The counter stops reordering, dropping and splicing; the last flag stops
// truncation and extension; the header in the associated data stops editing
// the header; the context ("region 3", "key G/K") stops replay elsewhere.

import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, randomBytes, type KeyObject } from "node:crypto";
import { ClipError } from "../protocol/errors.ts";
import { KEY_ID_BYTES, type Key } from "./key.ts";
import { SEAL_MAGIC, isSealed } from "./magic.ts";

export { SEAL_MAGIC, isSealed };

export const SEAL_VERSION = 1;
/** Bytes of the header before the first chunk. */
export const SEAL_HEADER_BYTES = 53;
/** Bytes added to each chunk: the GCM tag. */
export const TAG_BYTES = 16;
/** age's choice too: small enough to stream and verify with little memory, large enough for ~4 GB/s a core (bench/seal.ts). */
export const DEFAULT_CHUNK = 64 << 10;
/** The largest chunk size a header may announce: bounds what an opener allocates for one chunk. */
export const MAX_SEAL_CHUNK = 1 << 20;
/** What HTTP serves a sealed value as (SPEC). */
export const SEALED_MIME = "application/x-clip-sealed";

const AT_VERSION = 8;
const AT_CHUNK = 9;
const AT_KEY_ID = 13;
const AT_SALT = 21;
const SALT_BYTES = 32;
const KDF_INFO = "clip seal v1";
/** Chunk counters are u32 in the nonce: 2^32 chunks of 64 KiB is 256 TiB, far past any value. */
const MAX_CHUNKS = 2 ** 32;

/**
 * What a sealed value is bound to, and how messages name it. `bound` goes
 * into every chunk's associated data, so a value opens only under the same
 * context: build it with regionContext / keyContext, never by hand.
 */
export interface SealContext {
  readonly bound: string;
  readonly name: string;
}

/** Region r's context; SPEC's messages name it "region R". */
export function regionContext(r: number): SealContext {
  if (!Number.isInteger(r) || r < 0) throw new ClipError("USAGE", `bad region "${r}"`);
  return { bound: `region ${r}`, name: `region ${r}` };
}

/** Key `key` of group `group`; SPEC's messages name it "key K". Group names have no "/", so "G/K" is unambiguous. */
export function keyContext(group: string, key: string): SealContext {
  if (group.length === 0 || group.includes("/")) throw new ClipError("USAGE", `bad group name "${group}"`);
  return { bound: `key ${group}/${key}`, name: `key ${key}` };
}

/** The key id a sealed value names, read without the key (for messages and listings); null if these bytes do not begin a version-1 header (21 bytes are enough). */
export function sealedKeyId(firstBytes: Uint8Array): string | null {
  if (!isSealed(firstBytes) || firstBytes.length < AT_KEY_ID + KEY_ID_BYTES || firstBytes[AT_VERSION] !== SEAL_VERSION) return null;
  return Buffer.from(firstBytes.subarray(AT_KEY_ID, AT_KEY_ID + KEY_ID_BYTES)).toString("hex");
}

/** The sealed size of `plainLength` bytes: what a copy announces, and what servers see as the value's size. */
export function sealedLength(plainLength: number, chunkSize = DEFAULT_CHUNK): number {
  const chunks = Math.max(1, Math.ceil(plainLength / chunkSize));
  return SEAL_HEADER_BYTES + plainLength + chunks * TAG_BYTES;
}

/**
 * The plaintext length of a well-formed sealed value of `sealed` bytes in
 * chunks of `chunkSize` (sealedLength's inverse): what a reader announces
 * before it has opened anything. A damaged value fails when it is opened,
 * whatever this says; never below 0.
 */
export function openedLength(sealed: number, chunkSize: number): number {
  const body = sealed - SEAL_HEADER_BYTES;
  const chunks = Math.max(1, Math.ceil(body / (chunkSize + TAG_BYTES)));
  return Math.max(0, body - chunks * TAG_BYTES);
}

/** The chunk size a sealed header announces (its first 13 bytes are enough). */
export function headerChunkSize(firstBytes: Uint8Array): number {
  return new DataView(firstBytes.buffer, firstBytes.byteOffset, firstBytes.byteLength).getUint32(AT_CHUNK);
}

/** The per-chunk state both directions share: value key, associated data, counter. */
class Chunks {
  private readonly nonce = Buffer.alloc(12);
  private readonly valueKey: KeyObject;
  private readonly aad: Buffer;
  /** Index of the next chunk. */
  count = 0;

  constructor(key: Key, header: Uint8Array, ctx: SealContext) {
    const salt = header.subarray(AT_SALT, AT_SALT + SALT_BYTES);
    this.valueKey = createSecretKey(Buffer.from(hkdfSync("sha256", key.bytes, salt, KDF_INFO, 32)));
    this.aad = Buffer.concat([header, Buffer.from(ctx.bound, "utf8")]);
  }

  private next(last: boolean): Buffer {
    if (this.count >= MAX_CHUNKS) throw new ClipError("TOOBIG", `a sealed value holds at most ${MAX_CHUNKS} chunks`);
    this.nonce.writeUInt32BE(this.count, 7);
    this.nonce[11] = last ? 1 : 0;
    this.count++;
    return this.nonce;
  }

  /** Seals `plain` as the next chunk: appends its ciphertext and tag to `out`. */
  seal(plain: Uint8Array, last: boolean, out: Uint8Array[]): void {
    const c = createCipheriv("aes-256-gcm", this.valueKey, this.next(last), { authTagLength: TAG_BYTES });
    c.setAAD(this.aad);
    const body = c.update(plain);
    if (body.length > 0) out.push(body);
    const tail = c.final(); // empty for GCM; kept so nothing is ever dropped
    if (tail.length > 0) out.push(tail);
    out.push(c.getAuthTag());
  }

  /** The plaintext of the next chunk if `record` (ciphertext || tag) verifies, else null. */
  open(record: Uint8Array, last: boolean): Buffer | null {
    const d = createDecipheriv("aes-256-gcm", this.valueKey, this.next(last), { authTagLength: TAG_BYTES });
    d.setAAD(this.aad);
    d.setAuthTag(record.subarray(record.length - TAG_BYTES));
    // update() hands out plaintext before the tag is checked: it stays here until final() has verified it.
    const plain = d.update(record.subarray(0, record.length - TAG_BYTES));
    try {
      d.final();
    } catch {
      return null;
    }
    return plain;
  }
}

/**
 * Seals one value: push plaintext in pieces of any size, write what comes
 * out, in order; end() returns the rest. Holds at most one chunk.
 */
export class Sealer {
  /** The header, also the start of the first push's output: its key id and salt name this value. */
  readonly header: Uint8Array;
  private readonly chunks: Chunks;
  private readonly chunkSize: number;
  private pending: Uint8Array;
  private have = 0;
  private headerOut = false;
  private ended = false;

  constructor(key: Key, ctx: SealContext, opts: { chunkSize?: number } = {}) {
    const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK;
    if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > MAX_SEAL_CHUNK) throw new ClipError("USAGE", `chunk size ${chunkSize} is not between 1 and ${MAX_SEAL_CHUNK}`);
    this.chunkSize = chunkSize;
    const h = new Uint8Array(SEAL_HEADER_BYTES);
    h.set(SEAL_MAGIC, 0);
    h[AT_VERSION] = SEAL_VERSION;
    new DataView(h.buffer).setUint32(AT_CHUNK, chunkSize);
    h.set(Buffer.from(key.id, "hex"), AT_KEY_ID);
    h.set(randomBytes(SALT_BYTES), AT_SALT);
    this.header = h;
    this.chunks = new Chunks(key, h, ctx);
    this.pending = new Uint8Array(chunkSize);
  }

  /**
   * Sealed bytes for `plain`, as pieces to write in order (none yet, or the
   * header, then each chunk's ciphertext and tag): pieces, not one buffer,
   * because copying them together costs more than the cipher (bench/seal.ts).
   * A full chunk is sealed only once a byte past it arrives: until then it
   * may be the last one, which is sealed differently.
   */
  push(plain: Uint8Array): Uint8Array[] {
    if (this.ended) throw new ClipError("INTERNAL", "push after end: a sealed value is closed");
    const cs = this.chunkSize;
    const total = this.have + plain.length;
    const n = total > cs ? Math.floor((total - 1) / cs) : 0;
    const out = this.start();
    let p = 0;
    for (let i = 0; i < n; i++) {
      let src: Uint8Array;
      if (this.have > 0) {
        const take = cs - this.have;
        this.pending.set(plain.subarray(p, p + take), this.have);
        p += take;
        this.have = 0;
        src = this.pending; // read by update() before the next set(): safe to reuse
      } else {
        src = plain.subarray(p, p + cs); // straight from the caller's bytes: no copy
        p += cs;
      }
      this.chunks.seal(src, false, out);
    }
    this.pending.set(plain.subarray(p), this.have);
    this.have += plain.length - p;
    return out;
  }

  /** The last chunk (0..chunkSize bytes, flagged last), as pieces: the value is complete once they are written. */
  end(): Uint8Array[] {
    if (this.ended) throw new ClipError("INTERNAL", "end after end: a sealed value is closed");
    this.ended = true;
    const out = this.start();
    this.chunks.seal(this.pending.subarray(0, this.have), true, out);
    this.pending = new Uint8Array(0);
    return out;
  }

  /** The pieces of this call's output: the header first, once. */
  private start(): Uint8Array[] {
    if (this.headerOut) return [];
    this.headerOut = true;
    return [this.header];
  }
}

type OpenerState =
  | "header" // reading the header (or, with passPlain, deciding whether the value is sealed)
  | "chunks" // reading chunks
  | "plain" // passPlain and the value is not sealed: bytes pass through
  | "done" // end() succeeded
  | "failed"; // an error was thrown; every later call throws it again

/**
 * Opens one value: push its bytes in any split (byte by byte works), get
 * back verified plaintext, one piece per chunk. No byte of a chunk comes out
 * before its tag has been checked; end() refuses a value cut short. Without
 * the key (`key` null) or with another, it throws once the header names the
 * key: ClipError AUTH, `<name> is encrypted with key ID: pass --key-file`.
 * Holds at most one chunk.
 */
export class Opener {
  private isSealed: boolean | undefined;
  private headerKeyId: string | undefined;
  private state: OpenerState = "header";
  private readonly head = new Uint8Array(SEAL_HEADER_BYTES);
  private headLen = 0;
  private chunks: Chunks | null = null;
  private record = 0;
  private buf = new Uint8Array(0);
  private have = 0;
  private error: ClipError | null = null;
  private readonly passPlain: boolean;

  /** passPlain: a value that does not begin with the magic passes through unchanged (SPEC: plain values stay readable). */
  constructor(
    private readonly key: Key | null,
    private readonly ctx: SealContext,
    opts: { passPlain?: boolean } = {},
  ) {
    this.passPlain = opts.passPlain === true;
  }

  /** True once the header names a key, false if passPlain found a plain value; undefined before. */
  get sealed(): boolean | undefined {
    return this.isSealed;
  }

  /** The key id the value's header names, once read (also when the key is missing or another). */
  get keyId(): string | undefined {
    return this.headerKeyId;
  }

  /** Bytes held for an incomplete header or chunk: at most one chunk and its tag. */
  get buffered(): number {
    return this.state === "header" ? this.headLen : this.have;
  }

  /**
   * Verified plaintext for `bytes`, in order. Pieces of a plain value
   * (passPlain) are views of `bytes`. Throws ClipError AUTH when a chunk does
   * not verify (tampered with, reordered, or sealed for another context),
   * VERSION for an unknown format; pieces verified earlier in this same call
   * are then dropped with it.
   */
  push(bytes: Uint8Array): Uint8Array[] {
    this.check();
    try {
      return this.consume(bytes);
    } catch (e) {
      throw this.fail(e);
    }
  }

  /** The last chunk's plaintext; throws ClipError AUTH if the value was cut short. */
  end(): Uint8Array[] {
    this.check();
    try {
      const out: Uint8Array[] = [];
      if (this.state === "header") {
        if (!this.passPlain || this.headLen >= SEAL_MAGIC.length) throw this.damaged("is cut short (it ends inside its header)");
        // Fewer bytes than the magic, all of them matching it: a short plain value.
        this.state = "plain";
        this.isSealed = false;
        if (this.headLen > 0) out.push(this.head.slice(0, this.headLen));
      } else if (this.state === "chunks") {
        if (this.have < TAG_BYTES) throw this.damaged(`is cut short (it ends inside chunk ${this.chunks!.count})`);
        // Only the first chunk may be empty (the empty value): anything else is not what a Sealer writes.
        if (this.have === TAG_BYTES && this.chunks!.count > 0) throw this.damaged(`failed verification at chunk ${this.chunks!.count} (an empty last chunk)`);
        out.push(this.openChunk(this.buf.subarray(0, this.have), true));
        this.have = 0;
        this.buf = new Uint8Array(0);
      }
      this.state = "done";
      return out;
    } catch (e) {
      throw this.fail(e);
    }
  }

  private consume(bytes: Uint8Array): Uint8Array[] {
    if (this.state === "plain") return bytes.length > 0 ? [bytes] : [];
    const out: Uint8Array[] = [];
    // readHeader takes every byte unless it completes the header (or finds a plain value and passes them all on).
    const start = this.state === "header" ? this.readHeader(bytes, out) : 0;
    const rec = this.record;
    for (let pos = start; pos < bytes.length; ) {
      // A full chunk with bytes after it is not the last one.
      if (this.have === rec) {
        out.push(this.openChunk(this.buf, false));
        this.have = 0;
      }
      if (this.have === 0 && bytes.length - pos > rec) {
        out.push(this.openChunk(bytes.subarray(pos, pos + rec), false)); // in place: no copy
        pos += rec;
        continue;
      }
      const take = Math.min(rec - this.have, bytes.length - pos);
      this.buf.set(bytes.subarray(pos, pos + take), this.have);
      this.have += take;
      pos += take;
    }
    return out;
  }

  /** Takes header bytes from `bytes`; returns how many it took. Checks each field as soon as it is whole. */
  private readHeader(bytes: Uint8Array, out: Uint8Array[]): number {
    let pos = 0;
    while (pos < bytes.length && this.headLen < SEAL_HEADER_BYTES) {
      const at = this.headLen;
      const b = bytes[pos];
      if (at < SEAL_MAGIC.length && b !== SEAL_MAGIC[at]) {
        if (!this.passPlain) throw this.damaged("is not a sealed value (damaged, or written without --encrypt)");
        this.state = "plain";
        this.isSealed = false;
        // head[0..at) is what earlier pushes held back, then bytes[0..pos) of this one: give back the former and all of this push.
        if (at > pos) out.push(this.head.slice(0, at - pos));
        out.push(bytes);
        return bytes.length;
      }
      this.head[at] = b;
      this.headLen++;
      pos++;
      if (this.headLen === AT_VERSION + 1 && b !== SEAL_VERSION) {
        throw new ClipError("VERSION", `${this.ctx.name} is sealed in format version ${b}, which this clip cannot read: upgrade clip`);
      }
      if (this.headLen === AT_CHUNK + 4) {
        const cs = new DataView(this.head.buffer).getUint32(AT_CHUNK);
        if (cs < 1 || cs > MAX_SEAL_CHUNK) throw this.damaged(`is damaged (its header announces chunks of ${cs} bytes)`);
      }
      if (this.headLen === AT_KEY_ID + KEY_ID_BYTES) {
        this.isSealed = true;
        this.headerKeyId = Buffer.from(this.head.subarray(AT_KEY_ID, AT_KEY_ID + KEY_ID_BYTES)).toString("hex");
        if (!this.key || this.key.id !== this.headerKeyId) throw new ClipError("AUTH", `${this.ctx.name} is encrypted with key ${this.headerKeyId}: pass --key-file`);
      }
    }
    if (this.headLen === SEAL_HEADER_BYTES) {
      const cs = new DataView(this.head.buffer).getUint32(AT_CHUNK);
      this.chunks = new Chunks(this.key!, this.head, this.ctx);
      this.record = cs + TAG_BYTES;
      this.buf = new Uint8Array(this.record);
      this.state = "chunks";
    }
    return pos;
  }

  private openChunk(record: Uint8Array, last: boolean): Uint8Array {
    const n = this.chunks!.count;
    const plain = this.chunks!.open(record, last);
    if (!plain) throw this.damaged(`failed verification at chunk ${n}: it was tampered with, cut short or reordered, or sealed for something else`);
    return plain;
  }

  private damaged(what: string): ClipError {
    return new ClipError("AUTH", `${this.ctx.name} ${what}`);
  }

  private check(): void {
    if (this.error) throw this.error;
    if (this.state === "done") throw new ClipError("INTERNAL", "opener used after end");
  }

  private fail(e: unknown): ClipError {
    this.state = "failed";
    this.buf = new Uint8Array(0);
    this.error = e instanceof ClipError ? e : new ClipError("INTERNAL", String(e), { cause: e });
    return this.error;
  }
}

/** Seals a whole value at once (small values: kv, the desktop). */
export function sealValue(key: Key, ctx: SealContext, plain: Uint8Array, opts: { chunkSize?: number } = {}): Uint8Array {
  const s = new Sealer(key, ctx, opts);
  return Buffer.concat([...s.push(plain), ...s.end()]);
}

/** Opens a whole sealed value at once; throws as Opener does. */
export function openValue(key: Key | null, ctx: SealContext, sealed: Uint8Array, opts: { passPlain?: boolean } = {}): Uint8Array {
  const o = new Opener(key, ctx, opts);
  return Buffer.concat([...o.push(sealed), ...o.end()]);
}
