// Server-Sent Events: the framing (pure) and an event stream response that
// sends heartbeats and cuts off a reader that falls behind (outbound.ts).
//
// Each event is `id: REV` then `data: JSON` on one line: a reconnecting
// EventSource sends the last id back as Last-Event-ID and the route resumes
// from that revision, as `--since` does. Heartbeats are comments (`: `),
// which EventSource ignores; they keep proxies and NATs from dropping a quiet
// stream and find a client that vanished without closing.

import { type CloseReason, Outbound, type OutboundLimits, SPEC_LIMITS } from "./outbound.ts";

export interface SseEvent {
  /** Becomes `id:` (the revision), so Last-Event-ID can resume. */
  id?: number | string;
  /** Becomes `event:`; omitted for the default "message" type. */
  event?: string;
  /** A string is sent as is (split on newlines); anything else as one line of JSON. */
  data: unknown;
}

const NO_LINE_BREAK = /^[^\r\n\0]*$/;

/** One event's text, ending with the blank line that dispatches it. */
export function frameEvent(e: SseEvent): string {
  let s = "";
  if (e.id !== undefined) {
    const id = String(e.id);
    // An id with a line break would split the frame; with NUL, EventSource ignores it.
    if (!NO_LINE_BREAK.test(id)) throw new Error("an SSE id cannot hold CR, LF or NUL");
    s += `id: ${id}\n`;
  }
  if (e.event !== undefined) {
    if (!NO_LINE_BREAK.test(e.event)) throw new Error("an SSE event name cannot hold CR, LF or NUL");
    s += `event: ${e.event}\n`;
  }
  const data = typeof e.data === "string" ? e.data : JSON.stringify(e.data);
  // Every line of the payload gets its own `data:` field; the reader joins them with \n.
  for (const line of data.split(/\r\n|\r|\n/)) s += `data: ${line}\n`;
  return `${s}\n`;
}

/** A comment line: ignored by readers, used for heartbeats. */
export function frameComment(text = ""): string {
  return `: ${text.replace(/[\r\n]+/g, " ")}\n\n`;
}

/** How long a reconnecting EventSource waits before it tries again. */
export function frameRetry(ms: number): string {
  return `retry: ${Math.max(0, Math.floor(ms))}\n\n`;
}

export interface EventStreamOptions {
  /** Heartbeat period. Default 15 s (under the idle timeouts of common proxies, 30-60 s). */
  heartbeatMs?: number;
  /** Reconnect delay advertised to EventSource. Default 1 s. */
  retryMs?: number;
  limits?: OutboundLimits;
  /** The request's signal: the stream closes when the client goes. */
  signal?: AbortSignal;
  /** Called once when the stream closes, with why (the route unsubscribes its watch here). */
  onClose?: (reason: CloseReason) => void;
  headers?: Record<string, string>;
}

export const SSE_HEADERS: Record<string, string> = {
  "Content-Type": "text/event-stream; charset=utf-8",
  "Cache-Control": "no-store",
  // Asks nginx and similar proxies not to buffer the stream.
  "X-Accel-Buffering": "no",
};

/**
 * An event stream: `response` is returned by the route; `send` is called for
 * each event (never waits), `close` ends it. The route should also call
 * `server.timeout(req, 0)` so that Bun's idle timeout does not cut a quiet
 * stream between heartbeats.
 */
export class EventStream {
  readonly response: Response;
  private readonly out: Outbound;
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(opts: EventStreamOptions = {}) {
    this.out = new Outbound(
      opts.limits ?? SPEC_LIMITS,
      (reason) => {
        clearInterval(this.timer);
        opts.onClose?.(reason);
      },
      opts.signal,
    );
    // Sent at once, so the client sees the stream open (EventSource's `open`)
    // before the first event, which may be long in coming.
    this.out.write(frameRetry(opts.retryMs ?? 1000));
    this.timer = setInterval(() => this.out.write(frameComment()), opts.heartbeatMs ?? 15_000);
    // A heartbeat should never keep a process alive on its own.
    (this.timer as { unref?: () => void }).unref?.();
    if (this.out.closed) clearInterval(this.timer); // the request was gone before we began
    this.response = new Response(this.out.body, { status: 200, headers: { ...SSE_HEADERS, ...opts.headers } });
  }

  /** Sends one event. False once the stream is closed: stop sending, the watch should end. */
  send(e: SseEvent): boolean {
    if (this.out.closed) return false;
    return this.out.write(frameEvent(e), true);
  }

  /**
   * Sends one event framed already (frameEvent, encoded once and shared by
   * every stream the same write wakes). As send().
   */
  sendFramed(frame: string | Uint8Array): boolean {
    if (this.out.closed) return false;
    return this.out.write(frame, true);
  }

  /** Why the stream closed, or undefined while open. */
  get closed(): CloseReason | undefined {
    return this.out.closed;
  }

  get behind(): { bytes: number; events: number } {
    return this.out.behind;
  }

  /** Ends the stream normally (the client's EventSource will reconnect unless told otherwise). */
  close(): void {
    this.out.end();
  }

  /** Resets the connection (shutdown). */
  abort(): void {
    this.out.abort("server");
  }
}
