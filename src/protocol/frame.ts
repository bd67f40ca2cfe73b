// The wire codec: frames in, frames out, no sockets. See docs/PROTOCOL.md.
//
//   offset  size  field
//   0       4     length of everything after this field (u32, big-endian)
//   4       1     type (FrameType)
//   5       1     flags (bit 0: FIN, the last frame of this message's value)
//   6       4     stream id (u32): the request this frame belongs to
//   10      2     meta length M (u16)
//   12      M     meta: a UTF-8 JSON object, or nothing
//   12+M    ...   payload: raw value bytes
//
// A value larger than one frame follows its opening frame (REQ, RES or EVT)
// as DATA frames on the same stream id; the frame with FIN closes it.
// Every length is checked against the limits before anything is allocated.

import { ClipError } from "./errors.ts";

export const PROTOCOL_VERSION = 2;

export const FrameType = {
  REQ: 1, // a request: meta.op names it; a value may follow
  RES: 2, // the reply to a request; a value may follow
  ERR: 3, // the request failed: meta {code, message}; ends the stream
  DATA: 4, // more bytes of the value opened on this stream
  EVT: 5, // one event of a subscription (wait --follow, watch, tree stream)
  CANCEL: 6, // the opener gives up on this stream (abort a wait, a copy, a watch)
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export const FLAG_FIN = 1;

export const HEADER_SIZE = 12;
/** Largest payload one frame carries; larger values are split into DATA frames. */
export const MAX_CHUNK = 1 << 20;
/** Largest meta object (JSON) one frame carries. */
export const MAX_META = 0xffff;
/** The largest frame a peer may announce; anything larger is a protocol error. */
export const MAX_FRAME = HEADER_SIZE + MAX_META + MAX_CHUNK;

export interface Frame {
  type: FrameType;
  /** Last frame of the value on this stream (or a frame without a value). */
  fin: boolean;
  id: number;
  meta: Record<string, unknown>;
  payload: Uint8Array;
  /**
   * An event's whole frame as it arrived (EVT, with the decoder's
   * `eventFrames`): a server relays its parent's events to its children as
   * these bytes, with another stream id, instead of encoding them again. A
   * copy, the consumer's to keep.
   */
  raw?: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const EMPTY = new Uint8Array(0);

/** Encodes one frame. The payload must be at most MAX_CHUNK bytes. */
export function encodeFrame(
  type: FrameType,
  id: number,
  meta: object | null,
  payload: Uint8Array = EMPTY,
  fin = true,
): Uint8Array {
  const metaBytes = meta ? encoder.encode(JSON.stringify(meta)) : EMPTY;
  if (metaBytes.length > MAX_META) throw new ClipError("PROTOCOL", `frame meta of ${metaBytes.length} bytes exceeds ${MAX_META}`);
  if (payload.length > MAX_CHUNK) throw new ClipError("PROTOCOL", `frame payload of ${payload.length} bytes exceeds ${MAX_CHUNK}`);
  const out = new Uint8Array(HEADER_SIZE + metaBytes.length + payload.length);
  writeHeader(out, type, id, metaBytes.length, payload.length, fin);
  out.set(metaBytes, HEADER_SIZE);
  out.set(payload, HEADER_SIZE + metaBytes.length);
  return out;
}

/** A copy of an encoded frame on another stream id: one event encoded once for many subscribers. */
export function withStreamId(frame: Uint8Array, id: number): Uint8Array {
  const out = frame.slice();
  out[6] = id >>> 24;
  out[7] = id >>> 16;
  out[8] = id >>> 8;
  out[9] = id;
  return out;
}

/**
 * Writes a frame header into the first HEADER_SIZE bytes of `out`. Used by
 * senders that read a value straight into a frame buffer (no extra copy).
 */
export function writeHeader(out: Uint8Array, type: FrameType, id: number, metaLen: number, payloadLen: number, fin: boolean): void {
  // Bytes, not a DataView: `.buffer` of a fresh typed array makes the engine
  // materialise its ArrayBuffer (~0.2 µs), a tenth of a small request's cost.
  const len = HEADER_SIZE - 4 + metaLen + payloadLen;
  out[0] = len >>> 24;
  out[1] = len >>> 16;
  out[2] = len >>> 8;
  out[3] = len;
  out[4] = type;
  out[5] = fin ? FLAG_FIN : 0;
  out[6] = id >>> 24;
  out[7] = id >>> 16;
  out[8] = id >>> 8;
  out[9] = id;
  out[10] = metaLen >>> 8;
  out[11] = metaLen;
}

/** Big-endian u32 at b[at..]. */
const u32 = (b: Uint8Array, at: number) => ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
/** Big-endian u16 at b[at..]. */
const u16 = (b: Uint8Array, at: number) => (b[at] << 8) | b[at + 1];

export interface DecoderOptions {
  /**
   * Hand out a DATA frame (without meta) as it arrives, in pieces that are
   * views of the pushed chunks: one DATA frame per piece, FIN on the last.
   * The bytes of a value are the same; what is saved is allocating and
   * filling a 1 MiB buffer per frame, the main cost of receiving a large
   * value. For consumers that treat DATA as a byte stream (session, client).
   */
  streamData?: boolean;
  /** Keep a copy of each whole EVT frame in `raw` (a server's link to its parent). */
  eventFrames?: boolean;
}

/**
 * A push parser: feed it chunks as they arrive, get whole frames back.
 * Keeps at most one partial frame; its buffer is allocated once, at the size
 * the header announces, after that size has been checked.
 */
export class FrameDecoder {
  private head = new Uint8Array(HEADER_SIZE);
  private headLen = 0;
  private body: Uint8Array | null = null; // the frame being assembled (header included)
  private bodyLen = 0;
  private readonly streamData: boolean;
  private readonly eventFrames: boolean;
  /** The DATA frame being handed out in pieces (streamData). */
  private streamId = 0;
  private streamLeft = 0;
  private streamFin = false;

  constructor(
    private readonly maxFrame = MAX_FRAME,
    opts: DecoderOptions = {},
  ) {
    this.streamData = opts.streamData === true;
    this.eventFrames = opts.eventFrames === true;
  }

  /** Bytes held for an incomplete frame; useful to bound memory in tests. */
  get buffered(): number {
    return this.body ? this.bodyLen : this.headLen;
  }

  /** streamData: starts handing out the DATA frame whose header is at buf[pos..]; false if it is not one. */
  private startStream(buf: Uint8Array, pos: number, total: number, frames: Frame[]): boolean {
    if (!this.streamData || buf[pos + 4] !== FrameType.DATA || buf[pos + 10] !== 0 || buf[pos + 11] !== 0) return false;
    this.streamId = u32(buf, pos + 6);
    this.streamFin = (buf[pos + 5] & FLAG_FIN) !== 0;
    this.streamLeft = total - HEADER_SIZE;
    if (this.streamLeft === 0) frames.push({ type: FrameType.DATA, fin: this.streamFin, id: this.streamId, meta: {}, payload: EMPTY });
    return true;
  }

  /** Returns every frame completed by `chunk`. Throws ClipError("PROTOCOL") on bad input. */
  push(chunk: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.streamLeft > 0) {
        const take = Math.min(this.streamLeft, chunk.length - pos);
        this.streamLeft -= take;
        frames.push({ type: FrameType.DATA, fin: this.streamLeft === 0 && this.streamFin, id: this.streamId, meta: {}, payload: chunk.subarray(pos, pos + take) });
        pos += take;
        continue;
      }
      if (this.body) {
        const take = Math.min(this.body.length - this.bodyLen, chunk.length - pos);
        this.body.set(chunk.subarray(pos, pos + take), this.bodyLen);
        this.bodyLen += take;
        pos += take;
        if (this.bodyLen === this.body.length) {
          frames.push(this.withRaw(parseFrame(this.body), this.body, 0, this.body.length));
          this.body = null;
          this.bodyLen = 0;
        }
        continue;
      }
      if (this.headLen === 0 && chunk.length - pos >= HEADER_SIZE) {
        // Fast path: the whole frame may sit in this chunk; parse it in place.
        const total = this.checkedLength(chunk, pos);
        if (chunk.length - pos >= total) {
          frames.push(this.withRaw(parseFrame(chunk, pos, total), chunk, pos, total));
          pos += total;
          continue;
        }
        if (this.startStream(chunk, pos, total, frames)) {
          pos += HEADER_SIZE;
          continue;
        }
        this.body = new Uint8Array(total);
        continue;
      }
      const take = Math.min(HEADER_SIZE - this.headLen, chunk.length - pos);
      this.head.set(chunk.subarray(pos, pos + take), this.headLen);
      this.headLen += take;
      pos += take;
      if (this.headLen === HEADER_SIZE) {
        const total = this.checkedLength(this.head, 0);
        this.headLen = 0;
        if (this.startStream(this.head, 0, total, frames)) continue;
        this.body = new Uint8Array(total);
        this.body.set(this.head, 0);
        this.bodyLen = HEADER_SIZE;
        this.headLen = 0;
        if (total === HEADER_SIZE) {
          frames.push(this.withRaw(parseFrame(this.body), this.body, 0, HEADER_SIZE));
          this.body = null;
          this.bodyLen = 0;
        }
      }
    }
    return frames;
  }

  /** With `eventFrames`, an EVT's bytes copied into `raw`. */
  private withRaw(f: Frame, buf: Uint8Array, pos: number, total: number): Frame {
    if (this.eventFrames && f.type === FrameType.EVT) f.raw = copyOut(buf, pos, total);
    return f;
  }

  /** Validates a header at `buf[pos..]` and returns the whole frame's size. */
  private checkedLength(buf: Uint8Array, pos: number): number {
    const rest = u32(buf, pos);
    const total = rest + 4;
    if (total < HEADER_SIZE) throw new ClipError("PROTOCOL", `frame length ${rest} is shorter than a header`);
    if (total > this.maxFrame) throw new ClipError("PROTOCOL", `frame of ${total} bytes exceeds the limit of ${this.maxFrame}`);
    const type = buf[pos + 4];
    if (type < FrameType.REQ || type > FrameType.CANCEL) throw new ClipError("PROTOCOL", `unknown frame type ${type}`);
    const flags = buf[pos + 5];
    if (flags & ~FLAG_FIN) throw new ClipError("PROTOCOL", `unknown frame flags ${flags}`);
    if (u16(buf, pos + 10) > total - HEADER_SIZE) throw new ClipError("PROTOCOL", "frame meta is longer than the frame");
    return total;
  }
}

/** Payloads below this size are copied out of the chunk rather than viewed (see parseFrame). */
export const COPY_BELOW = 4096;

// Socket chunks are Buffers, whose slice() is a view: copy with the typed array's own.
const copySlice = Uint8Array.prototype.slice;

/** A copy of buf[start..start+n]; a loop for the smallest, which costs less than a call. */
function copyOut(buf: Uint8Array, start: number, n: number): Uint8Array {
  if (n > 256) return copySlice.call(buf, start, start + n);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = buf[start + i];
  return out;
}

// Node's Buffer#latin1Slice reads a string straight out of any Uint8Array.
// Looked up at the first frame: touching Buffer costs a command's start-up ~0.1 ms.
let latin1Slice: ((this: Uint8Array, start: number, end: number) => string) | undefined | null = null;

/** The meta text at buf[start..end]: ASCII (the usual case) without a view or a UTF-8 decoder. */
function metaText(buf: Uint8Array, start: number, end: number): string {
  if (latin1Slice === null) latin1Slice = (Buffer.prototype as unknown as { latin1Slice?: (this: Uint8Array, start: number, end: number) => string }).latin1Slice;
  if (latin1Slice) {
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (buf[i] > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (ascii) return latin1Slice.call(buf, start, end);
  }
  return decoder.decode(buf.subarray(start, end));
}

/**
 * Parses the frame at buf[pos..pos+total]. No DataView and no view for the
 * meta: a chunk fresh from the socket pays ~0.2 µs the first time anything
 * asks for its ArrayBuffer, as much as the rest of a small frame's decoding.
 * For the same reason a small payload is copied instead of viewed; the copy
 * is also the consumer's to keep.
 */
function parseFrame(buf: Uint8Array, pos = 0, total = buf.length): Frame {
  const metaLen = u16(buf, pos + 10);
  let meta: Record<string, unknown> = {};
  if (metaLen > 0) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(metaText(buf, pos + HEADER_SIZE, pos + HEADER_SIZE + metaLen));
    } catch {
      throw new ClipError("PROTOCOL", "frame meta is not valid UTF-8 JSON");
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new ClipError("PROTOCOL", "frame meta is not a JSON object");
    meta = parsed as Record<string, unknown>;
  }
  const start = pos + HEADER_SIZE + metaLen;
  const end = pos + total;
  const n = end - start;
  return {
    type: buf[pos + 4] as FrameType,
    fin: (buf[pos + 5] & FLAG_FIN) !== 0,
    id: u32(buf, pos + 6),
    meta,
    payload: n === 0 ? EMPTY : n < COPY_BELOW ? copyOut(buf, start, n) : buf.subarray(start, end),
  };
}
