// `clip paste N` over a unix socket, on the shortest path there is: one
// Bun.connect, hello and paste in one write, the reply streamed to stdout.
// Scripts run paste in loops, where start-up is nearly all of its cost;
// the library client (Client, Inbox, async generators) is correct but costs
// ~2.5 ms of first-run code before the first byte. This file imports only
// the frame codec and errors. It is the same protocol as Client: anything it
// is not sure of (TCP, a refused connect) goes to the normal path instead.
//
// A large value (the reply announces HANDOFF bytes or more) is pasted again
// over blocking libc calls on Linux with glibc (../net/libc.ts): reads of up
// to 4 MiB into one buffer, the payload written to fd 1 from that same
// buffer, as socat does; a Bun socket copies each ~200 KiB read into a fresh
// JS buffer and costs an event-loop turn and a promise per read. That halves
// the client's CPU for a 1 GiB paste (0.30 -> 0.13 s). Small values stay on
// Bun's socket: loading bun:ffi and libc costs ~0.5 ms, a tenth of a cold
// paste. The first request is dropped before any of its bytes reach stdout,
// so the output is one whole value, the one the second request found.

import { clientAddress, formatAddress } from "../net/address.ts";
import { ClipError } from "../protocol/errors.ts";
import { type Frame, FrameDecoder, FrameType, MAX_FRAME, PROTOCOL_VERSION, encodeFrame } from "../protocol/frame.ts";

/** Client's flow-control marks: stop reading the socket while stdout is this far behind. */
const HIGH_WATER = 16 << 20;
const LOW_WATER = 4 << 20;

/** Resolves true when pasted; false when the caller should take the normal path. */
export async function quickPaste(region: number, server: string | undefined, handoff = true): Promise<boolean> {
  const addr = clientAddress(server);
  if (addr.kind !== "unix") return false;
  let handingOff = false;
  const decoder = new FrameDecoder(MAX_FRAME, { streamData: true });
  const queue: Uint8Array[] = [];
  let queued = 0;
  let paused = false;
  let finished = false;
  let total: number | undefined;
  let failure: ClipError | null = null;
  let wake: (() => void) | null = null;
  const poke = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  type Sock = { write(d: Uint8Array): number; end(): void; pause(): void; resume(): void };
  let sock: Sock | null = null;
  const fail = (e: ClipError) => {
    if (!finished && !failure) failure = e;
    poke();
  };
  const onData = (s: Sock, chunk: Uint8Array) => {
    let frames;
    try {
      frames = decode(decoder, chunk);
    } catch (e) {
      return fail(e as ClipError);
    }
    for (const f of frames) {
      if (handingOff) break;
      if (f.type === FrameType.ERR) return fail(ClipError.fromWire(f.meta));
      if (f.id !== 2) continue; // the welcome (id 1): a unix socket never asks for a token
      if (f.type === FrameType.RES && typeof f.meta.size === "number") total = f.meta.size;
      if (handoff && f.type === FrameType.RES && !f.fin && total !== undefined && total >= HANDOFF && process.platform === "linux") {
        handingOff = true;
        s.pause();
        break;
      }
      if (f.payload.length > 0) {
        queue.push(f.payload);
        queued += f.payload.length;
      }
      if (f.fin) finished = true;
    }
    if (!paused && queued > HIGH_WATER) {
      paused = true;
      s.pause();
    }
    poke();
  };
  try {
    sock = (await Bun.connect({
      unix: addr.path,
      socket: {
        data: onData,
        close: () => fail(new ClipError("LOST", `connection to ${formatAddress(addr)} was lost`)),
        error: () => fail(new ClipError("LOST", `connection to ${formatAddress(addr)} was lost`)),
      },
    })) as unknown as Sock;
  } catch {
    return false; // no server: the normal path says so in its words
  }
  sock.write(helloAnd(encodeFrame(FrameType.REQ, 2, { op: "paste", r: region }))); // 100-odd bytes: the kernel takes them whole

  const out = Bun.stdout.writer({ highWaterMark: 1 << 20 });
  let bar: ((done: number, total?: number) => void) & { end(): void } = Object.assign(() => {}, { end() {} });
  let done = 0;
  try {
    while (true) {
      while (queue.length > 0) {
        const chunk = queue.shift()!;
        queued -= chunk.length;
        if (paused && queued <= LOW_WATER) {
          paused = false;
          sock.resume();
        }
        out.write(chunk);
        await out.flush();
        done += chunk.length;
        // Only large values show progress (at a terminal): small ones never load output.ts.
        if (done >= 4 << 20 && done - chunk.length < 4 << 20) bar = (await import("./output.ts")).progress(`paste ${region}:`);
        bar(done, total);
      }
      if (handingOff) {
        sock.end();
        if (await blockingPaste(region, addr.path, () => formatAddress(addr))) return true;
        return quickPaste(region, server, false); // no libc to be had: this socket again
      }
      if (failure) throw failure;
      if (finished) break;
      await new Promise<void>((r) => (wake = r));
    }
    await out.flush();
  } finally {
    bar.end();
    finished = true;
    sock.end();
  }
  return true;
}

/** Values from this size are pasted again over blocking calls (see the header). */
const HANDOFF = 16 << 20;
/** One read's worth: a whole 1 MiB frame and then some, reused for every read. */
const BUF = 4 << 20;

/**
 * The paste over blocking libc calls. False (nothing sent) when libc or the
 * socket is not to be had here: the caller tries Bun's sockets, whose errors
 * say what is wrong in the normal words.
 */
async function blockingPaste(region: number, path: string, where: () => string): Promise<boolean> {
  // Loaded only here: loading bun:ffi costs ~0.16 ms of every cold paste.
  const { BlockingSocket } = await import("../net/libc.ts");
  const sock = BlockingSocket.open(path, where());
  if (!sock) return false;
  // The decoder hands DATA out as views of `buf`: each is written to stdout
  // before the next read reuses the buffer, so no byte is copied in between.
  const decoder = new FrameDecoder(MAX_FRAME, { streamData: true });
  const buf = new Uint8Array(BUF);
  let total: number | undefined;
  let done = 0;
  let bar: ((done: number, total?: number) => void) & { end(): void } = Object.assign(() => {}, { end() {} });
  try {
    const first = helloAnd(encodeFrame(FrameType.REQ, 2, { op: "paste", r: region }));
    sock.send(first, 0, first.length);
    while (true) {
      for (const f of decode(decoder, buf.subarray(0, sock.read(buf, 0)))) {
        if (f.type === FrameType.ERR) throw ClipError.fromWire(f.meta);
        if (f.id !== 2) continue; // the welcome
        if (f.type === FrameType.RES && typeof f.meta.size === "number") total = f.meta.size;
        if (f.payload.length > 0) {
          sock.stdout(f.payload, 0, f.payload.length);
          done += f.payload.length;
          // Only large values show progress (at a terminal): small ones never load output.ts.
          if (done >= 4 << 20 && done - f.payload.length < 4 << 20) bar = (await import("./output.ts")).progress(`paste ${region}:`);
          bar(done, total);
        }
        if (f.fin) return true;
      }
    }
  } finally {
    bar.end();
    sock.close();
  }
}

/** hello (id 1) and then `request` (id 2), in one buffer: one write opens the session and asks. */
export function helloAnd(request: Uint8Array): Uint8Array {
  const hello = encodeFrame(FrameType.REQ, 1, { op: "hello", v: PROTOCOL_VERSION, kind: "cli", pid: process.pid });
  const both = new Uint8Array(hello.length + request.length);
  both.set(hello);
  both.set(request, hello.length);
  return both;
}

/** decoder.push, with the codec's complaint said as the server's fault. */
export function decode(decoder: FrameDecoder, bytes: Uint8Array): Frame[] {
  try {
    return decoder.push(bytes);
  } catch (e) {
    throw new ClipError("PROTOCOL", `the server sent bytes that are not clip's protocol: ${(e as Error).message}`);
  }
}
