// The X11 clipboard through xsel, when xclip is not installed: text only
// (xsel has no notion of targets), and changes found by polling a hash of
// the text, since xsel gives no events and the bridge does not assume the
// XFIXES client works where the packaged tools are this sparse.

import { type DesktopBackend, POLL_MS, pollTicks, textFingerprint, type Tick, untilHeld } from "./backend.ts";
import { run } from "./exec.ts";
import { isPlainText, TEXT_UTF8 } from "./types.ts";

export interface XselOptions {
  display: string;
  env?: Record<string, string | undefined>;
  pollMs?: number;
}

export function xselBackend(o: XselOptions): DesktopBackend {
  const env = { ...(o.env ?? process.env), DISPLAY: o.display };
  const read = (_type: string, max: number, keep?: boolean) => run(["xsel", "--clipboard", "--output"], { env, max, keep, timeoutMs: 15_000 });
  // An empty clipboard and one with no owner look alike to xsel: both offer nothing.
  const types = async () => {
    const r = await read(TEXT_UTF8, 64 << 20, false);
    return !r.ok || r.size > 0 ? [TEXT_UTF8] : [];
  };
  return {
    name: "x11 (xsel, text only)",
    types,
    read,
    async write(bytes, type) {
      if (!isPlainText(type)) throw new Error(`xsel carries text only, not ${type} (install xclip)`);
      const r = await run(["xsel", "--clipboard", "--input"], { env, input: bytes, timeoutMs: 10_000, detach: true });
      if (!r.ok) throw new Error(`xsel: ${r.detail}`);
      return untilHeld({ types: async () => [TEXT_UTF8], read }, TEXT_UTF8, bytes, () => true, "xsel");
    },
    async clear() {
      await run(["xsel", "--clipboard", "--clear"], { env, timeoutMs: 10_000, detach: true });
    },
    watch(signal): AsyncIterable<Tick> {
      return pollTicks(textFingerprint(read), o.pollMs ?? POLL_MS, signal);
    },
    close() {},
  };
}
