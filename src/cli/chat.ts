// clip chat ROOM --name NAME: every line typed goes to everyone in the room,
// on every server of the tree; what others say is shown as it arrives.
// Lines that start with / are the chat's own commands (/help, /quit), never
// sent. At a terminal a lost server is retried and a refused line is said
// and the chat goes on; in a pipeline a lost server ends the chat with exit
// 3, and a line that was not sent makes the chat exit non-zero at its end,
// so a script notices.

import type { Client, Message } from "../client/client.ts";
import { ClipError, isClipError } from "../protocol/errors.ts";
import { checkLine, checkNick, checkRoom } from "../server/handlers/chat.ts";
import { type ClientFlags, openClient } from "./common.ts";
import { lineUI, type LineUI } from "./lineui.ts";
import { bold, dim, paint } from "./output.ts";

/** Dim on stderr: coloured only if stderr is a terminal. */
const dimErr = (s: string) => paint("dim", s, 2);

export interface ChatFlags extends ClientFlags {
  name?: unknown;
  json?: boolean;
}

interface ChatEvent {
  kind: "joined" | "msg" | "join" | "leave";
  name?: string;
  text?: string;
  at?: number;
  server?: string;
  room?: string;
  cid?: string;
}

const two = (n: number) => String(n).padStart(2, "0");
export function hhmm(ms: number): string {
  const d = new Date(ms);
  return `${two(d.getHours())}:${two(d.getMinutes())}`;
}

export function formatChat(e: ChatEvent): string | null {
  const t = hhmm(e.at ?? Date.now());
  switch (e.kind) {
    case "msg":
      return `${dim(t)} ${bold(e.name ?? "?")}: ${e.text ?? ""}`;
    case "join":
      return dim(`${t} * ${e.name} joined${e.server ? ` (on ${e.server})` : ""}`);
    case "leave":
      return dim(`${t} * ${e.name} left`);
    default:
      return null;
  }
}

/** A connection to the room: the subscription runs until it ends or fails. */
interface Link {
  client: Client;
  /** Settles when the subscription ends: with an error if the server went away. */
  ended: Promise<void>;
  stop(): void;
}

const lost = (e: unknown) => isClipError(e, "LOST") || isClipError(e, "SHUTDOWN") || isClipError(e, "NOSERVER");

/** What /help shows (here, never sent). */
export const CHAT_HELP = [
  "Every line you type goes to everyone in the room. Lines that start with / are for this chat:",
  "  /help         this text",
  "  /quit, /exit  leave (also Ctrl-D)",
  "  //text        send \"/text\" (a line that starts with /)",
].join("\n");

/** A line typed: a chat command, text to send, or nothing. */
export type ChatInput = { cmd: "help" | "quit" } | { cmd: "unknown"; word: string } | { say: string } | null;

/** Reads one typed line (pure). */
export function chatInput(line: string): ChatInput {
  const text = line.replace(/\r$/, "");
  if (text.trim() === "") return null;
  if (text.startsWith("//")) return { say: text.slice(1) };
  const m = /^\/(\S*)\s*$/.exec(text) ?? /^\/(\S+)/.exec(text);
  if (!m) return { say: text };
  const word = m[1];
  if (word === "help" || word === "?") return { cmd: "help" };
  if (word === "quit" || word === "exit") return { cmd: "quit" };
  return { cmd: "unknown", word: `/${word}` };
}
export async function chat(roomArg: unknown, flags: ChatFlags): Promise<void> {
  const room = checkRoom(String(roomArg ?? ""));
  const name = checkNick(flags.name !== undefined && flags.name !== true ? String(flags.name) : (process.env.USER ?? "anon"));
  const ui = lineUI({ prompt: "> " });
  // The last line we said, and a way to know when it has come back round:
  // at the end of input we wait for it, so a piped chat's transcript is whole.
  const cidBase = `${process.pid.toString(36)}.${Date.now().toString(36)}`;
  let said = 0;
  let echoed = 0;
  let onEcho: (() => void) | null = null;
  const show = (e: ChatEvent) => {
    if (e.cid?.startsWith(cidBase)) {
      echoed = Math.max(echoed, Number(e.cid.slice(cidBase.length + 1)));
      if (echoed >= said) onEcho?.();
      delete e.cid;
    }
    if (flags.json) return ui.print(JSON.stringify(e));
    const line = formatChat(e);
    return line === null ? Promise.resolve() : ui.print(line);
  };

  const join = async (): Promise<Link> => {
    const client = await openClient(flags, { once: false, name: "chat" });
    const ctl = new AbortController();
    // `me`: the same across reconnections, so that our name is ours again when we come back.
    const events = client.subscribe("chat.join", { room, name, me: cidBase }, ctl.signal);
    const first = await events.next().catch((e) => {
      client.close();
      throw e;
    });
    if (first.done || (first.value as Message).meta.kind !== "joined") {
      client.close();
      throw new ClipError("PROTOCOL", "the server did not let us into the room");
    }
    const server = String((first.value as Message).meta.server ?? "");
    if (ui.interactive) ui.note(dimErr(`joined ${room} on ${server} as ${name}; /help lists the commands; /quit or Ctrl-D leaves`));
    const ended = (async () => {
      for await (const m of events) await show(m.meta as unknown as ChatEvent);
    })();
    ended.catch(() => {});
    return {
      client,
      ended,
      stop() {
        ctl.abort(new ClipError("LOST", "left"));
        client.close();
      },
    };
  };

  let link: Link | null = null;
  let quitting = false;
  // Lines are sent one after another, so a room sees each sender's lines in order.
  // Input is read from the start: lines that come before we are in the room
  // wait for the join on this chain, and are not lost.
  let joined!: () => void;
  let sending: Promise<void> = new Promise<void>((r) => (joined = r));
  let backlog = 0;
  let inputDone!: () => void;
  const inputClosed = new Promise<void>((r) => (inputDone = r));
  // Lines typed that did not reach the room, and why the first did not: a script must not take them for sent.
  let unsent = 0;
  let firstUnsent: ClipError | null = null;
  const notSent = (err: ClipError, what: string) => {
    unsent++;
    firstUnsent ??= err;
    ui.note(`clip: ${what}; not sent`);
  };

  const say = async (text: string) => {
    if (!link) {
      notSent(new ClipError("LOST", "not connected"), `not connected: "${text.slice(0, 40)}"`);
      return;
    }
    try {
      // Counted once sent: a refused line is never echoed, so never awaited.
      const n = said + 1;
      await link.client.call("chat.say", { room, name, text, cid: `${cidBase}.${n}` });
      said = n;
    } catch (e) {
      if (isClipError(e, "USAGE")) notSent(e, e.message);
      else if (!lost(e)) throw e;
      // A lost link is reported by the subscription, which owns reconnecting (a piped chat then exits 3).
    }
  };

  ui.on("line", (line: string) => {
    const input = chatInput(line);
    if (input && "cmd" in input && input.cmd === "quit") {
      quitting = true;
      ui.close();
      return;
    }
    ui.eraseTyped(line.replace(/\r$/, ""));
    if (input === null) return ui.prompt();
    if ("cmd" in input) {
      if (input.cmd === "help") ui.note(CHAT_HELP);
      else if (input.cmd === "unknown") notSent(new ClipError("USAGE", "unknown chat command"), `unknown command ${input.word} (/help lists them; start a line with // to send one that begins with /)`);
      return ui.prompt();
    }
    const text = input.say;
    try {
      checkLine(text);
    } catch (e) {
      notSent(e as ClipError, (e as Error).message);
      return ui.prompt();
    }
    backlog++;
    // Input that outruns the server waits in the kernel, not in our memory.
    if (backlog > 64) ui.pause();
    sending = sending.then(() => say(text)).finally(() => {
      if (--backlog <= 16) ui.resume();
    });
    ui.prompt();
  });
  ui.on("close", () => inputDone());
  ui.on("interrupt", () => {
    quitting = true;
    ui.close();
  });
  ui.start();
  link = await join().catch((e) => {
    ui.close();
    throw e;
  });
  joined();
  ui.prompt();

  while (true) {
    const current: Link = link!;
    const outcome = await Promise.race([
      inputClosed.then(() => "input" as const),
      current.ended.then(
        () => new ClipError("LOST", "the server ended the chat"),
        (e: unknown) => e,
      ),
    ]);
    if (outcome === "input") {
      await sending; // what was typed before the end still goes out
      if (echoed < said) {
        // Through a tree our lines come back via the root: give them a moment.
        await Promise.race([new Promise<void>((r) => (onEcho = r)), current.ended.catch(() => {}), Bun.sleep(3000)]);
      }
      current.stop();
      await current.ended.catch(() => {}); // let the last lines reach stdout
      if (ui.interactive && !quitting) process.stdout.write("\n");
      if (!ui.interactive && firstUnsent) throw new ClipError((firstUnsent as ClipError).code, `chat: ${unsent} line${unsent === 1 ? " was" : "s were"} not sent (see above)`);
      return;
    }
    // stdout is gone (| head): leave quietly, as cat does (main exits 141).
    if ((outcome as NodeJS.ErrnoException)?.code === "EPIPE") {
      ui.close();
      current.stop();
      throw outcome;
    }
    // The subscription ended: the server went away or cut us off.
    link = null;
    const err = outcome instanceof ClipError ? outcome : new ClipError("LOST", String(outcome));
    current.client.close();
    if (!ui.interactive || !lost(err)) {
      ui.close();
      throw new ClipError(err.code, `chat: ${err.message}`);
    }
    ui.note(`clip: chat: ${err.message}; reconnecting (Ctrl-D to give up)`);
    link = await reconnect(join, inputClosed);
    if (!link) {
      ui.close();
      throw new ClipError("LOST", "chat: the server did not come back");
    }
  }
}

/** Retries with backoff for about a minute, or until the user gives up. */
async function reconnect(join: () => Promise<Link>, gaveUp: Promise<void>): Promise<Link | null> {
  let stop = false;
  gaveUp.then(() => (stop = true));
  const deadline = Date.now() + 60_000;
  let delay = 250;
  while (!stop && Date.now() < deadline) {
    try {
      return await join();
    } catch (e) {
      if (!lost(e)) throw e;
    }
    await Promise.race([Bun.sleep(delay), gaveUp]);
    delay = Math.min(delay * 2, 5_000);
  }
  return null;
}
