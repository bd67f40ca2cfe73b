// `clip paste N` over a unix socket, on the shortest path there is: one
// Bun.connect, hello and paste in one write, the reply streamed to stdout.
// Scripts run paste in loops, where start-up is nearly all of its cost;
// the library client (Client, Inbox, async generators) is correct but costs
// ~2.5 ms of first-run code before the first byte. This file imports only
// the frame codec and errors. It is the same protocol as Client: anything it
// is not sure of (TCP, a refused connect) goes to the normal path instead.

import { clientAddress, formatAddress } from "../net/address.ts";
import { ClipError } from "../protocol/errors.ts";
import { FrameDecoder, FrameType, MAX_FRAME, PROTOCOL_VERSION, encodeFrame } from "../protocol/frame.ts";

/** Client's flow-control marks: stop reading the socket while stdout is this far behind. */
const HIGH_WATER = 16 << 20;
const LOW_WATER = 4 << 20;

/** Resolves true when pasted; false when the caller should take the normal path. */
export async function quickPaste(region: number, server: string | undefined): Promise<boolean> {
  const addr = clientAddress(server);
  if (addr.kind !== "unix") return false;
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
      frames = decoder.push(chunk);
    } catch (e) {
      return fail(new ClipError("PROTOCOL", `the server sent bytes that are not clip's protocol: ${(e as Error).message}`));
    }
    for (const f of frames) {
      if (f.type === FrameType.ERR) return fail(ClipError.fromWire(f.meta));
      if (f.id !== 2) continue; // the welcome (id 1): a unix socket never asks for a token
      if (f.type === FrameType.RES && typeof f.meta.size === "number") total = f.meta.size;
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
  const hello = encodeFrame(FrameType.REQ, 1, { op: "hello", v: PROTOCOL_VERSION, kind: "cli", pid: process.pid });
  const paste = encodeFrame(FrameType.REQ, 2, { op: "paste", r: region });
  const both = new Uint8Array(hello.length + paste.length);
  both.set(hello);
  both.set(paste, hello.length);
  sock.write(both); // 100-odd bytes: the kernel takes them whole

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
