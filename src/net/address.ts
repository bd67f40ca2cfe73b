// Addresses as users write them (SPEC "Addresses"), parsed once into a union
// that the dialer and listener switch on.

import { ClipError } from "../protocol/errors.ts";

export type Address = { kind: "unix"; path: string } | { kind: "tcp"; host: string; port: number };

export function parseAddress(raw: string): Address {
  const s = raw.trim();
  if (s.startsWith("unix:")) {
    const path = s.slice(5);
    if (!path) throw bad(raw, "unix: needs a path");
    return { kind: "unix", path };
  }
  if (s.startsWith("tcp:")) return parseHostPort(s.slice(4), raw);
  if (s.includes("/")) return { kind: "unix", path: s };
  return parseHostPort(s, raw);
}

function parseHostPort(s: string, raw: string): Address {
  let host: string;
  let portText: string;
  if (s.startsWith("[")) {
    const end = s.indexOf("]");
    if (end < 0 || s[end + 1] !== ":") throw bad(raw, "expected [ipv6]:port");
    host = s.slice(1, end);
    portText = s.slice(end + 2);
  } else {
    const colon = s.lastIndexOf(":");
    if (colon <= 0) throw bad(raw, "expected host:port, tcp:host:port or unix:/path");
    host = s.slice(0, colon);
    portText = s.slice(colon + 1);
    if (host.includes(":")) throw bad(raw, "write IPv6 addresses as [::1]:port");
  }
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535) throw bad(raw, "the port must be 0 to 65535");
  if (!host) throw bad(raw, "missing host");
  return { kind: "tcp", host, port: Number(portText) };
}

function bad(raw: string, why: string): ClipError {
  return new ClipError("USAGE", `bad address ${JSON.stringify(raw)}: ${why}`);
}

export function formatAddress(a: Address): string {
  if (a.kind === "unix") return `unix:${a.path}`;
  return a.host.includes(":") ? `tcp:[${a.host}]:${a.port}` : `tcp:${a.host}:${a.port}`;
}

/** SPEC: $CLIP_SOCKET, else $XDG_RUNTIME_DIR/clip/clip.sock, else /tmp/clip-<uid>/clip.sock. */
export function defaultSocketPath(env: Record<string, string | undefined> = process.env): string {
  if (env.CLIP_SOCKET) return env.CLIP_SOCKET;
  if (env.XDG_RUNTIME_DIR) return `${env.XDG_RUNTIME_DIR}/clip/clip.sock`;
  const uid = typeof process.getuid === "function" ? process.getuid() : 0;
  return `/tmp/clip-${uid}/clip.sock`;
}

/** The address a client command talks to: --server, $CLIP_SERVER, else the default socket. */
export function clientAddress(flag?: string, env: Record<string, string | undefined> = process.env): Address {
  const raw = flag ?? env.CLIP_SERVER;
  return raw ? parseAddress(raw) : { kind: "unix", path: defaultSocketPath(env) };
}
