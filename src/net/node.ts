// node:net and node:tls as a source of Conns: the dialer when the library
// runs under Node (dial.ts picks it when there is no Bun). The Conn is the
// same SocketConn as Bun's; this file only makes a Node socket look like a
// Bun one, so the queue, its bounds, coalescing and drain waiting are the
// ones conn.ts keeps.
//
// Node's write() never refuses bytes: it buffers whatever it is given and
// only says "over the high-water mark". Bun's write() takes what the kernel
// takes and leaves the rest to our queue. To keep our queue the one that is
// counted and bounded, a write is handed to Node only when Node holds
// nothing (what it had went to the kernel); otherwise it takes 0 bytes and
// the queue waits for that write's completion, which calls onDrain. So Node
// holds at most one of our writes (a frame, or a coalesced run of small
// frames), and `queued` counts it (`pendingBytes`): a frame's buffer is reused
// once `queued` says it left (net/pool.ts), so it must have left Node too.

import { readFileSync } from "node:fs";
import { type Socket, connect as netConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { type Address, formatAddress } from "./address.ts";
import { type Conn, type ConnHandler, type RawSocket, SocketConn } from "./conn.ts";

class NodeSocket implements RawSocket {
  conn: SocketConn | null = null;

  constructor(private readonly sock: Socket) {}

  write(data: Uint8Array): number {
    if (this.sock.destroyed || !this.sock.writable) return -1;
    if (this.sock.writableLength > 0) return 0;
    this.sock.write(data, this.written);
    return data.length;
  }

  get pendingBytes(): number {
    return this.sock.writableLength;
  }

  /** Node calls this once the write reached the kernel, never within write() itself. */
  private readonly written = (err?: Error | null) => {
    if (!err) this.conn?.onDrain();
  };

  end(): void {
    this.sock.end();
  }

  pause(): void {
    this.sock.pause();
  }

  resume(): void {
    this.sock.resume();
  }
}

/**
 * Opens a connection and wires the handler that `attach` returns before any
 * byte is read. Rejects with the socket's own error (dial.ts says it in our
 * words); `signal` abandons a connection still opening.
 */
export function openNode(addr: Address, attach: (conn: Conn) => ConnHandler, tls: { caFile: string } | true | undefined, signal: AbortSignal): Promise<Conn> {
  return new Promise((resolve, reject) => {
    // The dial's deadline may pass while this module loads: then no socket at all.
    if (signal.aborted) return reject(signal.reason);
    let sock: Socket;
    if (addr.kind === "unix") sock = netConnect({ path: addr.path });
    else if (tls) {
      const ca = tls === true ? undefined : readFileSync(tls.caFile);
      sock = tlsConnect({ host: addr.host, port: addr.port, ca });
    } else sock = netConnect({ host: addr.host, port: addr.port });
    const raw = new NodeSocket(sock);
    const refused = (e: unknown) => reject(e);
    const abandon = () => {
      sock.destroy();
      reject(signal.reason);
    };
    signal.addEventListener("abort", abandon, { once: true });
    sock.on("error", refused);
    sock.once(addr.kind === "tcp" && tls ? "secureConnect" : "connect", () => {
      signal.removeEventListener("abort", abandon);
      sock.off("error", refused);
      if (addr.kind === "tcp") {
        // Requests and replies are small writes: none may wait behind Nagle for an ACK.
        sock.setNoDelay(true);
        // A server that vanished without a FIN is found, not waited on forever.
        sock.setKeepAlive(true, 30_000);
      }
      const conn = new SocketConn(raw, addr.kind, formatAddress(addr));
      raw.conn = conn;
      conn.handler = attach(conn);
      // The close that follows any error tells the Conn; the error itself has nothing more to say.
      sock.on("error", () => {});
      sock.on("close", () => conn.onClose());
      // Node's Buffer slices are views, not copies (unlike Uint8Array's): hand on a plain Uint8Array.
      sock.on("data", (b: Buffer) => conn.onData(new Uint8Array(b.buffer, b.byteOffset, b.byteLength)));
      resolve(conn);
    });
  });
}
