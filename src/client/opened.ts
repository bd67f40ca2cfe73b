// Reading values that may be sealed (end-to-end encryption) without paying
// for cryptography when they are not: a value is sealed when its first
// bytes are the sealed magic (src/crypto/magic.ts); only then is
// ./sealing.ts loaded and the key looked for. Plain values pass as they
// are, key or no key.
//
// What a reader is told of an opened value is what was verified: `size` is
// the plaintext's, `encrypted` the key id of the header that opened it. A
// plain value carries no `encrypted`, whatever the server says of it: a
// server can mark a plain value it put in place of a sealed one, and a
// reader who must know checks `encrypted` (docs/ENCRYPTION.md, limits).

import { SEAL_MAGIC, isSealed } from "../crypto/magic.ts";
import { ClipError } from "../protocol/errors.ts";
import type { Message } from "./mux.ts";
import type { Sealing, Where } from "./sealing.ts";

export type { Where };

/** Loads the client's sealing (and its key) when a value first needs it. */
export type LoadSealing = () => Promise<Sealing>;

/** Bytes of the header that name the key (magic, version, chunk size, key id). */
const KEY_NAMED = 21;

/**
 * A value read whole, opened in place when it is sealed; `meta` (the
 * reply's own) then says the plaintext's size and the key id. Throws
 * ClipError AUTH without the key, with another, or when a chunk does not
 * verify; VERSION for a format this clip cannot read.
 */
export function openWhole(load: LoadSealing, where: Where, meta: Record<string, unknown>, bytes: Uint8Array): Uint8Array | Promise<Uint8Array> {
  if (!isSealed(bytes)) {
    // Deleting only what is there: a delete turns the object into a slower dictionary.
    if (meta.encrypted !== undefined) delete meta.encrypted;
    return bytes;
  }
  return openSealed(load, where, meta, bytes);
}

async function openSealed(load: LoadSealing, where: Where, meta: Record<string, unknown>, bytes: Uint8Array): Promise<Uint8Array> {
  let opened: { bytes: Uint8Array; keyId: string };
  try {
    opened = (await load()).openInPlace(where, bytes);
  } catch (e) {
    throw withRev(e, meta);
  }
  meta.size = opened.bytes.length;
  meta.encrypted = opened.keyId;
  return opened.bytes;
}

/**
 * A message whose value may be sealed, resolved once its first bytes tell.
 * A sealed one is refused here, before any byte is given, when the key is
 * missing or another; then its body gives each chunk's plaintext only once
 * the chunk has verified, and fails at the first that does not (what was
 * given before it is whole chunks, verified). Its meta says the plaintext's
 * size. A plain one comes as it was.
 */
export async function openMessage<M extends Message>(load: LoadSealing, where: Where, m: M): Promise<M> {
  const it = m.body[Symbol.asyncIterator]();
  const held: Uint8Array[] = [];
  let n = 0;
  let ended = false;
  const more = async (): Promise<Uint8Array | null> => {
    const r = await it.next();
    if (r.done) {
      ended = true;
      return null;
    }
    held.push(r.value);
    n += r.value.length;
    return r.value;
  };
  try {
    while (n < SEAL_MAGIC.length && (await more()) !== null);
    if (!isSealed(first(held, SEAL_MAGIC.length))) {
      const meta = { ...m.meta };
      delete meta.encrypted;
      return { ...m, meta, body: passBody(held, it, ended) };
    }
    const sealing = await load();
    const opener = sealing.opener(where);
    while (n < KEY_NAMED && (await more()) !== null);
    // The header names its key by now (or the value is cut short): a missing or other key throws here.
    const ready: Uint8Array[] = [];
    for (const c of held) for (const p of opener.push(c)) ready.push(p);
    const meta: Record<string, unknown> = { ...m.meta, encrypted: opener.keyId };
    if (typeof m.meta.size === "number" && n >= KEY_NAMED) meta.size = sealing.openedSize(m.meta.size, first(held, KEY_NAMED));
    // `whole` (a small value's raw bytes, for one write to stdout) is the sealed form: gone, the body opens it.
    return { ...m, meta, whole: undefined, body: openedBody(sealing, opener, ready, it, ended) };
  } catch (e) {
    if (!ended) await it.return?.();
    throw withRev(e, m.meta);
  }
}

/**
 * A refusal to open names the revision it refused (ClipError.rev), so that
 * a reader that goes on without it (the desktop bridge: "leaves the desktop
 * alone and logs why") can follow again from there.
 */
function withRev(e: unknown, meta: Record<string, unknown>): unknown {
  if (!(e instanceof ClipError) || e.rev !== undefined || typeof meta.rev !== "number") return e;
  return new ClipError(e.code, e.message, { cause: e.cause, rev: meta.rev });
}

/** openMessage for a reply: a refusal cancels the request (the caller never sees it to call done()). */
export async function openReply<M extends Message & { done(): void }>(load: LoadSealing, where: Where, m: M): Promise<M> {
  try {
    return await openMessage(load, where, m);
  } catch (e) {
    m.done();
    throw e;
  }
}

/** The first `n` bytes of what is held (fewer if that is all there is). */
function first(held: Uint8Array[], n: number): Uint8Array {
  if (held.length === 0) return new Uint8Array(0);
  if (held[0].length >= n || held.length === 1) return held[0];
  return Buffer.concat(held).subarray(0, n);
}

async function* passBody(held: Uint8Array[], it: AsyncIterator<Uint8Array>, ended: boolean): AsyncGenerator<Uint8Array> {
  try {
    for (const c of held) yield c;
    while (!ended) {
      const r = await it.next();
      if (r.done) ended = true;
      else yield r.value;
    }
  } finally {
    if (!ended) await it.return?.();
  }
}

async function* openedBody(sealing: Sealing, opener: ReturnType<Sealing["opener"]>, ready: Uint8Array[], it: AsyncIterator<Uint8Array>, ended: boolean): AsyncGenerator<Uint8Array> {
  try {
    if (ready.length > 0) yield sealing.join(ready);
    while (!ended) {
      const r = await it.next();
      if (r.done) ended = true;
      else {
        const out = opener.push(r.value);
        if (out.length > 0) yield sealing.join(out);
      }
    }
    const last = opener.end();
    if (last.length > 0) yield sealing.join(last);
  } finally {
    if (!ended) await it.return?.();
  }
}
