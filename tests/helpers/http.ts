// Test fixtures for clip's HTTP door: a real server from the compiled binary
// with --http listeners (TCP on a loopback port, and a unix socket), its
// URLs read from its log, and a small reader of Server-Sent Events.

import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type ServeOptions, type ServerHandle, startServer, waitFor } from "./clip.ts";

export interface HttpServerHandle extends AsyncDisposable {
  s: ServerHandle;
  /** http://127.0.0.1:PORT */
  url: string;
  /** The unix listener's path (no token needed there). */
  unix: string;
  token: string;
  /** Authorization: Bearer TOKEN */
  auth: Record<string, string>;
}

/** `clip serve` with --http on a loopback port and on a unix socket, a token, and whatever else `opts` adds. */
export async function startHttpServer(opts: ServeOptions & { token?: string } = {}): Promise<HttpServerHandle> {
  const token = opts.token ?? "http-test-token";
  const env = { CLIP_TOKEN: token, ...opts.env };
  const dir = opts.dir ?? mkdtempSync("/tmp/ch-");
  let s: ServerHandle;
  try {
    s = await startServer({ ...opts, dir, env, args: [...(opts.args ?? []), "--http", "tcp:127.0.0.1:0", "--http", `unix:${join(dir, "h.sock")}`] });
  } catch (e) {
    if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const line = await waitFor(() => /\bhttp listening: (http:\/\/127\.0\.0\.1:[0-9]+) unix:(\S+)/.exec(s.stderr()), 5000, "the http log line");
  return {
    s,
    url: line[1],
    unix: line[2],
    token,
    auth: { Authorization: `Bearer ${token}` },
    async [Symbol.asyncDispose]() {
      await s[Symbol.asyncDispose]();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

/** Reads an event stream as it comes: next() resolves with each event (comments and retry lines skipped). */
export function readEvents(res: Response) {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = "";
  const queue: SseEvent[] = [];
  let ended = false;
  const waker: { wake: (() => void) | null } = { wake: null };
  (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i: number;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const e: SseEvent = { data: "" };
          const data: string[] = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("id: ")) e.id = line.slice(4);
            else if (line.startsWith("event: ")) e.event = line.slice(7);
            else if (line.startsWith("data: ")) data.push(line.slice(6));
          }
          if (data.length) {
            e.data = data.join("\n");
            queue.push(e);
          }
        }
        waker.wake?.();
      }
    } catch {}
    ended = true;
    waker.wake?.();
  })();
  return {
    /** The next event; rejects when the stream ends first or after `ms`. */
    async next(ms = 10_000): Promise<SseEvent> {
      const end = Date.now() + ms;
      while (queue.length === 0) {
        if (ended) throw new Error("the event stream ended");
        if (Date.now() > end) throw new Error("no event in time");
        await Promise.race([new Promise<void>((r) => (waker.wake = r)), Bun.sleep(Math.max(1, end - Date.now()))]);
        waker.wake = null;
      }
      return queue.shift()!;
    },
    get ended(): boolean {
      return ended;
    },
    pending: () => queue.length,
    close: () => reader.cancel().catch(() => {}),
  };
}
