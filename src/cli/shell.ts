// clip shell: one connection, many commands. At a terminal it is an
// interactive session (line editing, history, background watches printed
// above the prompt); with stdin from a file or a pipe it runs one command
// per line, for scripts, and exits with the status of the last command
// that failed. It talks to the server through the library client, never
// by spawning clip.

import { appendFileSync, mkdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { type Client, type Message, collect } from "../client/client.ts";
import type { Kv } from "../client/kv.ts";
import { ClipError, asClipError } from "../protocol/errors.ts";
import { parseRegion } from "../protocol/messages.ts";
import { type ClientFlags, openClient, timeoutFlag } from "./common.ts";
import { lineUI, type LineUI } from "./lineui.ts";
import { groupInfoText, groupsTable, keysTable, regionsTable, statusText, treeText } from "./render.ts";
import { dim, humanSize, out, paint } from "./output.ts";

/** Dim on stderr: coloured only if stderr is a terminal. */
const dimErr = (s: string) => paint("dim", s, 2);

export interface ShellFlags extends ClientFlags {
  group?: unknown;
  secret?: unknown;
}

/** What `help` prints; also the completer's vocabulary. */
const HELP: [string, string][] = [
  ["copy R TEXT", "store TEXT in region R (0-9)"],
  ["paste R", "print region R"],
  ["wait R [--timeout S]", "wait for the next write to R and print it (Ctrl-C stops waiting)"],
  ["wait R --follow", "print every later write to R, in the background (see watches)"],
  ["list [--json]", "the regions: size, when, by whom, preview"],
  ["use GROUP SECRET", "the group that kv commands work in (or -g/--secret, CLIP_GROUP/CLIP_SECRET)"],
  ["kv put K VALUE", "set key K"],
  ["kv get K", "print key K"],
  ["kv del K", "delete key K"],
  ["kv list [PREFIX] [--json]", "the keys"],
  ["kv watch K", "print every later change of K, in the background"],
  ["watches", "the background watches"],
  ["unwatch ID|all", "stop a background watch"],
  ["group create|rotate|delete|info G", "admin: manage groups"],
  ["group list [--json]", "admin: every group"],
  ["status [--json]", "this server"],
  ["tree [--json]", "the whole tree of servers"],
  ["help", "this list"],
  ["quit", "leave (also Ctrl-D, exit)"],
];
const COMMANDS = ["copy", "paste", "wait", "list", "use", "kv", "watches", "unwatch", "group", "status", "tree", "help", "quit", "exit"];
const SUB: Record<string, string[]> = {
  kv: ["put", "get", "del", "list", "watch"],
  group: ["create", "rotate", "delete", "info", "list"],
};

/** Splits a line as a shell would: words, 'single' and "double" quotes, backslash escapes, # comments. */
export function words(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let has = false;
  let q: "'" | '"' | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (q) {
      if (ch === q) q = null;
      else if (ch === "\\" && q === '"' && i + 1 < line.length && '"\\$`'.includes(line[i + 1])) cur += line[++i];
      else cur += ch;
      continue;
    }
    if (ch === "'" || ch === '"') {
      q = ch;
      has = true;
    } else if (ch === "\\" && i + 1 < line.length) {
      cur += line[++i];
      has = true;
    } else if (/\s/.test(ch)) {
      if (has) out.push(cur);
      cur = "";
      has = false;
    } else if (ch === "#" && !has) {
      break;
    } else {
      cur += ch;
      has = true;
    }
  }
  if (q) throw new ClipError("USAGE", `unterminated ${q} quote`);
  if (has) out.push(cur);
  return out;
}

/** Pulls --flags out of a word list; the rest are positional. */
function flagsOf(args: string[], known: Record<string, "bool" | "value">): { pos: string[]; f: Record<string, string | true> } {
  const pos: string[] = [];
  const f: Record<string, string | true> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") {
      pos.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith("--") && a.length > 2) {
      const [name, inline] = a.slice(2).split(/=(.*)/s, 2);
      const kind = known[name];
      if (!kind) throw new ClipError("USAGE", `unknown flag --${name}`);
      if (kind === "bool") f[name] = true;
      else {
        const v = inline ?? args[++i];
        if (v === undefined) throw new ClipError("USAGE", `--${name} needs a value`);
        f[name] = v;
      }
    } else pos.push(a);
  }
  return { pos, f };
}

function need(pos: string[], n: number, usage: string): void {
  if (pos.length < n) throw new ClipError("USAGE", `usage: ${usage}`);
}

const strict = new TextDecoder("utf-8", { fatal: true });

/** A value as text for the screen, or null if it is not printable text. */
function asText(bytes: Uint8Array): string | null {
  try {
    const s = strict.decode(bytes);
    return /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(s) ? null : s;
  } catch {
    return null;
  }
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

class Shell {
  private client: Client | null = null;
  private kvHandle: Kv | null = null;
  private group: string | undefined;
  private secret: string | undefined;
  private readonly watches = new Map<number, Watch>();
  private nextWatch = 1;
  /** Aborts the command running in the foreground (Ctrl-C). */
  foreground: AbortController | null = null;

  constructor(
    private readonly flags: ShellFlags,
    readonly ui: LineUI,
  ) {
    const g = flags.group ?? process.env.CLIP_GROUP;
    const s = flags.secret ?? process.env.CLIP_SECRET;
    this.group = g !== undefined && g !== true ? String(g) : undefined;
    this.secret = s !== undefined && s !== true ? String(s) : undefined;
  }

  /** The connection, opened again if the last one was lost. */
  async conn(): Promise<Client> {
    if (this.client && !this.client.closed) return this.client;
    if (this.client) this.ui.note(dimErr("reconnecting…"));
    this.kvHandle = null;
    this.client = await openClient(this.flags);
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
  private async value(bytes: Uint8Array): Promise<void> {
    const text = asText(bytes);
    if (text === null) {
      if (this.ui.interactive) return this.print(dim(`(binary, ${humanSize(bytes.length)}: use clip paste R > FILE)`));
      return out(bytes);
    }
    await this.print(text.endsWith("\n") ? text.slice(0, -1) : text);
  }

  /**
   * A streamed reply: small values are shown as text; a large one is not
   * held whole: it streams to stdout in a script and is declined at a
   * terminal.
   */
  private async streamed(m: Message & { done(): void }): Promise<void> {
    try {
      const size = typeof m.meta.size === "number" ? m.meta.size : 0;
      if (size <= SHOW_WHOLE) return await this.value(await collect(m.body, size));
      if (this.ui.interactive) return await this.print(dim(`(${humanSize(size)}: too large to show here; use clip paste R > FILE)`));
      for await (const chunk of m.body) await out(chunk);
    } finally {
      m.done();
    }
  }

  async run(line: string): Promise<"quit" | void> {
    const w = words(line);
    if (w.length === 0) return;
    const [cmd, ...args] = w;
    switch (cmd) {
      case "quit":
      case "exit":
        return "quit";
      case "help":
        return this.print(HELP.map(([c, d]) => `  ${c.padEnd(36)}${dim(d)}`).join("\n"));
      case "copy": {
        need(args, 2, "copy R TEXT");
        const r = parseRegion(args[0]);
        await (await this.conn()).copy(r, args.slice(1).join(" "));
        return;
      }
      case "paste": {
        need(args, 1, "paste R");
        const r = parseRegion(args[0]);
        return this.streamed(await (await this.conn()).pasteStream(r));
      }
      case "wait":
        return this.wait(args);
      case "list":
        return this.list(args);
      case "use": {
        need(args, 1, "use GROUP SECRET");
        this.group = args[0];
        if (args[1] !== undefined) this.secret = args[1];
        this.kvHandle = null;
        await this.kv(); // prove it now, so a wrong secret shows here
        return;
      }
      case "kv":
        return this.kvCommand(args);
      case "group":
        return this.groupCommand(args);
      case "status":
        return this.status(args);
      case "tree":
        return this.tree(args);
      case "watches":
        if (this.watches.size === 0) return this.print(dim("no watches"));
        return this.print([...this.watches.values()].map((x) => `  ${x.id}  ${x.what}`).join("\n"));
      case "unwatch": {
        need(args, 1, "unwatch ID|all");
        const ids = args[0] === "all" ? [...this.watches.keys()] : [Number(args[0])];
        for (const id of ids) {
          const x = this.watches.get(id);
          if (!x) throw new ClipError("NOTFOUND", `no watch ${args[0]} (see watches)`);
          x.stop();
        }
        return;
      }
      default:
        throw new ClipError("USAGE", `unknown command ${JSON.stringify(cmd)} (try help)`);
    }
  }

  private async wait(args: string[]): Promise<void> {
    const { pos, f } = flagsOf(args, { timeout: "value", follow: "bool" });
    need(pos, 1, "wait R [--timeout S] [--follow]");
    const r = parseRegion(pos[0]);
    const c = await this.conn();
    if (f.follow) {
      const ctl = new AbortController();
      this.background(`wait ${r} --follow`, ctl, async (tag) => {
        for await (const v of c.follow(r, { signal: ctl.signal })) {
          const t = asText(v);
          await this.print(`${tag} ${t === null ? dim(`binary, ${humanSize(v.length)}`) : t.replace(/\n$/, "")}`);
        }
      });
      return;
    }
    const ctl = new AbortController();
    this.foreground = ctl;
    try {
      return await this.streamed(await c.waitStream(r, { timeout: timeoutFlag(f.timeout), signal: ctl.signal }));
    } finally {
      this.foreground = null;
    }
  }

  /** Runs a watch in the background; its lines go above the prompt. */
  private background(what: string, ctl: AbortController, body: (tag: string) => Promise<void>): void {
    const id = this.nextWatch++;
    const tag = dim(`[${id}]`);
    this.watches.set(id, {
      id,
      what,
      stop: () => {
        this.watches.delete(id);
        ctl.abort(new ClipError("LOST", "stopped"));
      },
    });
    this.ui.note(dimErr(`[${id}] ${what}: watching in the background (unwatch ${id} stops it)`));
    body(tag)
      .catch((e) => {
        if (ctl.signal.aborted) return;
        this.ui.note(`clip: [${id}] ${what} ended: ${asClipError(e).message}`);
      })
      .finally(() => this.watches.delete(id));
  }

  private async list(args: string[]): Promise<void> {
    const { f } = flagsOf(args, { json: "bool" });
    const regions = await (await this.conn()).list();
    if (f.json) return this.print(JSON.stringify(regions));
    return this.print(regionsTable(regions, this.ui.interactive).trimEnd());
  }

  private async kvCommand(args: string[]): Promise<void> {
    const [sub, ...rest] = args;
    switch (sub) {
      case "put": {
        need(rest, 2, "kv put K VALUE");
        await (await this.kv()).put(rest[0], rest.slice(1).join(" "));
        return;
      }
      case "get":
        need(rest, 1, "kv get K");
        return this.streamed(await (await this.kv()).getStream(rest[0]));
      case "del":
        need(rest, 1, "kv del K");
        await (await this.kv()).del(rest[0]);
        return;
      case "list": {
        const { pos, f } = flagsOf(rest, { json: "bool" });
        const keys = await (await this.kv()).list(pos[0] ?? "");
        if (f.json) return this.print(JSON.stringify(keys));
        const tty = this.ui.interactive;
        return this.print(keysTable(keys, tty).trimEnd());
      }
      case "watch": {
        need(rest, 1, "kv watch K");
        const key = rest[0];
        const kv = await this.kv();
        const ctl = new AbortController();
        const w = kv.watch(key, { signal: ctl.signal });
        await w.ready; // the watch is in place before the next command runs
        this.background(`kv watch ${key}`, ctl, async (tag) => {
          for await (const e of w) {
            if (e.event === "del") await this.print(`${tag} ${e.key} deleted`);
            else {
              const t = asText(e.value);
              await this.print(`${tag} ${e.key} = ${t === null ? dim(`binary, ${humanSize(e.value.length)}`) : t}`);
            }
          }
        });
        return;
      }
      default:
        throw new ClipError("USAGE", `usage: kv put|get|del|list|watch ... (not ${JSON.stringify(sub ?? "")})`);
    }
  }

  private async groupCommand(args: string[]): Promise<void> {
    const [sub, ...rest] = args;
    const { pos, f } = flagsOf(rest, { json: "bool" });
    const g = (await this.conn()).groups;
    switch (sub) {
      case "create":
      case "rotate":
        need(pos, 1, `group ${sub} G`);
        return this.print(sub === "create" ? await g.create(pos[0]) : await g.rotate(pos[0]));
      case "delete":
        need(pos, 1, "group delete G");
        await g.delete(pos[0]);
        if (pos[0] === this.group) this.kvHandle = null;
        return;
      case "info": {
        need(pos, 1, "group info G");
        const i = await g.info(pos[0]);
        if (f.json) return this.print(JSON.stringify(i));
        return this.print(groupInfoText(i).trimEnd());
      }
      case "list": {
        const groups = await g.list();
        if (f.json) return this.print(JSON.stringify(groups));
        return this.print(groupsTable(groups).trimEnd());
      }
      default:
        throw new ClipError("USAGE", `usage: group create|rotate|delete|info|list ... (not ${JSON.stringify(sub ?? "")})`);
    }
  }

  private async status(args: string[]): Promise<void> {
    const { f } = flagsOf(args, { json: "bool" });
    const s = await (await this.conn()).status();
    if (f.json) return this.print(JSON.stringify(s));
    return this.print(statusText(s).trimEnd());
  }

  private async tree(args: string[]): Promise<void> {
    const { f } = flagsOf(args, { json: "bool" });
    const t = await (await this.conn()).tree();
    if (f.json) return this.print(JSON.stringify(t));
    return this.print(treeText(t).trimEnd());
  }

  close(): void {
    for (const w of this.watches.values()) w.stop();
    this.client?.close();
  }
}

function completer(line: string): [string[], string] {
  const w = line.split(/\s+/);
  if (w.length <= 1) return [COMMANDS.filter((c) => c.startsWith(w[0] ?? "")), w[0] ?? ""];
  if (w.length === 2 && SUB[w[0]]) return [SUB[w[0]].filter((c) => c.startsWith(w[1])), w[1]];
  return [[], line];
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
  const ui = lineUI({ prompt: "clip> ", history: loadHistory(histFile), completer });
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
    // Ctrl-C stops a wait in the foreground, or clears the line, as shells do.
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
