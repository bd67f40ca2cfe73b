// Sending a value: a message head (REQ, RES or EVT, with its meta) and the
// value's bytes as DATA frames on the same stream, read from a ValueSource
// straight into each frame's buffer. The one sender of values in clip: the
// client's uploads, the server's replies and events, the tree's relays up
// and down all come through here.
//
// Backpressure: before each frame the connection's queue must be under
// `room`, so a slow reader holds back the source (the disk, a pipe, a value
// still arriving), never our memory; checked right before each send, so many
// streams woken at once take turns instead of passing the queue's hard limit.

import type { Conn } from "../net/conn.ts";
import { FramePool } from "../net/pool.ts";
import { ClipError } from "../protocol/errors.ts";
import { FrameType, HEADER_SIZE, MAX_CHUNK, MAX_META, writeHeader } from "../protocol/frame.ts";
import { fill, type ValueSource } from "./source.ts";

/** Queued bytes above which a sender waits before its next frame. */
export const SEND_ROOM = 4 << 20;

export interface SendOptions {
  /** Wait while the connection holds more than this (default SEND_ROOM). */
  room?: number;
  /** Asked before each frame: an error to stop with (the request was cancelled or refused). */
  stop?: () => Error | null;
  /** Bytes of the value sent so far, after each frame. */
  onProgress?: (sent: number) => void;
}

const encoder = new TextEncoder();

/**
 * Sends `meta` and the value of `source` (null: no value) on stream `id`.
 * The source's known size goes into meta as `size`. Resolves with the bytes
 * sent once the last frame is queued; closes the source in every case.
 * Throws LOST if the connection closes first, or what `stop` returned.
 */
export async function sendValue(conn: Conn, type: FrameType, id: number, meta: Record<string, unknown>, source: ValueSource | null, opts: SendOptions = {}): Promise<number> {
  const room = opts.room ?? SEND_ROOM;
  try {
    if (source && source.size !== undefined) meta = { ...meta, size: source.size };
    const metaBytes = encoder.encode(JSON.stringify(meta));
    if (metaBytes.length > MAX_META) throw new ClipError("PROTOCOL", `frame meta of ${metaBytes.length} bytes exceeds ${MAX_META}`);
    // Room first, then the buffer: a hundred replies queued at once must not each hold a chunk in memory.
    while (mustWait(conn, room, opts)) await conn.drained(room);
    // The head carries the first bytes: a value that fits is one frame, with no pool.
    const known = source?.size;
    const firstCap = !source ? 0 : known !== undefined ? Math.min(known, MAX_CHUNK) : MAX_CHUNK;
    const head = new Uint8Array(HEADER_SIZE + metaBytes.length + firstCap);
    head.set(metaBytes, HEADER_SIZE);
    let sent = 0;
    let ended = !source || known === 0;
    if (source && firstCap > 0) {
      let r = fill(source, head.subarray(HEADER_SIZE + metaBytes.length));
      if (r instanceof Promise) {
        r = await r;
        while (mustWait(conn, room, opts)) await conn.drained(room);
      }
      sent = r.n;
      ended = r.ended || (known !== undefined && sent >= known);
    }
    writeHeader(head, type, id, metaBytes.length, sent, ended);
    conn.send(sent === firstCap ? head : head.subarray(0, HEADER_SIZE + metaBytes.length + sent));
    opts.onProgress?.(sent);
    if (ended) return checkLength(sent, known);
    const pool = new FramePool(conn, HEADER_SIZE + MAX_CHUNK); // buffers reused once the kernel has them
    while (!ended) {
      while (mustWait(conn, room, opts)) await conn.drained(room);
      const buf = pool.takeNow() ?? (await pool.take());
      const cap = known !== undefined ? Math.min(MAX_CHUNK, known - sent) : MAX_CHUNK;
      let r = fill(source!, buf.subarray(HEADER_SIZE, HEADER_SIZE + cap));
      if (r instanceof Promise) r = await r;
      // Checked again right before the send, with no await in between (see mustWait).
      while (mustWait(conn, room, opts)) await conn.drained(room);
      sent += r.n;
      ended = r.ended || (known !== undefined && sent >= known);
      writeHeader(buf, FrameType.DATA, id, 0, r.n, ended);
      pool.send(buf, HEADER_SIZE + r.n);
      opts.onProgress?.(sent);
    }
    return checkLength(sent, known);
  } finally {
    source?.close();
  }
}

/**
 * Whether to wait for room before the next frame; throws if the connection
 * closed or the sender should stop. Synchronous, and the frame is sent right
 * after it says no, with no await in between: many senders woken together
 * then take turns (each sees the queue the one before it left), where an
 * await between the check and the send would let them all pass at once.
 */
function mustWait(conn: Conn, room: number, opts: SendOptions): boolean {
  const why = opts.stop?.();
  if (why) throw why;
  if (conn.isClosed) throw new ClipError("LOST", "the connection closed while a value was being sent");
  return conn.queued > room;
}

function checkLength(sent: number, known: number | undefined): number {
  // The receiver refuses a short value too; saying so here names the cause.
  if (known !== undefined && sent !== known) throw new ClipError("INTERNAL", `the value ended after ${sent} of its ${known} bytes (did the file shrink while it was read?)`);
  return sent;
}
