// A value arriving with a request (copy, kv.put, a write forwarded up the
// tree). Its handler runs as soon as the request's first frame arrives, not
// when the value is whole: a server with a parent starts passing the value
// up at once (cut-through), reading the stage as it fills. The write itself
// waits for whole(): a value cut short is aborted and never applied anywhere.

import type { ClipError } from "../protocol/errors.ts";
import type { ValueSource } from "../value/source.ts";
import type { Stage, Value } from "./values.ts";

export class Upload {
  private value: Value | null = null;
  private failure: ClipError | null = null;
  private taken = false;
  /** Made only when someone waits before the value is whole: most values arrive in the request's one frame. */
  private waiting: { promise: Promise<Value>; resolve: (v: Value) => void; reject: (e: ClipError) => void } | null = null;

  constructor(
    readonly stage: Stage,
    private readonly release: (v: Value) => void,
  ) {}

  /** The size the sender announced, if it did. */
  get size(): number | undefined {
    return this.stage.expected;
  }

  /** The value, once it has arrived whole; the caller now holds its reference. Rejects if it never does. */
  whole(): Promise<Value> {
    this.taken = true;
    if (this.value) return Promise.resolve(this.value);
    if (this.failure) return Promise.reject(this.failure);
    if (!this.waiting) {
      let resolve!: (v: Value) => void;
      let reject!: (e: ClipError) => void;
      const promise = new Promise<Value>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.waiting = { promise, resolve, reject };
    }
    return this.waiting.promise;
  }

  /**
   * The value now, if it is whole already (the caller then holds its
   * reference), else null: a small value, whole in its request's frame, is
   * taken with no promise.
   */
  take(): Value | null {
    if (!this.value) return null;
    this.taken = true;
    return this.value;
  }

  /** Reads the value as it arrives (to pass it on while it streams in). */
  reader(): ValueSource {
    return this.stage.reader();
  }

  /** @internal The last byte arrived. */
  finish(): void {
    try {
      this.value = this.stage.commit();
      this.waiting?.resolve(this.value);
    } catch (e) {
      this.settleFailure(e as ClipError);
    }
  }

  /** @internal The value will not arrive whole. */
  fail(err: ClipError): void {
    this.stage.abort(err);
    this.settleFailure(err);
  }

  private settleFailure(err: ClipError): void {
    if (this.value || this.failure) return;
    this.failure = err;
    this.waiting?.reject(err);
  }

  /** @internal The request is over: a value nobody took is let go. */
  settle(): void {
    if (!this.taken && this.value) {
      this.taken = true; // released once
      this.release(this.value);
    }
  }
}
