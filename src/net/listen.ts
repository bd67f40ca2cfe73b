// Bun.listen as a source of Conns, for unix: and tcp: alike. The server core
// gets a Conn and never learns which transport it came from (it may ask
// conn.transport for the one rule that depends on it: admin rights).

import { chmodSync, existsSync, lstatSync, mkdirSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { ClipError } from "../protocol/errors.ts";
import { type Address, formatAddress } from "./address.ts";
import { type ByteMeter, type Conn, type ConnHandler, DEFAULT_LIMITS, SocketConn } from "./conn.ts";

export interface Listener {
  readonly address: Address;
  /** Stops accepting and removes a unix socket file; closeActive (default) also drops live connections. */
  stop(closeActive?: boolean): void;
}

type BunSocket = Parameters<NonNullable<Parameters<typeof Bun.listen<{ conn: SocketConn }>>[0]["socket"]["data"]>>[0];

export interface ListenOptions {
  tls?: { cert: unknown; key: unknown };
  /** Counts the bytes of every connection accepted here. */
  meter?: ByteMeter;
}

export async function listen(addr: Address, accept: (conn: Conn) => ConnHandler, opts: ListenOptions = {}): Promise<Listener> {
  if (addr.kind === "unix") await prepareUnixPath(addr.path);
  const socket = {
    open(s: BunSocket) {
      const remote = addr.kind === "unix" ? "unix" : `${s.remoteAddress}`;
      // Idle waits are legitimate (clip wait, watches, child links), so idle
      // connections are never cut; keepalive finds the peers that vanished
      // without a FIN (half-open) and frees their slot.
      if (addr.kind === "tcp") s.setKeepAlive?.(true, 30_000);
      const conn = new SocketConn(s, addr.kind, remote, DEFAULT_LIMITS, opts.meter);
      s.data = { conn };
      try {
        conn.handler = accept(conn);
      } catch {
        conn.close("local");
      }
    },
    data(s: BunSocket, chunk: Uint8Array) {
      s.data.conn.onData(chunk);
    },
    drain(s: BunSocket) {
      s.data.conn.onDrain();
    },
    close(s: BunSocket) {
      s.data?.conn.onClose();
    },
    error(s: BunSocket) {
      s.data?.conn.onClose();
    },
  };
  let server: { stop(closeActive?: boolean): void; port?: number };
  try {
    if (addr.kind === "unix") {
      server = Bun.listen<{ conn: SocketConn }>({ unix: addr.path, socket });
      chmodSync(addr.path, 0o600);
    } else {
      server = Bun.listen<{ conn: SocketConn }>({ hostname: addr.host, port: addr.port, socket, tls: opts.tls as never });
    }
  } catch (e) {
    // Bun's message names no cause; these are the usual ones.
    const hint =
      addr.kind === "tcp"
        ? " (is the port in use, or the address not on this machine?)"
        : Buffer.byteLength(addr.path) > 103
          ? ` (the path is ${Buffer.byteLength(addr.path)} bytes; unix socket paths are limited to about 104)`
          : "";
    throw new ClipError("INTERNAL", `cannot listen on ${formatAddress(addr)}: ${(e as Error).message}${hint}`, { cause: e });
  }
  const bound: Address = addr.kind === "tcp" ? { ...addr, port: server.port ?? addr.port } : addr;
  return {
    address: bound,
    stop(closeActive = true) {
      server.stop(closeActive);
      if (addr.kind === "unix") {
        try {
          unlinkSync(addr.path);
        } catch {}
      }
    },
  };
}

/**
 * Creates the socket's folder (0700) and clears a stale socket file, but
 * refuses to take over a socket that a live server still answers on.
 */
export async function prepareUnixPath(path: string): Promise<void> {
  const dir = dirname(path);
  if (!existsSync(dir)) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new ClipError("INTERNAL", `cannot create the socket folder ${dir}: ${(e as Error).message}`, { cause: e });
    }
  }
  if (!existsSync(path)) return;
  // Only a socket may be replaced: a typo in --socket must not delete a file.
  if (!lstatSync(path).isSocket()) throw new ClipError("USAGE", `${path} exists and is not a socket; refusing to replace it (pick another --socket)`);
  const live = await Bun.connect({ unix: path, socket: { data() {} } }).then(
    (s) => {
      s.end();
      return true;
    },
    () => false,
  );
  if (live) throw new ClipError("USAGE", `a server is already running on ${path} (stop it first, or use --socket for a second one)`);
  unlinkSync(path);
}
