// How a sealed value begins: the 8-byte magic, and the test for it. Apart
// from ./seal.ts because readers ask it of every value they get, and must
// not load node:crypto to learn that a value is plain (most are).

/** "\x89clip\r\n\x1a": a high byte and a CRLF that text conversion would damage, after PNG. */
export const SEAL_MAGIC = Uint8Array.of(0x89, 0x63, 0x6c, 0x69, 0x70, 0x0d, 0x0a, 0x1a);

/** True when these first bytes of a value (at least 8 of them) begin a sealed value. */
export function isSealed(firstBytes: Uint8Array): boolean {
  if (firstBytes.length < SEAL_MAGIC.length) return false;
  for (let i = 0; i < SEAL_MAGIC.length; i++) if (firstBytes[i] !== SEAL_MAGIC[i]) return false;
  return true;
}
