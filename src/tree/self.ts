// Whether a --connect address is this server's own listener: a server told
// to be its own parent would dial itself forever. What can be proved before
// dialing is checked at start-up (the same unix path; a TCP port we listen
// on, at an address that resolves to where we listen: the same IP, or any
// of this machine's when we listen on a wildcard); anything else (a name
// that resolves elsewhere, a port forwarded back to us) is caught at run
// time by the server id in the handshake (upstream.ts).

import { lookup } from "node:dns/promises";
import { networkInterfaces } from "node:os";
import { resolve } from "node:path";
import { type Address, parseAddress } from "../net/address.ts";

const WILDCARD = new Set(["0.0.0.0", "::", ""]);

/** Loopback addresses all reach a wildcard listener; an IPv4-mapped IPv6 address is its IPv4 one. */
const canon = (ip: string) => ip.replace(/^::ffff:(?=\d+\.)/i, "").replace(/^\[|\]$/g, "").toLowerCase();
const isLoopback = (ip: string) => ip === "::1" || /^127\./.test(ip);

/** This machine's own IP addresses (every interface, loopback included). */
function ownIps(): Set<string> {
  const out = new Set<string>(["127.0.0.1", "::1"]);
  for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) out.add(canon(i.address));
  return out;
}

/** The IPs a host name or literal stands for; none if it does not resolve (then nothing is proved). */
async function ipsOf(host: string): Promise<string[]> {
  const h = canon(host);
  if (/^[0-9.]+$/.test(h) || h.includes(":")) return [h];
  try {
    return (await lookup(h, { all: true })).map((a) => canon(a.address));
  } catch {
    return [];
  }
}

/**
 * The listener of ours that `connect` provably reaches, or null. `own` are
 * the addresses this server listens on, bound (port 0 resolved).
 */
export async function ownListener(connect: string, own: readonly Address[]): Promise<Address | null> {
  let a: Address;
  try {
    a = parseAddress(connect);
  } catch {
    return null; // a bad address is reported where it is dialed
  }
  if (a.kind === "unix") return own.find((l) => l.kind === "unix" && resolve(l.path) === resolve(a.path)) ?? null;
  const target = a;
  const samePort = own.filter((l): l is Extract<Address, { kind: "tcp" }> => l.kind === "tcp" && l.port === target.port);
  if (samePort.length === 0) return null;
  // Dialing a wildcard address reaches this machine's loopback.
  const ips = (await ipsOf(target.host)).map((ip) => (ip === "0.0.0.0" ? "127.0.0.1" : ip === "::" ? "::1" : ip));
  const mine = ownIps();
  for (const l of samePort) {
    const host = canon(l.host);
    if (WILDCARD.has(host)) {
      if (ips.some((ip) => mine.has(ip) || isLoopback(ip))) return l;
    } else if ((await ipsOf(host)).some((at) => ips.includes(at))) return l;
  }
  return null;
}
