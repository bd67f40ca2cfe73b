// The macOS pasteboard through pbcopy/pbpaste. They carry text only
// (pbpaste prints the plain-text flavour; pbcopy stores what it reads as
// text), so images stay on their side. macOS gives no change event to a
// command-line program: the pasteboard's text is polled and hashed, and a
// change of hash is what NSPasteboard's changeCount would have told us,
// except that a re-copy of equal text goes unseen.

import { type DesktopBackend, POLL_MS, pollTicks, textFingerprint, type Tick } from "./backend.ts";
import { digest, run } from "./exec.ts";
import { isPlainText, TEXT_UTF8 } from "./types.ts";

export interface MacosOptions {
  pollMs?: number;
  env?: Record<string, string | undefined>;
}

export function macosBackend(o: MacosOptions = {}): DesktopBackend {
  // pbcopy and pbpaste pick their encoding from the locale: UTF-8 whatever the session says.
  const env = { ...(o.env ?? process.env), LANG: "en_US.UTF-8", LC_CTYPE: "UTF-8" };
  const read = (_type: string, max: number, keep?: boolean) => run(["pbpaste", "-Prefer", "txt"], { env, max, keep, timeoutMs: 15_000 });
  return {
    name: "macos (pbcopy/pbpaste, text only)",
    async types() {
      const r = await read(TEXT_UTF8, 64 << 20, false);
      return !r.ok || r.size > 0 ? [TEXT_UTF8] : [];
    },
    read,
    async write(bytes, type) {
      if (!isPlainText(type)) throw new Error(`pbcopy carries text only, not ${type}`);
      const r = await run(["pbcopy"], { env, input: bytes, max: 4096, timeoutMs: 10_000 });
      if (!r.ok) throw new Error(`pbcopy: ${r.detail}`);
      // pbcopy converts from the locale's encoding: what pbpaste gives back is what the pasteboard holds.
      const back = await read(TEXT_UTF8, bytes.length * 4 + 16, false);
      return back.ok ? back.digest : digest(bytes);
    },
    async clear() {
      const r = await run(["pbcopy"], { env, input: new Uint8Array(0), max: 4096, timeoutMs: 10_000 });
      if (!r.ok) throw new Error(`pbcopy: ${r.detail}`);
    },
    watch(signal): AsyncIterable<Tick> {
      return pollTicks(textFingerprint(read), o.pollMs ?? POLL_MS, signal);
    },
    close() {},
  };
}
