// Waiting and watching over HTTP: a long poll (?wait) and an event stream
// (Server-Sent Events), both over the server core's follow() (the same as
// the socket's wait and kv.watch: replay after a revision, then live, no
// gap, no repeat). Each counts as a watcher while open, and ends when its
// client goes, when the server stops, or (a stream) when its reader falls
// too far behind.

import { trackApp } from "../server/handlers/apps.ts";
import { ClipError } from "../protocol/errors.ts";
import { type FollowFrom, follow } from "../server/follow.ts";
import type { Entry } from "../server/state.ts";
import type { Door, Exchange } from "./door.ts";
import { errorResponse } from "./errors.ts";
import { EventStream, frameEvent } from "./sse.ts";

/**
 * A long poll: the first entry for which `answer` gives a response (it
 * returns null to keep waiting: an expiry does not wake a region's wait),
 * else 304 after `ms`. Replay and validation errors (a `since` no longer
 * held) are thrown at once.
 */
export function longPoll(door: Door, x: Exchange, from: FollowFrom, ms: number, answer: (e: Entry) => Response | null): Promise<Response> {
  x.keepOpen();
  return new Promise((resolve, reject) => {
    let done = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let unfollow = () => {};
    const end = (res: Response | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      unfollow();
      door.watching--;
      door.open.delete(stop);
      x.req.signal.removeEventListener("abort", gone);
      // A client that went gets nothing; Bun drops the answer.
      resolve(res ?? new Response(null, { status: 499 }));
    };
    const stop = () => end(errorResponse(new ClipError("SHUTDOWN", "the server is shutting down"), { Connection: "close" }));
    const gone = () => end(null);
    door.watching++;
    door.open.add(stop);
    x.req.signal.addEventListener("abort", gone, { once: true });
    try {
      unfollow = follow(door.node, from, (e) => {
        const res = answer(e);
        if (!res) return false;
        end(res);
        return true;
      });
    } catch (e) {
      done = true;
      door.watching--;
      door.open.delete(stop);
      x.req.signal.removeEventListener("abort", gone);
      reject(e);
      return;
    }
    if (done) unfollow();
    else timer = setTimeout(() => end(new Response(null, { status: 304, headers: { "Cache-Control": "no-store" } })), ms);
  });
}

export interface StreamOptions {
  /** Other reasons to end the stream (a key stream: its group deleted or its secret rotated). Returns its unsubscribe. */
  endWhen?: (end: (err: ClipError) => void) => () => void;
}

/** What `clip apps` says of a stream: the group it proved, what it watches. */
export interface StreamApp {
  groups: string[];
  watches: string[];
}

/**
 * An event stream of the entries `from` names: one event per entry, framed
 * by `frame` (null: none for this entry). The frames are made once per
 * entry by the caller's cache and shared by every stream the same write
 * wakes. Replay errors are thrown before the stream starts (a 404 or 400).
 */
export function eventStream(door: Door, x: Exchange, app: StreamApp, from: FollowFrom, frame: (e: Entry) => Uint8Array | null, opts: StreamOptions = {}): Response {
  x.keepOpen();
  let es: EventStream | undefined;
  let closed = false;
  let unfollow = () => {};
  let unguard = () => {};
  let untrack = () => {};
  const abort = () => es?.abort();
  const onClose = (reason: string) => {
    closed = true;
    unfollow();
    unguard();
    untrack();
    door.watching--;
    door.open.delete(abort);
    if (reason === "slow") door.metrics.cutOff.inc();
  };
  unfollow = follow(
    door.node,
    from,
    (e) => {
      const f = frame(e);
      if (!f) return false;
      if (!es!.sendFramed(f)) return true;
      door.metrics.sent.inc(f.length);
      return false;
    },
    () => {
      door.watching++;
      door.open.add(abort);
      // An event stream stays: `clip apps` lists it (as a web page's or curl's), and its departure.
      untrack = trackApp(door.node, { kind: "http", name: "event stream", remote: x.remote, ...app });
      es = new EventStream({ signal: x.req.signal, limits: door.outbound, onClose });
    },
  );
  if (closed) unfollow();
  else if (opts.endWhen) {
    unguard = opts.endWhen((err) => {
      // Said as an event first (a stream cannot change its status): EventSource reconnects and gets the error as a status.
      es!.send({ event: "error", data: { error: err.code, message: err.message } });
      es!.close();
    });
  }
  return es!.response;
}

const enc = new TextEncoder();

/**
 * Frames made once per entry: a write woken on a thousand streams is
 * turned into JSON and bytes once. Weak, so a frame goes with its entry.
 */
export function frameCache(data: (e: Entry) => Record<string, unknown> | null): (e: Entry) => Uint8Array | null {
  const cache = new WeakMap<Entry, Uint8Array | null>();
  return (e) => {
    let f = cache.get(e);
    if (f === undefined) {
      const d = data(e);
      f = d === null ? null : enc.encode(frameEvent({ id: e.rev, data: d }));
      cache.set(e, f);
    }
    return f;
  };
}
