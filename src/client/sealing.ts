// End-to-end encryption in the client (docs/ENCRYPTION.md): the key a
// client uses, found when first needed; a write sealed as it streams (a
// ValueSource that seals the one it wraps, so a 1 GiB copy holds one read
// buffer, not the value); and sealed values opened, whole (in place) or as
// they stream. The format itself is src/crypto/seal.ts. This module costs
// node:crypto to load: opened.ts loads it only when a value turns out to be
// sealed, and the client only when a write asks for sealing.

import { type Key, loadKey, requireKey } from "../crypto/key.ts";
import { Opener, type SealContext, Sealer, headerChunkSize, keyContext, openedLength, regionContext, sealedLength } from "../crypto/seal.ts";
import { SNIFF_BYTES, sniff } from "../value/mediatype.ts";
import { fill, type ValueSource } from "../value/source.ts";

/** A client's key: a Key, or the path of a key file read when first needed. */
export type KeyOption = Key | string;

/** What a value belongs to, which it is sealed for: a region, or a key of a group. */
export type Where = { region: number } | { group: string; key: string };

export function contextOf(where: Where): SealContext {
  return "region" in where ? regionContext(where.region) : keyContext(where.group, where.key);
}

/** Plaintext read from the source per turn: 16 chunks, as large as a frame. */
const PLAIN_READ = 1 << 20;

/** Slices a whole value is opened in: the opener's output for one slice is held at once. */
const OPEN_STEP = 1 << 20;

export class Sealing {
  /** The key once read: a key file is read once per client. A missing default file is looked for again next time. */
  private found: Key | null = null;

  constructor(private readonly given: KeyOption | undefined) {}

  /**
   * The key to open sealed values with: the one given, else the file named
   * (or CLIP_KEY_FILE, else the default file). Null when none is named and
   * the default file does not exist: the opener then refuses with SPEC's
   * "encrypted with key ID: pass --key-file". A file that is named and
   * missing, or that is unsafe or damaged, throws (exit 1).
   */
  openingKey(): Key | null {
    if (this.found) return this.found;
    if (typeof this.given === "object") return (this.found = this.given);
    return (this.found = loadKey({ keyFile: this.given }));
  }

  /** The key a write seals with: `encrypt` itself, else the client's; none usable throws `no key: run clip keygen` (exit 1). */
  sealingKey(encrypt: true | Key): Key {
    if (typeof encrypt === "object") return encrypt;
    if (typeof this.given === "object") return this.given;
    return (this.found ??= requireKey({ keyFile: this.given }));
  }

  /**
   * A write's source sealed for `where`, and the request fields that say
   * so: `sealed` (the key id: servers mark the value encrypted and preview
   * none of it) and `type`, recognised from the plaintext's first bytes when
   * the writer named none (a server would see only sealed bytes). Reads
   * those first bytes now; closes the source if it fails.
   */
  async sealWrite(source: ValueSource, encrypt: true | Key, where: Where, fields: Record<string, unknown>): Promise<{ source: ValueSource; fields: Record<string, unknown> }> {
    try {
      const key = this.sealingKey(encrypt);
      const ctx = contextOf(where);
      let first: Uint8Array = new Uint8Array(0);
      let type = fields.type;
      if (type === undefined) {
        const head = new Uint8Array(source.size === undefined ? SNIFF_BYTES : Math.min(SNIFF_BYTES, source.size));
        let r = fill(source, head);
        if (r instanceof Promise) r = await r;
        first = head.subarray(0, r.n);
        type = sniff(first, r.ended || r.n === source.size);
      }
      return { source: new SealingSource(source, key, ctx, first), fields: { ...fields, type, sealed: key.id } };
    } catch (e) {
      source.close();
      throw e;
    }
  }

  /** Pieces of plaintext as one buffer (a writer flushes once per piece it is given); the pieces are freed. */
  join(pieces: Uint8Array[]): Uint8Array {
    if (pieces.length === 1) return pieces[0];
    const out = Buffer.concat(pieces);
    for (const p of pieces) release(p);
    return out;
  }

  /** An opener for a value whose first bytes say it is sealed (the key is looked for now). */
  opener(where: Where): Opener {
    return new Opener(this.openingKey(), contextOf(where));
  }

  /** The plaintext size of a sealed value of `sealed` bytes, from its header's first 13 bytes (or more). */
  openedSize(sealed: number, header: Uint8Array): number {
    return openedLength(sealed, headerChunkSize(header));
  }

  /**
   * Opens a whole sealed value in place: each slice's verified plaintext is
   * written back over ciphertext already read (plaintext chunk i starts at
   * i × C, its ciphertext at 53 + i × (C + 16)), so a value read whole is
   * held once, not twice. Returns the plaintext (a view of `bytes`) and the
   * key id; throws as the Opener does, and `bytes` is then garbage.
   */
  openInPlace(where: Where, bytes: Uint8Array): { bytes: Uint8Array; keyId: string } {
    const o = this.opener(where);
    let w = 0;
    const put = (pieces: Uint8Array[]) => {
      for (const p of pieces) {
        bytes.set(p, w);
        w += p.length;
        release(p);
      }
    };
    for (let r = 0; r < bytes.length; r += OPEN_STEP) put(o.push(bytes.subarray(r, Math.min(bytes.length, r + OPEN_STEP))));
    put(o.end());
    return { bytes: bytes.subarray(0, w), keyId: o.keyId! };
  }
}

/**
 * Frees a cipher output that has been copied out, now rather than at the
 * next collection: a 1 GiB copy makes 1 GiB of them, and the collector lets
 * tens of MiB pile up first (a client's peak RSS rose from 55 to over 100 MB).
 * Only a buffer that is its own (the cipher allocates each output, with at
 * most a block to spare): detaching a view of a shared one would break its
 * neighbours.
 */
export function release(p: Uint8Array): void {
  const b = p.buffer;
  if (p.byteOffset === 0 && b instanceof ArrayBuffer && b.byteLength - p.byteLength <= 16 && typeof b.transfer === "function") b.transfer(0);
}

/**
 * A source that seals the one it wraps as it is read: plaintext in turns of
 * up to 1 MiB, sealed output handed out into the reader's buffers.
 * Synchronous while the source is (a file): senders then send with no
 * promise per frame. Announces the sealed size when the plaintext's is known.
 */
class SealingSource implements ValueSource {
  readonly size: number | undefined;
  private readonly sealer: Sealer;
  private readonly plain: Uint8Array;
  /** Sealed bytes waiting for a reader: pieces[head] from offset `at`, then the rest. */
  private pieces: Uint8Array[];
  private head = 0;
  private at = 0;
  private ended = false;

  constructor(
    private readonly inner: ValueSource,
    key: Key,
    ctx: SealContext,
    first: Uint8Array,
  ) {
    this.size = inner.size === undefined ? undefined : sealedLength(inner.size);
    this.sealer = new Sealer(key, ctx);
    this.pieces = this.sealer.push(first);
    // A small value needs a small buffer (a kv put of a few bytes must not cost 1 MiB).
    const left = inner.size === undefined ? PLAIN_READ : inner.size - first.length;
    this.plain = new Uint8Array(Math.max(1, Math.min(PLAIN_READ, left)));
  }

  read(into: Uint8Array): number | Promise<number> {
    for (;;) {
      const n = this.drain(into);
      if (n > 0 || this.ended) return n;
      const r = this.inner.read(this.plain);
      if (typeof r !== "number") {
        return r.then((k) => {
          this.feed(k);
          return this.read(into);
        });
      }
      this.feed(r);
    }
  }

  close(): void {
    this.inner.close();
  }

  private feed(k: number): void {
    const out = k === 0 ? this.sealer.end() : this.sealer.push(this.plain.subarray(0, k));
    if (k === 0) this.ended = true;
    if (this.head === this.pieces.length) {
      this.pieces = out;
      this.head = 0;
    } else for (const p of out) this.pieces.push(p);
  }

  private drain(into: Uint8Array): number {
    let n = 0;
    while (n < into.length && this.head < this.pieces.length) {
      const p = this.pieces[this.head];
      const take = Math.min(into.length - n, p.length - this.at);
      into.set(p.subarray(this.at, this.at + take), n);
      n += take;
      this.at += take;
      if (this.at === p.length) {
        this.head++;
        this.at = 0;
        if (p !== this.sealer.header) release(p);
      }
    }
    return n;
  }
}
