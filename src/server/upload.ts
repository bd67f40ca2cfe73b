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
  private taken = false;
  private readonly done: Promise<Value>;
  private resolve!: (v: Value) => void;
  private reject!: (e: ClipError) => void;

  constructor(
    readonly stage: Stage,
    private readonly release: (v: Value) => void,
  ) {
    this.done = new Promise((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    this.done.catch(() => {}); // a handler that never asked still must not see an unhandled rejection
  }

  /** The size the sender announced, if it did. */
  get size(): number | undefined {
    return this.stage.expected;
  }

  /** The value, once it has arrived whole; the caller now holds its reference. Rejects if it never does. */
  whole(): Promise<Value> {
    this.taken = true;
    return this.done;
  }

  /** Reads the value as it arrives (to pass it on while it streams in). */
  reader(): ValueSource {
    return this.stage.reader();
  }

  /** @internal The last byte arrived. */
  finish(): void {
    try {
      this.value = this.stage.commit();
      this.resolve(this.value);
    } catch (e) {
      this.reject(e as ClipError);
    }
  }

  /** @internal The value will not arrive whole. */
  fail(err: ClipError): void {
    this.stage.abort(err);
    this.reject(err);
  }

  /** @internal The request is over: a value nobody took is let go. */
  settle(): void {
    if (!this.taken && this.value) this.release(this.value);
    this.value = null;
  }
}
