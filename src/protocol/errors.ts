// One error type for everything that can go wrong in clip, wherever it happens.
// The server sends `code` and `message` on the wire (an ERR frame); the client
// rebuilds a ClipError from them; the CLI maps `code` to its exit status (docs/REFERENCE.md, "Exit status").
// Codes are stable: they are part of the protocol (docs/PROTOCOL.md).

export type ErrorCode =
  | "USAGE" // bad region, bad name, bad flag or address: the caller's mistake (exit 2)
  | "NOSERVER" // nothing listens at the address (exit 3)
  | "LOST" // the connection dropped while a request was in flight (exit 3)
  | "SHUTDOWN" // the server is stopping (exit 3)
  | "AUTH" // unknown group or wrong secret, bad token (exit 4)
  | "DENIED" // admin command without the rights for it (exit 4)
  | "GROUP_DELETED" // the group was deleted under a live session (exit 4)
  | "NOTFOUND" // missing key or group, or a revision no longer held (exit 5)
  | "CONDITION" // a conditional write (--if-rev) found another revision (exit 6)
  | "TIMEOUT" // --timeout passed before anything arrived (exit 124)
  | "TOOBIG" // value over the server's --max-size
  | "PROTOCOL" // the peer broke the wire protocol (bad frame, bad field)
  | "VERSION" // the peers speak different protocol versions
  | "SLOW" // a reader fell too far behind and was cut off
  | "BUSY" // a limit on concurrent work was reached
  | "CYCLE" // a join would close a cycle in the tree
  | "EXISTS" // creating something that is there already
  | "UNAVAILABLE" // this machine lacks what the command needs: no desktop clipboard, no terminal (exit 1)
  | "INTERNAL"; // a bug or an I/O failure on the server

const EXIT: Record<ErrorCode, number> = {
  USAGE: 2,
  NOSERVER: 3,
  LOST: 3,
  SHUTDOWN: 3,
  AUTH: 4,
  DENIED: 4,
  GROUP_DELETED: 4,
  NOTFOUND: 5,
  CONDITION: 6,
  TIMEOUT: 124,
  TOOBIG: 1,
  PROTOCOL: 1,
  VERSION: 1,
  SLOW: 1,
  BUSY: 1,
  CYCLE: 1,
  EXISTS: 1,
  UNAVAILABLE: 1,
  INTERNAL: 1,
};

const CODES = new Set(Object.keys(EXIT));

export class ClipError extends Error {
  override name = "ClipError";
  /** CONDITION: the revision the entry is at; NOTFOUND for a revision: the oldest held; a sealed value that could not be opened (AUTH, VERSION): its revision. */
  readonly rev?: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; rev?: number },
  ) {
    super(message, options);
    if (options?.rev !== undefined) this.rev = options.rev;
  }

  /** The process exit status the CLI gives this error (docs/REFERENCE.md, "Exit status"). */
  get exitCode(): number {
    return EXIT[this.code];
  }

  /** Rebuilds an error received in an ERR frame; unknown codes become INTERNAL. */
  static fromWire(meta: { code?: unknown; message?: unknown }): ClipError {
    const code = typeof meta.code === "string" && CODES.has(meta.code) ? (meta.code as ErrorCode) : "INTERNAL";
    const message = typeof meta.message === "string" ? meta.message : "error from server";
    const rev = (meta as { rev?: unknown }).rev;
    return new ClipError(code, message, typeof rev === "number" && Number.isSafeInteger(rev) ? { rev } : undefined);
  }

  toWire(): { code: ErrorCode; message: string; rev?: number } {
    return this.rev === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, rev: this.rev };
  }
}

export function isClipError(e: unknown, code?: ErrorCode): e is ClipError {
  return e instanceof ClipError && (code === undefined || e.code === code);
}

/** Any thrown value as a ClipError, so nothing reaches a user as a stack trace. */
export function asClipError(e: unknown): ClipError {
  if (e instanceof ClipError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new ClipError("INTERNAL", message, { cause: e });
}
