// OSC 52: asking the terminal a person types in to set its clipboard, for
// sessions without a display (over SSH). The sequence goes to the
// controlling terminal (/dev/tty), not stdout, so it works in a pipeline;
// inside tmux or screen it is wrapped so that they pass it to the outer
// terminal. Terminals cap what they accept (xterm ~100 kB, others less):
// over --osc52-max nothing is sent rather than something cut.

import { closeSync, openSync, writeSync } from "node:fs";
import type { Message } from "../client/mux.ts";
import { ClipError } from "../protocol/errors.ts";
import { collect } from "../value/sink.ts";
import type { DesktopBackend, Tick } from "./backend.ts";
import { digest } from "./exec.ts";

export const OSC52_MAX = 100_000;

const ESC = "\x1b";
const BEL = "\x07";
const ST = `${ESC}\\`;

export type Multiplexer = "tmux" | "screen" | null;

export function multiplexer(env: Record<string, string | undefined>): Multiplexer {
  if (env.TMUX) return "tmux";
  if (env.STY) return "screen";
  return null;
}

/** The bytes to write to the terminal to make `value` its clipboard's content (empty: clear it). */
export function osc52Sequence(value: Uint8Array, mux: Multiplexer): string {
  // xterm clears the selection when the data is not base64: "!" says so on purpose.
  const data = value.length ? Buffer.from(value).toString("base64") : "!";
  const seq = `${ESC}]52;c;${data}${BEL}`;
  if (mux === "tmux") {
    // DCS passthrough: every ESC inside is doubled (tmux needs allow-passthrough on, or set-clipboard).
    return `${ESC}Ptmux;${seq.replaceAll(ESC, ESC + ESC)}${ST}`;
  }
  if (mux === "screen") {
    // screen drops a DCS string over 768 bytes: the sequence goes out in pieces, each its own DCS.
    const parts: string[] = [];
    for (let i = 0; i < seq.length; i += 76) parts.push(`${ESC}P${seq.slice(i, i + 76)}${ST}`);
    return parts.join("");
  }
  return seq;
}

export interface Osc52Options {
  max?: number;
  env?: Record<string, string | undefined>;
  /** The controlling terminal; a test may point it elsewhere. */
  tty?: string;
}

/** Opens the controlling terminal for writing, or says there is none (exit 1). */
function openTty(path: string): number {
  try {
    return openSync(path, "w");
  } catch (e) {
    throw new ClipError("UNAVAILABLE", `no controlling terminal to send OSC 52 to (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): run it in the terminal whose clipboard you want`);
  }
}

/** Sends `value` to the terminal's clipboard; over the limit or with no terminal: exit 1, nothing written. */
export function sendOsc52(value: Uint8Array, o: Osc52Options = {}): void {
  const max = o.max ?? OSC52_MAX;
  if (value.length > max) throw new ClipError("TOOBIG", `${value.length} bytes is over --osc52-max ${max}: nothing sent to the terminal`);
  const fd = openTty(o.tty ?? "/dev/tty");
  try {
    const bytes = Buffer.from(osc52Sequence(value, multiplexer(o.env ?? process.env)), "latin1");
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
  } finally {
    closeSync(fd);
  }
}

/** Fails now (exit 1) when there is no controlling terminal, rather than at the first write. */
export function checkTty(tty = "/dev/tty"): void {
  closeSync(openTty(tty));
}

/**
 * `clip paste R --osc52`: a stored value to the terminal's clipboard. The
 * terminal is looked for before the server is asked, and a value over the
 * limit is refused from its announced size, before a byte of it is read:
 * either way exit 1 and nothing written.
 */
export async function pasteToTerminal(open: () => Promise<Message & { done(): void }>, what: string, o: Osc52Options = {}): Promise<void> {
  const max = o.max ?? OSC52_MAX;
  checkTty(o.tty);
  const m = await open();
  let value: Uint8Array;
  try {
    const size = typeof m.meta.size === "number" ? m.meta.size : undefined;
    if (size !== undefined && size > max) throw new ClipError("TOOBIG", `${what} is ${size} bytes, over --osc52-max ${max}: nothing sent to the terminal`);
    value = await collect(m.body, size);
  } finally {
    m.done();
  }
  sendOsc52(value, { ...o, max });
}

/**
 * The terminal's clipboard as a desktop for the bridge, one way: it can be
 * set, not read (most terminals refuse OSC 52 reads), so it remembers the
 * fingerprint of what it sent, for the bridge's "already there" and expiry
 * checks.
 */
export function osc52Backend(o: Osc52Options = {}): DesktopBackend {
  let last: string | null = null;
  return {
    name: `terminal (OSC 52${multiplexer(o.env ?? process.env) ? ` through ${multiplexer(o.env ?? process.env)}` : ""})`,
    types: async () => [],
    read: async () => ({ ok: false, why: "failed", detail: "a terminal's clipboard cannot be read" }),
    async write(bytes) {
      sendOsc52(bytes, o);
      last = digest(bytes);
      return last;
    },
    async clear() {
      sendOsc52(new Uint8Array(0), o);
      last = "";
    },
    async *watch(signal): AsyncIterable<Tick> {
      await new Promise((r) => signal.addEventListener("abort", r, { once: true }));
    },
    close() {},
    held: () => last,
  };
}
