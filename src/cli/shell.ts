// clip shell: one connection, many commands. At a terminal it is an
// interactive session (line editing, history, background watches printed
// above the prompt); with stdin from a file or a pipe it runs one command
// per line, for scripts, and exits with the status of the last command
// that failed. Each line is parsed against the command table (line.ts) and
// runs the same body as the CLI's command, given this session's context.

import { appendFileSync, mkdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { type Client, type Message, collect } from "../client/client.ts";
import type { Kv } from "../client/kv.ts";
import { ClipError, asClipError } from "../protocol/errors.ts";
import { type ClientFlags, openClient, secretOf } from "./common.ts";
import type { Ctx, Session } from "./context.ts";
import { Words, completer, parseLine, shellHelp, words } from "./line.ts";
import { lineUI, type LineUI } from "./lineui.ts";
import { dim, humanSize, out, paint } from "./output.ts";
import { asText } from "./render.ts";
import { flagConflict } from "./spec.ts";
import { TABLE } from "./table.ts";

export { words };

/** Dim on stderr: coloured only if stderr is a terminal. */
const dimErr = (s: string) => paint("dim", s, 2);

export interface ShellFlags extends ClientFlags {
  group?: unknown;
  secret?: unknown;
  secretFile?: unknown;
}

function stateDir(): string {
  return process.env.XDG_STATE_HOME ? `${process.env.XDG_STATE_HOME}/clip` : `${homedir()}/.local/state/clip`;
}

/** Values up to this size are shown whole (as text when they are text). */
const SHOW_WHOLE = 16 << 20;

interface Watch {
  id: number;
  what: string;
  stop(): void;
}

class Shell implements Session {
  private client: Client | null = null;
  private kvHandle: Kv | null = null;
  private group: string | undefined;
  private secret: string | undefined;
  private readonly watching = new Map<number, Watch>();
  private nextWatch = 1;
  private quitting = false;
  /** Aborts the command running in the foreground (Ctrl-C). */
  foreground: AbortController | null = null;

  constructor(
    private readonly flags: ShellFlags,
    readonly ui: LineUI,
  ) {
    const g = flags.group ?? process.env.CLIP_GROUP;
    this.group = g !== undefined && g !== true ? String(g) : undefined;
    this.secret = secretOf(flags);
  }

  /** The connection, opened again if the last one was lost. */
  async conn(): Promise<Client> {
    if (this.client && !this.client.closed) return this.client;
    if (this.client) this.ui.note(dimErr("reconnecting…"));
    this.kvHandle = null;
    this.client = await openClient(this.flags, { once: false, name: "shell" });
    return this.client;
  }

  private async kv(): Promise<Kv> {
    const c = await this.conn();
    if (this.kvHandle) return this.kvHandle;
    if (!this.group) throw new ClipError("USAGE", "no group: say `use GROUP SECRET` first (or start with -g G --secret S)");
    this.kvHandle = await c.kv({ group: this.group, secret: this.secret ?? "" });
    return this.kvHandle;
  }

  private async print(text: string): Promise<void> {
    await this.ui.print(text);
  }

  /** Data to stdout: exact bytes in a script, a readable line at a terminal. */
  private async shown(bytes: Uint8Array): Promise<void> {
    const text = asText(bytes);
    if (text === null) {
      if (this.ui.interactive) return this.print(dim(`(binary, ${humanSize(bytes.length)}: use clip paste R > FILE)`));
      return out(bytes);
    }
    await this.print(text.endsWith("\n") ? text.slice(0, -1) : text);
  }

  /**
   * A streamed value: small values are shown as text; a large one is not
   * held whole: it streams to stdout in a script and is declined at a
   * terminal.
   */
  private async streamed(m: Message & { done?(): void }): Promise<void> {
    try {
      const size = typeof m.meta.size === "number" ? m.meta.size : 0;
      if (size <= SHOW_WHOLE) return await this.shown(await collect(m.body, size));
      if (this.ui.interactive) return await this.print(dim(`(${humanSize(size)}: too large to show here; use clip paste R > FILE)`));
      for await (const chunk of m.body) await out(chunk);
    } finally {
      m.done?.();
    }
  }

  /** What a command's body runs with, here (context.ts). */
  private context(signal: AbortSignal): Ctx {
    return {
      interactive: this.ui.interactive,
      signal,
      client: () => this.conn(),
      kv: () => this.kv(),
      // A report ends with a newline; print() gives each line its own.
      write: (d) => (typeof d === "string" ? this.print(d.endsWith("\n") ? d.slice(0, -1) : d) : out(d)),
      value: (m) => this.streamed(m),
      background: (what, start) => this.background(what, start),
      session: this,
    };
  }

  async run(line: string): Promise<"quit" | void> {
    if (new Words(line).peekRaw() === null) return; // blank, or a comment
    const { command, args, flags } = parseLine(TABLE, line);
    const conflict = flagConflict(command, flags);
    if (conflict) throw new ClipError("USAGE", conflict);
    const ctl = new AbortController();
    this.foreground = ctl;
    try {
      await command.run(this.context(ctl.signal), args, flags);
    } finally {
      this.foreground = null;
    }
    // The server takes a deleted or rotated group from the connection that changed it: prove it again on next use.
    if ((command.name === "group delete" || command.name === "group rotate") && args.group === this.group) this.kvHandle = null;
    if (this.quitting) return "quit";
  }

  /** Runs a stream in the background once `start` has set it up; its lines go above the prompt. */
  private async background(what: string, start: (signal: AbortSignal) => Promise<AsyncIterable<string>>): Promise<void> {
    const ctl = new AbortController();
    const lines = await start(ctl.signal);
    const id = this.nextWatch++;
    const tag = dim(`[${id}]`);
    this.watching.set(id, {
      id,
      what,
      stop: () => {
        this.watching.delete(id);
        ctl.abort(new ClipError("LOST", "stopped"));
      },
    });
    this.ui.note(dimErr(`[${id}] ${what}: watching in the background (unwatch ${id} stops it)`));
    (async () => {
      for await (const l of lines) await this.print(`${tag} ${l}`);
    })()
      .catch((e) => {
        if (ctl.signal.aborted) return;
        this.ui.note(`clip: [${id}] ${what} ended: ${asClipError(e).message}`);
      })
      .finally(() => this.watching.delete(id));
  }

  // --- the commands only the shell has (Session) ---

  async use(group: string, secret: string | undefined): Promise<void> {
    this.group = group;
    if (secret !== undefined) this.secret = secret;
    this.kvHandle = null;
    await this.kv(); // prove it now, so a wrong secret shows here
  }

  watches(): Promise<void> {
    if (this.watching.size === 0) return this.print(dim("no watches"));
    return this.print([...this.watching.values()].map((x) => `  ${x.id}  ${x.what}`).join("\n"));
  }

  unwatch(which: string): void {
    const ids = which === "all" ? [...this.watching.keys()] : [Number(which)];
    for (const id of ids) {
      const x = this.watching.get(id);
      if (!x) throw new ClipError("NOTFOUND", `no watch ${which} (see watches)`);
      x.stop();
    }
  }

  help(): Promise<void> {
    return this.print(shellHelp(TABLE));
  }

  quit(): void {
    this.quitting = true;
  }

  close(): void {
    for (const w of this.watching.values()) w.stop();
    this.client?.close();
  }
}

function loadHistory(file: string): string[] {
  try {
    return readFileSync(file, "utf8").split("\n").filter(Boolean).slice(-1000);
  } catch {
    return [];
  }
}

export async function shell(flags: ShellFlags): Promise<void> {
  const histFile = `${stateDir()}/shell_history`;
  const ui = lineUI({ prompt: "clip> ", history: loadHistory(histFile), completer: completer(TABLE) });
  const sh = new Shell(flags, ui);
  let lastFailure = 0;
  let lineNo = 0;
  let quit = false;
  let queued = 0;
  let chain: Promise<void> = Promise.resolve();
  let inputDone!: () => void;
  const inputClosed = new Promise<void>((r) => (inputDone = r));

  const remember = (line: string) => {
    // `use G SECRET` holds a secret: never written to disk.
    if (!ui.interactive || /^\s*use\s/.test(line) || !line.trim()) return;
    try {
      mkdirSync(stateDir(), { recursive: true, mode: 0o700 });
      appendFileSync(histFile, `${line}\n`, { mode: 0o600 });
    } catch {}
  };

  const exec = async (line: string, n: number) => {
    if (quit) return;
    try {
      if ((await sh.run(line)) === "quit") {
        quit = true;
        ui.close();
      }
    } catch (e) {
      const errno = (e as NodeJS.ErrnoException).code;
      if (errno === "EPIPE") throw e; // stdout is gone: main exits quietly
      const err = asClipError(e);
      lastFailure = err.exitCode;
      ui.note(`clip: ${ui.interactive ? "" : `line ${n}: `}${err.message}`);
    }
  };

  ui.on("line", (line: string) => {
    const n = ++lineNo;
    remember(line);
    queued++;
    // Scripts can be long: read ahead only a little.
    if (queued > 32) ui.pause();
    chain = chain
      .then(() => exec(line, n))
      .finally(() => {
        if (--queued <= 8) ui.resume();
        ui.prompt();
      });
  });
  ui.on("close", () => inputDone());
  ui.on("interrupt", () => {
    // Ctrl-C stops the command running (a wait listens for it), or clears the line, as shells do.
    if (sh.foreground) sh.foreground.abort(new ClipError("TIMEOUT", "interrupted"));
    else {
      ui.clearLine();
      process.stdout.write("^C\n");
      ui.prompt();
    }
  });

  if (ui.interactive) {
    try {
      const c = await sh.conn();
      ui.note(dimErr(`connected to ${(await c.ready()).server}; help lists the commands, Ctrl-D leaves`));
    } catch (e) {
      ui.close();
      throw e;
    }
  }
  ui.start();
  ui.prompt();
  await inputClosed;
  try {
    await chain;
  } finally {
    sh.close();
  }
  if (ui.interactive && !quit) process.stdout.write("\n");
  if (!ui.interactive && lastFailure) process.exit(lastFailure);
}
