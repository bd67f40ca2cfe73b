// The line interface shared by `clip shell` and `clip chat`: node:readline
// for editing and history at a terminal, plain lines otherwise, and output
// that can arrive at any moment (watch events, chat lines) without
// trampling what the user is typing. Only these two commands import it, so
// readline never slows the others.

import { createInterface, cursorTo, moveCursor, clearScreenDown, type Interface } from "node:readline";
import { isatty } from "node:tty";
import { out } from "./output.ts";

export interface LineUI {
  readonly interactive: boolean;
  /** Prints a line of output; at a terminal, above the prompt and the half-typed line. */
  print(text: string): Promise<void>;
  /** Same, on stderr (messages, not data). */
  note(text: string): void;
  prompt(): void;
  /** Stops reading input for a while (backpressure); safe after close. */
  pause(): void;
  resume(): void;
  readonly closed: boolean;
  /** Removes the line just typed from the screen (chat echoes it back itself). */
  eraseTyped(line: string): void;
  close(): void;
  readonly rl: Interface;
}

export interface LineUIOptions {
  prompt: string;
  /** Earlier lines for the up arrow, oldest first. */
  history?: string[];
  completer?: (line: string) => [string[], string];
}

export function lineUI(opts: LineUIOptions): LineUI {
  const interactive = isatty(0) && isatty(1);
  const rl = createInterface({
    input: process.stdin,
    output: interactive ? process.stdout : undefined,
    terminal: interactive,
    prompt: opts.prompt,
    historySize: 1000,
    history: interactive ? [...(opts.history ?? [])].reverse() : [],
    removeHistoryDuplicates: true,
    completer: interactive ? opts.completer : undefined,
  } as Parameters<typeof createInterface>[0]);
  const cols = () => process.stdout.columns || 80;
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
  // The prompt is on screen from prompt() until the user hits enter; output
  // printed meanwhile goes above it, output printed while a command runs
  // simply follows.
  let showing = false;
  rl.on("line", () => {
    showing = false;
  });
  // readline throws on use after close; input can end at any moment.
  let closed = false;
  rl.on("close", () => {
    closed = true;
    showing = false;
  });
  // stdout writes are serialised so that lines keep their order even when a
  // write has to wait (a full pipe).
  let chain: Promise<void> = Promise.resolve();
  return {
    interactive,
    rl,
    print(text) {
      if (!interactive) {
        chain = chain.then(() => out(`${text}\n`));
        return chain;
      }
      clearPrompt();
      process.stdout.write(`${text}\n`);
      redraw();
      return Promise.resolve();
    },
    note(text) {
      if (!interactive) {
        process.stderr.write(`${text}\n`);
        return;
      }
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
      if (!interactive || closed) return;
      showing = true;
      rl.prompt();
    },
    eraseTyped(line) {
      if (!interactive) return;
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
