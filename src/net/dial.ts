// Bun.connect as a source of Conns, for unix: and tcp: alike.

import { ClipError } from "../protocol/errors.ts";
import { type Address, formatAddress } from "./address.ts";
import { type Conn, type ConnHandler, SocketConn } from "./conn.ts";

export interface DialOptions {
  tls?: { ca?: unknown } | boolean;
  /** Give up connecting after this many ms. */
  timeoutMs?: number;
}

/**
 * Connects and wires the handler that `attach` returns. `attach` runs before
 * any byte can arrive, so nothing is lost between connect and setup.
 */
export async function dial(addr: Address, attach: (conn: Conn) => ConnHandler, opts: DialOptions = {}): Promise<Conn> {
  let conn: SocketConn | null = null;
  type S = { conn: SocketConn };
  const socket = {
    data(s: { data: S }, chunk: Uint8Array) {
      s.data?.conn.onData(chunk);
    },
    drain(s: { data: S }) {
      s.data?.conn.onDrain();
    },
    close(s: { data: S }) {
      s.data?.conn.onClose();
    },
    error(s: { data: S }) {
      s.data?.conn.onClose();
    },
    open(s: { data: S; write(d: Uint8Array): number; end(): void; pause?(): void; resume?(): void; setKeepAlive?(on: boolean, ms: number): boolean }) {
      // A parent or server that vanished without a FIN is found, not waited on forever.
      if (addr.kind === "tcp") s.setKeepAlive?.(true, 30_000);
      conn = new SocketConn(s, addr.kind, formatAddress(addr));
      s.data = { conn };
      conn.handler = attach(conn);
    },
    connectError() {},
  };
  const connecting =
    addr.kind === "unix"
      ? Bun.connect<S>({ unix: addr.path, socket: socket as never })
      : Bun.connect<S>({ hostname: addr.host, port: addr.port, socket: socket as never, tls: opts.tls as never });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    if (opts.timeoutMs) timer = setTimeout(() => reject(new ClipError("NOSERVER", `no answer from ${formatAddress(addr)} within ${opts.timeoutMs} ms`)), opts.timeoutMs);
  });
  try {
    await Promise.race([connecting, timeout]);
  } catch (e) {
    if (e instanceof ClipError) throw e;
    throw noServer(addr, e);
  } finally {
    clearTimeout(timer);
  }
  if (!conn) throw noServer(addr, null);
  return conn;
}

function noServer(addr: Address, cause: unknown): ClipError {
  const hint = addr.kind === "unix" ? " (is `clip serve` running? start one, or pass --server)" : "";
  return new ClipError("NOSERVER", `no server at ${formatAddress(addr)}${hint}`, { cause });
}
