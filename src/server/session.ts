// One connection seen from the server: a client (cli or library) or a peer
// server. It decodes frames, runs the handshake states, opens a Request per
// REQ, feeds uploaded values into their stages, and hands requests to
// handlers; it knows nothing of the transport and nothing of the node: what
// it needs of the server is the SessionHost below.
//
//   hello ──▶ auth ──▶ ready ──▶ closed
//     │         ▲         (auth only on a TCP listener with a token)
//     └─────────┘

import type { CloseReason, Conn } from "../net/conn.ts";
import { ClipError, asClipError } from "../protocol/errors.ts";
import { FrameDecoder, FrameType, MAX_FRAME, encodeFrame, type Frame } from "../protocol/frame.ts";
import type { PeerKind } from "../protocol/messages.ts";
import type { ValueSource } from "../value/source.ts";
import type { Logger } from "./log.ts";
import { SESSION_LIMITS } from "./limits.ts";
import { handoffOn, takeFile } from "./handoff.ts";
import { admitFileSend } from "./pressure.ts";
import { Request, type RequestOptions, type RequestTimer, type StreamOwner } from "./request.ts";
import { Upload } from "./upload.ts";
import type { Stage, StageOptions, Value } from "./values.ts";

export type SessionState =
  | "hello" // waiting for the first request, which must be `hello`
  | "auth" // hello done; a token proof is due before anything else
  | "ready" // requests flow
  | "closed"; // the connection is gone

/** A request as its handler sees it. */
export type RequestContext = Request<Session>;

export interface Handler extends RequestOptions {
  /** Needs admin rights (unix socket, or a proved token over TCP). */
  admin?: boolean;
  /** Allowed before the handshake finishes (hello, auth). */
  preAuth?: boolean;
  /** A value is uploaded with the request: ctx.upload (the handler runs when its first frame arrives). */
  value?: "none" | "required";
  /** Whether the value this request brings is marked sealed by its writer (values.ts valueLimit: room for the sealing overhead). */
  sealed?(meta: Record<string, unknown>): boolean;
  /** Checks the request before any value byte is stored; throw ClipError("USAGE") to refuse. */
  check?(meta: Record<string, unknown>, session: Session): void;
  /**
   * Handles the request. Return an object to answer with it (RES, no value);
   * return undefined when the handler answered itself (reply/event).
   */
  run(ctx: RequestContext): Promise<object | undefined> | object | undefined;
}

/** What a session needs of the server it belongs to. */
export interface SessionHost {
  readonly handlers: ReadonlyMap<string, Handler>;
  readonly log: Logger;
  readonly sessions: Iterable<Session>;
  stage(expected?: number, opts?: StageOptions): Stage;
  source(v: Value): ValueSource;
  release(v: Value | null): void;
  sessionClosed(s: Session, reason: CloseReason): void;
  /** Where this transport's request durations go, when the server keeps metrics. */
  requestTimer?(transport: Conn["transport"]): RequestTimer | undefined;
}

/** What a session proved of a group's secret: the hash it matched (a rotation changes it). */
export interface Membership {
  hash: string;
  since: number;
}

/** An open kv watch or region follow, as `clip apps` shows it and as a group change ends it. */
export interface OpenWatch {
  /** "" for a region's follow (no group name is empty: a group change never ends it). */
  group: string;
  /** "group/key" (or "group/prefix*"), "region 3" */
  name: string;
  fail(err: ClipError): void;
}

const EMPTY_BYTES = new Uint8Array(0);

/** Requests open in this process, all sessions together (see maxOpenTotal). */
let openTotal = 0;

/** How many requests are open across all sessions (tests check it returns to 0). */
export function openRequests(): number {
  return openTotal;
}

export class Session implements StreamOwner {
  state: SessionState = "hello";
  kind: PeerKind = "cli";
  pid = 0;
  name = "";
  readonly since = Date.now();
  /** May run admin ops: unix socket, proved token, or an --insecure server. */
  admin = false;
  /** The nonce this server offered for the token proof. */
  snonce = "";
  /** A token proof is being checked (one per connection). */
  proving = false;
  /** Groups whose secret this connection proved. */
  readonly groups = new Map<string, Membership>();
  /** The group an admin request of this connection is changing: spared when the change closes the group's sessions. */
  changingGroup: string | null = null;
  /** kv watches open now, by stream id. */
  readonly watches = new Map<number, OpenWatch>();
  /** What it watched (a few), for the departures `clip apps` lists. */
  readonly watched: string[] = [];
  /** Its hello said it serves one command and ends with it (a `clip list`). */
  once = false;
  /** It opened something that lasts (a follow, a kv watch, a chat): long-lived, whatever its hello said. */
  lasting = false;
  /** File sends queued and not yet made (descriptor pressure). */
  pendingFiles = 0;
  private readonly decoder = new FrameDecoder(MAX_FRAME, { streamData: true }); // DATA as views of the socket chunks: no 1 MiB copy per frame
  private readonly uploads = new Map<number, Upload>();
  /** Uploads the server reads from a file the client named (handoff.ts): no DATA may come for them. */
  private readonly byPath = new WeakSet<Upload>();
  /** Streams whose remaining DATA frames we drop (a refused or failed upload). */
  private readonly discarding = new Set<number>();
  private readonly open = new Map<number, Request<Session>>();
  private handshakeTimer: ReturnType<typeof setTimeout> | null;
  private closeHooks: ((reason: CloseReason) => void)[] = [];
  readonly timer: RequestTimer | undefined;

  constructor(
    readonly conn: Conn,
    private readonly host: SessionHost,
  ) {
    this.timer = host.requestTimer?.(conn.transport);
    this.handshakeTimer = setTimeout(() => this.close("timeout", new ClipError("PROTOCOL", "handshake not finished in time")), SESSION_LIMITS.handshakeMs);
  }

  /**
   * A one-shot command: `clip apps` counts it but lists it only with --all,
   * and `clip tree` and `clip status` do not count it among the clients.
   */
  get oneShot(): boolean {
    return this.once && !this.lasting;
  }

  get transport(): Conn["transport"] {
    return this.conn.transport;
  }

  get isClosed(): boolean {
    return this.state === "closed";
  }

  /** Waits and watches open on this connection (metrics). */
  get subscriptions(): number {
    let n = 0;
    for (const o of this.open.values()) if (o.subscription) n++;
    return n;
  }

  /** Called once the handshake is complete. */
  ready(): void {
    this.state = "ready";
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
  }

  onClose(fn: (reason: CloseReason) => void): void {
    this.closeHooks.push(fn);
  }

  // --- from the connection ---

  data(chunk: Uint8Array): void {
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (e) {
      const err = asClipError(e);
      this.host.log("warn", "protocol error", `${this.describe()}: ${err.message}; closing the connection`);
      this.close("protocol", err);
      return;
    }
    for (const f of frames) {
      if (this.state === "closed") return;
      this.frame(f);
    }
  }

  closed(reason: CloseReason): void {
    if (this.state === "closed") return;
    this.state = "closed";
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    for (const id of [...this.open.keys(), ...this.uploads.keys()]) this.cancelStream(id); // a half copy never lands
    for (const fn of this.closeHooks) {
      try {
        fn(reason);
      } catch {}
    }
    this.host.sessionClosed(this, reason);
  }

  /** Sends a final ERR (on stream 0) and closes. */
  close(reason: CloseReason, err?: ClipError): void {
    if (err) this.conn.send(encodeFrame(FrameType.ERR, 0, err.toWire()));
    this.conn.close(reason);
  }

  /** Closed by the descriptor-pressure policy. */
  cut(err: ClipError): void {
    this.close("slow", err);
  }

  describe(): string {
    const who = this.name ? `${this.kind} ${this.name}` : this.kind;
    return `${who}${this.pid ? ` pid ${this.pid}` : ""} (${this.conn.remote})`;
  }

  // --- what requests use ---

  source(v: Value): ValueSource {
    return this.host.source(v);
  }

  admitFile(file: string): boolean {
    return admitFileSend(this, file, this.host.sessions);
  }

  // --- frames ---

  private frame(f: Frame): void {
    switch (f.type) {
      case FrameType.REQ:
        return this.request(f);
      case FrameType.DATA:
        return this.uploadData(f);
      case FrameType.CANCEL:
        return this.cancelStream(f.id);
      default:
        // RES/ERR/EVT flow server → client only.
        this.sendError(f.id, new ClipError("PROTOCOL", `unexpected frame type ${f.type} from a client`));
    }
  }

  private request(f: Frame): void {
    const op = f.meta.op;
    const handler = typeof op === "string" ? this.host.handlers.get(op) : undefined;
    let upload: Upload | null = null;
    try {
      if (this.open.has(f.id) || this.uploads.has(f.id)) throw new ClipError("PROTOCOL", `stream id ${f.id} is already in use`);
      if (!handler) throw new ClipError("PROTOCOL", `unknown op ${JSON.stringify(op)}`);
      if (this.state !== "ready" && !handler.preAuth) {
        throw new ClipError(this.state === "auth" ? "AUTH" : "PROTOCOL", this.state === "auth" ? "prove the cluster token first" : "say hello first");
      }
      if (handler.admin && !this.admin) throw new ClipError("DENIED", `"${op}" is an admin command: use the unix socket, or a client that proved the cluster token`);
      if (this.open.size >= SESSION_LIMITS.maxOpen) throw new ClipError("BUSY", `more than ${SESSION_LIMITS.maxOpen} requests open on one connection`);
      // The handshake is exempt: it is short, one per connection, and bounded by the connection limit.
      if (openTotal >= SESSION_LIMITS.maxOpenTotal && !handler.preAuth) throw new ClipError("BUSY", `the server holds ${SESSION_LIMITS.maxOpenTotal} requests open; try again later`);
      handler.check?.(f.meta, this);
      if (f.meta.from !== undefined) {
        if (handler.value !== "required" || !f.fin || f.payload.length > 0) throw new ClipError("PROTOCOL", "`from` names a request's whole value: no bytes may come with it");
        if (this.transport !== "unix" || !handoffOn()) throw new ClipError("NOTFOUND", "values are taken by path only over this server's unix socket; send the bytes");
      }
      if (handler.value === "required") {
        if (this.uploads.size >= SESSION_LIMITS.maxUploads) throw new ClipError("BUSY", `more than ${SESSION_LIMITS.maxUploads} uploads at once on one connection`);
        const size = f.meta.size;
        upload = new Upload(this.host.stage(typeof size === "number" && size >= 0 ? size : undefined, { sealed: handler.sealed?.(f.meta) }), (v) => this.host.release(v));
        this.uploads.set(f.id, upload);
      }
    } catch (e) {
      if (!f.fin) this.discarding.add(f.id);
      this.sendError(f.id, asClipError(e));
      return;
    }
    if (upload && f.meta.from !== undefined) {
      // Read from the file the client named, as if its bytes were arriving.
      const up = upload;
      this.byPath.add(up);
      const alive = () => this.uploads.get(f.id) === up;
      takeFile(f.meta.from, {
        stage: up.stage,
        alive,
        finish: () => alive() && this.feed(up, { ...f, payload: EMPTY_BYTES, fin: true }),
        fail: (err) => {
          if (alive()) this.failUpload(up, f, err);
        },
      });
    } else if (upload && !this.feed(upload, f)) return; // the value's first bytes (all of it, for a small one) go in before the handler runs
    this.run(f.id, handler, f.meta, upload);
  }

  private uploadData(f: Frame): void {
    const up = this.uploads.get(f.id);
    if (up && this.byPath.has(up)) {
      this.failUpload(up, f, new ClipError("PROTOCOL", `data for stream ${f.id}, whose value is read from a file`));
      return;
    }
    if (!up) {
      if (this.discarding.has(f.id)) {
        if (f.fin) this.discarding.delete(f.id);
        return;
      }
      this.sendError(f.id, new ClipError("PROTOCOL", `data for stream ${f.id}, which has no upload open`));
      return;
    }
    this.feed(up, f);
  }

  /** Writes a frame's bytes into the upload; at FIN, commits it. False if the upload failed (answered already). */
  private feed(up: Upload, f: Frame): boolean {
    try {
      if (f.payload.length > 0) up.stage.write(f.payload);
      if (f.fin) {
        this.uploads.delete(f.id);
        up.finish();
        if (up.stage.state !== "committed") throw up.stage.error ?? new ClipError("INTERNAL", "the value could not be stored");
      }
      return true;
    } catch (e) {
      return this.failUpload(up, f, asClipError(e));
    }
  }

  /** Ends an upload that failed; said at once, so the sender stops sending. The request ends here. */
  private failUpload(up: Upload, f: Frame, err: ClipError): false {
    this.uploads.delete(f.id);
    up.fail(err);
    if (!f.fin) this.discarding.add(f.id);
    this.sendError(f.id, err);
    const o = this.open.get(f.id);
    if (o) this.drop(o);
    return false;
  }

  /** @internal Ends a stream: the client cancelled it, the connection closed, or fail(). */
  cancelStream(id: number): void {
    const up = this.uploads.get(id);
    if (up) {
      this.uploads.delete(id);
      up.fail(new ClipError("LOST", "the upload was cancelled"));
    }
    const o = this.open.get(id);
    if (o) this.drop(o);
  }

  private drop(o: Request<Session>): void {
    if (this.open.get(o.id) !== o) return;
    this.open.delete(o.id);
    openTotal--;
    o.cancelled = true;
    o.upload?.settle();
    o.runHooks();
  }

  /** @internal A request ended: its id may be used again. */
  finished(o: Request<StreamOwner>): void {
    if (this.open.get(o.id) !== o) return;
    this.open.delete(o.id);
    openTotal--;
    const up = o.upload;
    if (!up) return;
    // Answered before its value was whole (refused): the rest of it is dropped.
    if (this.uploads.get(o.id) === up) {
      this.uploads.delete(o.id);
      up.fail(new ClipError("LOST", "the request was answered before its value arrived"));
      this.discarding.add(o.id);
    }
    up.settle();
  }

  private run(id: number, handler: Handler, meta: Record<string, unknown>, upload: Upload | null): void {
    const o = new Request<Session>(this, id, meta, upload, handler);
    this.open.set(id, o);
    openTotal++;
    let result: Promise<object | undefined> | object | undefined;
    try {
      result = handler.run(o);
    } catch (e) {
      this.sendError(id, asClipError(e));
      o.finish();
      return;
    }
    if (result === undefined) return; // the handler answers (or answered) itself
    if (!(result instanceof Promise)) {
      o.finish();
      this.conn.send(encodeFrame(FrameType.RES, id, result));
      return;
    }
    result.then(
      (r) => {
        if (r === undefined) return;
        const cancelled = o.cancelled;
        o.finish();
        if (!cancelled) this.conn.send(encodeFrame(FrameType.RES, id, r));
      },
      (e) => {
        const cancelled = o.cancelled;
        o.finish();
        if (!cancelled) this.sendError(id, asClipError(e));
        if (handler.subscription) this.cancelStream(id);
      },
    );
  }

  sendError(id: number, err: ClipError): void {
    if (this.state === "closed") return;
    this.conn.send(encodeFrame(FrameType.ERR, id, err.toWire()));
  }
}
