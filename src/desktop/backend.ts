// What the bridge needs of a desktop clipboard, whichever program reaches it
// (wl-clipboard, xclip, xsel, pbcopy): list the offered types, read one type
// whole, put a value, clear, and say when the content changed.

import { digest, type RunResult } from "./exec.ts";
import { chooseType, TEXT_UTF8 } from "./types.ts";

/**
 * A change signal. `fresh`: a new selection was made for certain (an X11
 * owner event, a Wayland offer), even if its bytes equal the last ones;
 * not fresh: it may have changed (a poll, a watcher that just started), and
 * the bridge compares the content with what it last saw.
 */
export interface Tick {
  fresh: boolean;
}

export interface DesktopBackend {
  /** For logs: "wayland (wl-clipboard)", "x11 (xclip)". */
  readonly name: string;
  /** The types the clipboard offers now; [] when nothing owns it. */
  types(): Promise<string[]>;
  /** The clipboard's content as `type`, whole or not at all (with `keep` false, only its digest and size). */
  read(type: string, max: number, keep?: boolean): Promise<RunResult>;
  /**
   * Puts a value on the clipboard; resolves once an application can paste
   * it, with the fingerprint of what the clipboard serves (read back, as a
   * desktop may re-encode). Throws if it could not.
   */
  write(bytes: Uint8Array, type: string): Promise<string>;
  /** Leaves the clipboard holding nothing. */
  clear(): Promise<void>;
  /**
   * Ticks until `signal` aborts; throws when the watching program dies (the
   * bridge logs it and watches again). The first tick, not fresh, says that
   * it is watching (Wayland: once the clipboard holds something).
   */
  watch(signal: AbortSignal): AsyncIterable<Tick>;
  close(): void;
  /** For a desktop that cannot be read (OSC 52): the fingerprint of what it last put there. */
  held?(): string | null;
}

/**
 * How often a desktop without change events is polled, per program a poll
 * starts. Each program started costs about 5 ms of CPU (ours and its own,
 * measured by bench/desktop.ts): one a second keeps an idle bridge under 1%
 * of a core, and a copy still shows up within a second or two.
 */
export const POLL_MS = 1000;

export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

/**
 * Ticks from polling a fingerprint of the clipboard (its types and a hash
 * of the content): for desktops that give no change event. A copy of bytes
 * equal to the last ones is not seen this way.
 */
export async function* pollTicks(fingerprint: () => Promise<string>, everyMs: number, signal: AbortSignal): AsyncIterable<Tick> {
  let last = await fingerprint();
  yield { fresh: false }; // watching from here on
  while (!signal.aborted) {
    await sleep(everyMs, signal);
    if (signal.aborted) return;
    const now = await fingerprint();
    if (now !== last) {
      last = now;
      yield { fresh: false };
    }
  }
}

/** For a text-only clipboard (pbpaste, xsel): a hash of its text, or why it could not be read. */
export function textFingerprint(read: DesktopBackend["read"]): () => Promise<string> {
  return async () => {
    const r = await read(TEXT_UTF8, 64 << 20, false);
    return r.ok ? r.digest : r.why;
  };
}

/** For a poll: the offered types, and a hash of the content the bridge would fetch (up to 1 MiB). */
export function contentFingerprint(b: Pick<DesktopBackend, "types" | "read">): () => Promise<string> {
  return async () => {
    const t = await b.types();
    const chosen = chooseType(t);
    if (!chosen) return t.join(",");
    const r = await b.read(chosen, 1 << 20, false);
    return `${t.join(",")}|${r.ok ? r.digest : r.why}`;
  };
}

/** Ticks from a watcher program printing one line per change; throws when it exits. */
export async function* lineTicks(proc: ReturnType<typeof Bun.spawn>, what: string, signal: AbortSignal, first: Tick = { fresh: false }): AsyncIterable<Tick> {
  const stop = () => proc.kill();
  signal.addEventListener("abort", stop, { once: true });
  try {
    let pending = first;
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
      // One line per change; several lines in one chunk are one burst, one tick.
      if (!chunk.includes(10)) continue;
      yield pending;
      pending = { fresh: true };
    }
    await proc.exited;
    if (!signal.aborted) throw new Error(`${what} exited (${proc.exitCode ?? proc.signalCode})`);
  } finally {
    signal.removeEventListener("abort", stop);
    if (proc.exitCode === null && proc.signalCode === null) proc.kill();
  }
}

/** Someone copied while the bridge was putting a value on the desktop: theirs wins, and is not an error. */
export class Superseded extends Error {
  constructor() {
    super("another copy took the clipboard first");
  }
}

/**
 * Waits until the clipboard serves `bytes` as `target`, and returns their
 * fingerprint: the programs that take the clipboard (xclip, wl-copy) say
 * nothing when they hold it, and a previous owner may offer the same
 * target, so the content is checked.
 */
export async function untilHeld(
  b: Pick<DesktopBackend, "types" | "read">,
  target: string,
  bytes: Uint8Array,
  /** True while the program holding the value runs; else "superseded" (it lost the clipboard to another copy) or how it ended. */
  alive: () => true | "superseded" | string,
  what: string,
  withinMs = 5000,
): Promise<string> {
  const want = digest(bytes);
  const deadline = Date.now() + withinMs;
  let pause = 2;
  while (Date.now() < deadline) {
    const a = alive();
    if (a === "superseded") throw new Superseded();
    if (a !== true) throw new Error(`${what} ended (${a}) before holding the clipboard`);
    if ((await b.types()).includes(target)) {
      const r = await b.read(target, bytes.length, false);
      // Read back and compared in one step: a copy made just after cannot be taken for ours.
      if (r.ok && r.digest === want) return want;
    }
    await sleep(pause);
    pause = Math.min(pause * 2, 50);
  }
  throw new Error(`${what} did not take the clipboard within ${withinMs / 1000} s`);
}
