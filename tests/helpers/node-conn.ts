// Run under `node` (tests/unit/conn-node.test.ts bundles it with
// `bun build --target=node`): the Node dialer's Conn (src/net/node.ts)
// against a node:net server on a unix socket that reads only when told.
// Prints one JSON line of what it measured; the test judges it.
//
// 1. bounds: the server does not read; 24 frames of 1 MiB are sent. Node
//    must hold at most one of our writes (the rest stays in our counted
//    queue), drained() must wait, and past the hard limit the Conn closes
//    as "slow".
// 2. integrity: sendValue (frame buffers reused once `queued` says they
//    left: net/pool.ts) sends 20 MiB while the server reads; the server
//    decodes the frames and hashes the value.

import { createHash } from "node:crypto";
import { type Server, type Socket, createServer } from "node:net";
import { join } from "node:path";
import { DEFAULT_LIMITS, type Conn, type CloseReason } from "../../src/net/conn.ts";
import { openNode } from "../../src/net/node.ts";
import { FrameDecoder, FrameType } from "../../src/protocol/frame.ts";
import { sendValue } from "../../src/value/send.ts";
import { bytesSource } from "../../src/value/source.ts";

const dir = process.argv[2];
const MiB = 1 << 20;
const out: Record<string, unknown> = {};
const turn = () => new Promise<void>((r) => setImmediate(r));

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 20_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await turn();
  }
}

/** A server that holds each accepted socket paused until the test resumes it. */
async function server(path: string): Promise<{ srv: Server; accepted: Socket[]; got: Buffer[][] }> {
  const accepted: Socket[] = [];
  const got: Buffer[][] = [];
  const srv = createServer((s) => {
    const mine: Buffer[] = [];
    got.push(mine);
    accepted.push(s);
    s.pause();
    s.on("data", (b: Buffer) => mine.push(b));
  });
  await new Promise<void>((r) => srv.listen(path, r));
  return { srv, accepted, got };
}

async function dial(path: string): Promise<{ conn: Conn; closed: () => CloseReason | null }> {
  let why: CloseReason | null = null;
  const conn = await openNode({ kind: "unix", path }, () => ({ data() {}, closed: (r) => (why = r) }), undefined, new AbortController().signal);
  return { conn, closed: () => why };
}

/** Bytes Node's socket holds for us (the adapter's `pendingBytes`). */
const pendingOf = (conn: Conn) => (conn as unknown as { socket: { pendingBytes: number } }).socket.pendingBytes;

// --- 1. bounds ---
{
  const path = join(dir, "b.sock");
  const { srv, accepted } = await server(path);
  const { conn, closed } = await dial(path);
  await until(() => accepted.length === 1, "the accept");
  const frame = new Uint8Array(MiB).fill(7);
  let maxPending = 0;
  for (let i = 0; i < 24; i++) {
    conn.send(frame);
    await turn();
    maxPending = Math.max(maxPending, pendingOf(conn));
  }
  // Let every write the kernel can take happen, then look.
  for (let i = 0; i < 20; i++) {
    await turn();
    maxPending = Math.max(maxPending, pendingOf(conn));
  }
  out.bounds = { sent: 24 * MiB, queued: conn.queued, maxPending };
  let drained = false;
  conn.drained(MiB).then(() => (drained = true));
  for (let i = 0; i < 20; i++) await turn();
  out.drainedWhilePaused = drained;
  // Past the hard limit the Conn gives up on the peer.
  let refusedAt = -1;
  for (let i = 0; i < 64; i++) {
    if (!conn.send(frame)) {
      refusedAt = i;
      break;
    }
  }
  out.slow = { refusedAt, closed: closed(), hardLimit: DEFAULT_LIMITS.hardLimit };
  accepted[0].destroy();
  srv.close();
}

// --- 2. integrity through sendValue's reused buffers ---
{
  const path = join(dir, "i.sock");
  const { srv, accepted, got } = await server(path);
  const { conn } = await dial(path);
  await until(() => accepted.length === 1, "the accept");
  const value = new Uint8Array(20 * MiB + 5);
  for (let i = 0; i < value.length; i += 4096) crypto.getRandomValues(value.subarray(i, Math.min(i + 4096, value.length)));
  // The server starts reading once the sender has had to wait.
  const sending = sendValue(conn, FrameType.REQ, 1, { op: "copy" }, bytesSource(value));
  await until(() => conn.queued > 4 * MiB, "the queue to pass its room");
  accepted[0].resume();
  const sent = await sending;
  await conn.drained(0);
  conn.close();
  await until(() => accepted[0].readableEnded || accepted[0].destroyed, "the server to see the end");
  const dec = new FrameDecoder(undefined, { streamData: true });
  const h = createHash("sha256");
  let bytes = 0;
  let fin = false;
  for (const b of got[0]) {
    for (const f of dec.push(new Uint8Array(b.buffer, b.byteOffset, b.byteLength))) {
      h.update(f.payload);
      bytes += f.payload.length;
      fin ||= f.fin;
    }
  }
  out.integrity = { sent, bytes, fin, same: h.digest("hex") === createHash("sha256").update(value).digest("hex") };
  srv.close();
}

console.log(JSON.stringify(out));
