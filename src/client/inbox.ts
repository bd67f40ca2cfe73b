// What arrives on one stream, queued until the caller pulls it. The bytes
// held across all inboxes of a connection are bounded: past the high mark
// the socket stops being read (the server then waits on its own queue),
// which is how backpressure reaches the sender.

import type { ClipError } from "../protocol/errors.ts";

export type Item =
  | { t: "head"; type: number; meta: Record<string, unknown>; payload: Uint8Array; fin: boolean; raw?: Uint8Array }
  | { t: "data"; payload: Uint8Array; fin: boolean }
  | { t: "err"; err: ClipError };

export interface Flow {
  /** Called with +n when bytes are queued, -n when pulled. */
  account(delta: number): void;
}

export class Inbox {
  private items: Item[] = [];
  private waiter: ((i: Item) => void) | null = null;
  /** Set once an error was queued: nothing more will come. */
  failed = false;
  /**
   * Sees each item as it arrives, while nothing is queued, and may take it
   * (true) instead of queueing it: a subscriber handling its events in the
   * data callback pays no promise per event (see Client.subscription).
   */
  tap: ((item: Item) => boolean) | null = null;

  constructor(private readonly flow: Flow) {}

  push(item: Item): void {
    if (this.failed) return;
    if (this.tap && this.items.length === 0 && this.tap(item)) return;
    if (item.t === "err") this.failed = true;
    const n = item.t === "err" ? 0 : item.payload.length;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(item);
      return;
    }
    this.flow.account(n);
    this.items.push(item);
  }

  next(): Promise<Item> {
    const item = this.items.shift();
    if (item) {
      if (item.t !== "err") this.flow.account(-item.payload.length);
      return Promise.resolve(item);
    }
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /** Drops queued items (the caller gave up on the stream). */
  drain(): void {
    for (const i of this.items) if (i.t !== "err") this.flow.account(-i.payload.length);
    this.items = [];
  }
}
