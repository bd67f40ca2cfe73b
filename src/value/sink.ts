// Receiving a value whole: the bytes of a message body gathered into one
// buffer, checked against the length the sender announced.

import { ClipError } from "../protocol/errors.ts";

/** Collects a body; allocates once when the size is known, and refuses a value of another length. */
export async function collect(body: AsyncIterable<Uint8Array>, size?: number): Promise<Uint8Array> {
  if (size !== undefined) {
    const out = new Uint8Array(size);
    let o = 0;
    for await (const c of body) {
      if (o + c.length > size) throw new ClipError("PROTOCOL", "value longer than announced");
      out.set(c, o);
      o += c.length;
    }
    if (o !== size) throw new ClipError("PROTOCOL", `value of ${o} bytes, ${size} announced`);
    return out;
  }
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of body) {
    parts.push(c.slice());
    n += c.length;
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
