// Connections out, for unix: and tcp: (and TLS) alike: Bun.connect under
// Bun, node:net and node:tls (node.ts) when the library runs under Node.
// Both make the same SocketConn; this file also owns what a failed dial says.

import { ClipError } from "../protocol/errors.ts";
import { type Address, formatAddress } from "./address.ts";
import { type Conn, type ConnHandler, SocketConn } from "./conn.ts";

export interface DialOptions {
  /** TLS over tcp: `true` trusts the system's CAs, `caFile` those of a PEM file. */
  tls?: { caFile: string } | true;
  /** Give up connecting after this many ms. */
  timeoutMs?: number;
}

/**
 * Connects and wires the handler that `attach` returns. `attach` runs before
 * any byte can arrive, so nothing is lost between connect and setup.
 */
export async function dial(addr: Address, attach: (conn: Conn) => ConnHandler, opts: DialOptions = {}): Promise<Conn> {
  const quit = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    if (!opts.timeoutMs) return;
    timer = setTimeout(() => {
      const e = new ClipError("NOSERVER", `no answer from ${formatAddress(addr)} within ${opts.timeoutMs} ms`);
      quit.abort(e);
      reject(e);
    }, opts.timeoutMs);
  });
  try {
    // node.ts is loaded only under Node: Bun's start-up never pays for node:net and node:tls.
    const opening = typeof Bun === "undefined" ? import("./node.ts").then((m) => m.openNode(addr, attach, opts.tls, quit.signal)) : openBun(addr, attach, opts.tls);
    opening.catch(() => {}); // a close after a timeout must not surface as an unhandled rejection
    return await Promise.race([opening, timeout]);
  } catch (e) {
    if (e instanceof ClipError) throw e;
    if (opts.tls) throw new ClipError("NOSERVER", `no TLS server at ${formatAddress(addr)}, or its certificate is not trusted (check --tls-ca)`, { cause: e });
    throw noServer(addr, e);
  } finally {
    clearTimeout(timer);
  }
}

function openBun(addr: Address, attach: (conn: Conn) => ConnHandler, tls: DialOptions["tls"]): Promise<Conn> {
  type S = { conn: SocketConn };
  // With TLS, Bun may resolve connect() before open() runs (open waits for the
  // handshake): the Conn exists only once open has run, so wait for it.
  let opened: (conn: Conn) => void = () => {};
  let refused: (e: unknown) => void = () => {};
  const open = new Promise<Conn>((resolve, reject) => {
    opened = resolve;
    refused = reject;
  });
  // Both connect() and connectError can fail the dial: the one that loses must not surface as an unhandled rejection.
  open.catch(() => {});
  const socket = {
    data(s: { data: S }, chunk: Uint8Array) {
      s.data?.conn.onData(chunk);
    },
    drain(s: { data: S }) {
      s.data?.conn.onDrain();
    },
    close(s: { data: S }) {
      s.data?.conn.onClose();
      refused(new Error("closed before the connection opened (a TLS handshake refused?)"));
    },
    error(s: { data: S }, e?: unknown) {
      s.data?.conn.onClose();
      refused(e);
    },
    open(s: { data: S; write(d: Uint8Array): number; end(): void; pause?(): void; resume?(): void; setKeepAlive?(on: boolean, ms: number): boolean }) {
      // A parent or server that vanished without a FIN is found, not waited on forever.
      if (addr.kind === "tcp") s.setKeepAlive?.(true, 30_000);
      const conn = new SocketConn(s, addr.kind, formatAddress(addr));
      s.data = { conn };
      conn.handler = attach(conn);
      opened(conn);
    },
    connectError(_s: unknown, e?: unknown) {
      refused(e);
    },
  };
  const bunTls = tls === true ? true : tls ? { ca: Bun.file(tls.caFile) } : undefined;
  const connecting =
    addr.kind === "unix"
      ? Bun.connect<S>({ unix: addr.path, socket: socket as never })
      : Bun.connect<S>({ hostname: addr.host, port: addr.port, socket: socket as never, tls: bunTls as never });
  return connecting.then(() => open);
}

function noServer(addr: Address, cause: unknown): ClipError {
  const hint = addr.kind === "unix" ? " (is `clip serve` running? start one, or pass --server)" : "";
  return new ClipError("NOSERVER", `no server at ${formatAddress(addr)}${hint}`, { cause });
}
