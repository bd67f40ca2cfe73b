// What the library hands back and takes: a value with the facts the server
// keeps of it, and a write's options as the request fields that carry them.
// Shared by the clipboard (client.ts) and the keys (kv.ts).

import type { Key } from "../crypto/key.ts";
import type { ValueInfo } from "../protocol/messages.ts";

/** Options of a write (copy, kv put). */
export interface WriteOptions {
  /** The media type (`type/subtype`); without it the server recognises common formats by their first bytes. */
  type?: string;
  /** Time to live in milliseconds: the value is removed everywhere when it has passed. */
  ttl?: number;
  /** Write only if the region or key is at this revision (0: empty or absent); else ClipError CONDITION with `.rev`. */
  ifRev?: number;
  /**
   * Seal the value on this machine before it leaves (end-to-end encryption):
   * true seals with the client's key (`key` of connect(), else
   * $CLIP_KEY_FILE, else the default key file), or give a Key. No usable
   * key: ClipError, and nothing is sent. Never falls back to a plain write.
   */
  encrypt?: boolean | Key;
  /** Progress callback: bytes sent so far, and the total when known (sealed bytes, when sealing). */
  onProgress?: (sent: number, total: number | undefined) => void;
  signal?: AbortSignal;
}

export type CopyOptions = WriteOptions;

/** Which stored value to read: the current one, one revision, or one that many values back. */
export interface ReadOptions {
  rev?: number;
  back?: number;
}

/**
 * A value with what the server knows of it. A value that was sealed is
 * opened: `size` is then the plaintext's and `encrypted` the id of the key
 * that verified it; a plain value has no `encrypted` (see opened.ts).
 */
export interface Clip extends ValueInfo {
  value: Uint8Array;
}

/** The write's place in the order, and its size. */
export interface Written {
  rev: number;
  size: number;
}

/** A write's options as request fields. */
export function writeFields(opts: { type?: string; ttl?: number; ifRev?: number }): Record<string, unknown> {
  const m: Record<string, unknown> = {};
  if (opts.type !== undefined) m.type = opts.type;
  if (opts.ttl !== undefined) m.ttl = opts.ttl;
  if (opts.ifRev !== undefined) m.ifRev = opts.ifRev;
  return m;
}

/** A value and the facts its reply carried. */
export function clipOf(meta: Record<string, unknown>, value: Uint8Array): Clip {
  const c: Clip = { rev: Number(meta.rev ?? 0), size: Number(meta.size ?? value.length), at: Number(meta.at ?? 0), by: String(meta.by ?? ""), type: String(meta.type ?? ""), value };
  if (typeof meta.expires === "string") c.expires = meta.expires;
  if (typeof meta.encrypted === "string") c.encrypted = meta.encrypted;
  return c;
}

