// The line interface shared by `clip shell` and `clip chat`: node:readline
// for editing and history at a terminal, a plain line splitter over stdin
// otherwise (scripts, pipes), and output that can arrive at any moment
// (watch events, chat lines) without trampling what the user is typing.
// Only these two commands import it, so readline never slows the others.

import { type Interface, clearScreenDown, createInterface, cursorTo, moveCursor } from "node:readline";
import { isatty } from "node:tty";
import { out } from "./output.ts";

export interface LineUI {
  readonly interactive: boolean;
  /** Input: each line (without its newline), the end of input, Ctrl-C at a terminal. */
  on(event: "line", fn: (line: string) => void): void;
  on(event: "close" | "interrupt", fn: () => void): void;
  /** Starts reading input: call once the handlers are in place. */
  start(): void;
  /** Prints a line of output; at a terminal, above the prompt and the half-typed line. */
  print(text: string): Promise<void>;
  /** Same, on stderr (messages, not data). */
  note(text: string): void;
  prompt(): void;
  /** Drops the half-typed line (Ctrl-C at an idle prompt). */
  clearLine(): void;
  /** Stops reading input for a while (backpressure); safe after close. */
  pause(): void;
  resume(): void;
  readonly closed: boolean;
  /** Removes the line just typed from the screen (chat echoes it back itself). */
  eraseTyped(line: string): void;
  close(): void;
}

export interface LineUIOptions {
  prompt: string;
  /** Earlier lines for the up arrow, oldest first. */
  history?: string[];
  completer?: (line: string) => [string[], string];
}

/** Longest input line kept from a pipe; longer ones are reported and skipped. */
export const MAX_INPUT_LINE = 16 << 20;

export function lineUI(opts: LineUIOptions): LineUI {
  return isatty(0) && isatty(1) ? terminalUI(opts) : pipeUI();
}

type Handlers = { line: ((l: string) => void)[]; close: (() => void)[]; interrupt: (() => void)[] };

function terminalUI(opts: LineUIOptions): LineUI {
  const rl: Interface = createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: true,
    prompt: opts.prompt,
    historySize: 1000,
    history: [...(opts.history ?? [])].reverse(),
    removeHistoryDuplicates: true,
    completer: opts.completer,
  } as Parameters<typeof createInterface>[0]);
  const cols = () => process.stdout.columns || 80;
  // The prompt is on screen from prompt() until the user hits enter; output
  // printed meanwhile goes above it, output printed while a command runs
  // simply follows.
  let showing = false;
  // readline throws on use after close; input can end at any moment.
  let closed = false;
  rl.on("line", () => {
    showing = false;
  });
  rl.on("close", () => {
    closed = true;
    showing = false;
  });
  /** Moves to the start of the prompt and clears from there down. */
  const clearPrompt = () => {
    if (!showing) return;
    const cursorRow = Math.floor((opts.prompt.length + rl.cursor) / cols());
    moveCursor(process.stdout, 0, -cursorRow);
    cursorTo(process.stdout, 0);
    clearScreenDown(process.stdout);
  };
  const redraw = () => {
    if (showing) rl.prompt(true);
  };
  return {
    interactive: true,
    on(event: "line" | "close" | "interrupt", fn: (l: string) => void) {
      rl.on(event === "interrupt" ? "SIGINT" : event, fn);
    },
    start() {},
    print(text) {
      clearPrompt();
      process.stdout.write(`${text}\n`);
      redraw();
      return Promise.resolve();
    },
    note(text) {
      clearPrompt();
      process.stderr.write(`${text}\n`);
      redraw();
    },
    get closed() {
      return closed;
    },
    pause() {
      if (!closed) rl.pause();
    },
    resume() {
      if (!closed) rl.resume();
    },
    prompt() {
      if (closed) return;
      showing = true;
      rl.prompt();
    },
    clearLine() {
      if (!closed) rl.write(null, { ctrl: true, name: "u" });
    },
    eraseTyped(line) {
      const rows = Math.floor((opts.prompt.length + line.length) / cols()) + 1;
      moveCursor(process.stdout, 0, -rows);
      cursorTo(process.stdout, 0);
      clearScreenDown(process.stdout);
    },
    close() {
      if (!closed) rl.close();
    },
  };
}

/**
 * Lines from a pipe or a file, split by us rather than readline: the end
 * of input is then simply the end of the stream, pausing is a gate the
 * reader waits at, and a line without end is bounded.
 */
function pipeUI(): LineUI {
  const h: Handlers = { line: [], close: [], interrupt: [] };
  let closed = false;
  let paused = false;
  let wake: (() => void) | null = null;
  let reader: { read(): Promise<{ value?: Uint8Array; done: boolean }>; cancel(): Promise<void> } | null = null;
  // stdout writes are serialised so that lines keep their order even when a
  // write has to wait (a full pipe).
  let chain: Promise<void> = Promise.resolve();
  const finish = () => {
    if (closed) return;
    closed = true;
    wake?.();
    reader?.cancel().catch(() => {});
    for (const fn of h.close) fn();
  };
  const emit = (line: string) => {
    for (const fn of h.line) fn(line.endsWith("\r") ? line.slice(0, -1) : line);
  };
  const run = async () => {
    const input = Bun.stdin.stream().getReader() as unknown as NonNullable<typeof reader>;
    reader = input;
    const dec = new TextDecoder();
    let buf = "";
    let skipping = false;
    try {
      while (!closed) {
        while (paused && !closed) await new Promise<void>((r) => (wake = r));
        if (closed) break;
        const { value, done } = await input.read();
        if (done || !value) break;
        buf += dec.decode(value, { stream: true });
        let start = 0;
        let nl: number;
        while (!closed && (nl = buf.indexOf("\n", start)) >= 0) {
          if (skipping) skipping = false;
          else emit(buf.slice(start, nl));
          start = nl + 1;
        }
        buf = buf.slice(start);
        if (buf.length > MAX_INPUT_LINE) {
          if (!skipping) process.stderr.write(`clip: an input line is longer than ${MAX_INPUT_LINE >> 20} MiB: skipped\n`);
          skipping = true;
          buf = "";
        }
      }
      buf += dec.decode();
      if (!closed && buf && !skipping) emit(buf);
    } catch {
      // stdin closed under us: the same as its end
    } finally {
      finish();
    }
  };
  return {
    interactive: false,
    on(event: keyof Handlers, fn: (l: string) => void) {
      (h[event] as ((l: string) => void)[]).push(fn);
    },
    start() {
      void run();
    },
    print(text) {
      chain = chain.then(() => out(`${text}\n`));
      return chain;
    },
    note(text) {
      process.stderr.write(`${text}\n`);
    },
    get closed() {
      return closed;
    },
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      const w = wake;
      wake = null;
      w?.();
    },
    prompt() {},
    clearLine() {},
    eraseTyped() {},
    close: finish,
  };
}
