// What the desktop bridge needs of one clip region, and nothing more: the
// bridge is written against this port so that it can be driven by an
// in-memory region in tests and by the real client in `clip desktop`.
//
// Two changes from the first sketch, both so that the bridge keeps SPEC's
// promises without holding what it must not:
// - `current()` says the region's revision even when it is empty, so the
//   bridge can watch from it with no gap and without replaying history
//   (`changes(0)` on a region with history would put every old value on the
//   desktop);
// - both calls take `maxBytes`: a value larger than that comes without its
//   bytes (`bytes: null`, `size` set), so a 1 GiB write to R is skipped
//   without ever being pulled into the bridge's memory.

export interface RegionValue {
  rev: number;
  type: string;
  size: number;
  /** Null when `size` is over the `maxBytes` the caller passed. */
  bytes: Uint8Array | null;
  /** When it was written (ms since the epoch, by the clock of the server it was written on), when known. */
  at?: number;
}

/** R as it stands: its latest revision (a write, an expiry; 0 when never written), and its value if it has one. */
export interface RegionState {
  rev: number;
  value: RegionValue | null;
  /** R holds a value the port cannot hand over (sealed without the key): why; `value` is then null. */
  unreadable?: string;
}

export type RegionChange =
  | ({ kind: "write" } & RegionValue)
  /** `expired` is the revision of the value that expired; R is empty after it. */
  | { kind: "expire"; rev: number; expired: number }
  /** A write the port cannot hand over as bytes (e.g. sealed without the key): the bridge logs `reason` and leaves the desktop alone. */
  | { kind: "unreadable"; rev: number; reason: string };

export interface ReadOptions {
  signal?: AbortSignal;
  /** Values over this many bytes come with `bytes: null`. */
  maxBytes?: number;
}

export interface RegionPort {
  /** The region's current state (value null when empty or expired). */
  current(opts?: ReadOptions): Promise<RegionState>;
  /**
   * Every change after `since` (a write made anywhere in the tree, or an
   * expiry), in order, live; ends on abort. Throws a ClipError with code
   * LOST/NOSERVER/SHUTDOWN when the server goes away (the bridge reconnects),
   * NOTFOUND when `since` is no longer held (the bridge starts again from
   * `current()`).
   */
  changes(since: number, opts?: ReadOptions): AsyncIterable<RegionChange>;
  /** Writes a value; resolves with its revision. */
  write(bytes: Uint8Array, type: string): Promise<number>;
  /** Ends the port's connection for good (the bridge is stopping). */
  close?(): void;
}

// Reconnecting is the port's business, retrying is the bridge's: after a
// LOST or NOSERVER the bridge calls current() again, with backoff, and the
// port dials anew for it.
