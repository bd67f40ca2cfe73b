// clip chat ROOM --name NAME: every line typed goes to everyone in the room,
// on every server of the tree; what others say is shown as it arrives.
// At a terminal a lost server is retried; in a pipeline it ends the chat
// with exit 3, so a script notices.

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
    const events = client.subscribe("chat.join", { room, name }, ctl.signal);
    const first = await events.next().catch((e) => {
      client.close();
      throw e;
    });
    if (first.done || (first.value as Message).meta.kind !== "joined") {
      client.close();
      throw new ClipError("PROTOCOL", "the server did not let us into the room");
    }
    const server = String((first.value as Message).meta.server ?? "");
    if (ui.interactive) ui.note(dimErr(`joined ${room} on ${server} as ${name}; type /quit or Ctrl-D to leave`));
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

  const say = async (text: string) => {
    if (!link) {
      ui.note(`clip: not connected: "${text.slice(0, 40)}" was not sent`);
      return;
    }
    try {
      // Counted once sent: a refused line is never echoed, so never awaited.
      const n = said + 1;
      await link.client.call("chat.say", { room, name, text, cid: `${cidBase}.${n}` });
      said = n;
    } catch (e) {
      if (isClipError(e, "USAGE")) ui.note(`clip: ${e.message}`);
      else if (!lost(e)) throw e;
      // A lost link is reported by the subscription, which owns reconnecting.
    }
  };

  ui.on("line", (line: string) => {
    const text = line.replace(/\r$/, "");
    if (text === "/quit" || text === "/exit") {
      quitting = true;
      ui.close();
      return;
    }
    ui.eraseTyped(text);
    if (text.trim() === "") return ui.prompt();
    try {
      checkLine(text);
    } catch (e) {
      ui.note(`clip: ${(e as Error).message}; not sent`);
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
