// The cluster token is proved, never sent: the server offers a nonce, the
// client answers with HMAC(token, "clip-client" | snonce | cnonce) and the
// server proves itself back with HMAC(token, "clip-server" | cnonce | snonce),
// so neither side learns anything from a peer that does not hold the token.
// Both sides compute these, so they live here, below client and server.

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export function nonce(): string {
  return randomBytes(16).toString("hex");
}

export function clientProof(token: string, snonce: string, cnonce: string): string {
  return createHmac("sha256", token).update(`clip-client|${snonce}|${cnonce}`).digest("hex");
}

export function serverProof(token: string, snonce: string, cnonce: string): string {
  return createHmac("sha256", token).update(`clip-server|${cnonce}|${snonce}`).digest("hex");
}

export function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

