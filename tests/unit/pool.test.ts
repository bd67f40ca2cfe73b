// FramePool: a frame buffer is handed out again only once every byte of it
// has left the connection's queue, and take() waits (backpressure) while the
// pool's buffers are all still queued.

import { describe, expect, test } from "bun:test";
import type { Conn } from "../../src/net/conn.ts";
import { FramePool } from "../../src/net/pool.ts";

/** A Conn whose kernel takes bytes only when the test says so. */
class FakeConn implements Conn {
  readonly transport = "memory" as const;
  readonly remote = "fake";
  isClosed = false;
  queue: Uint8Array[] = [];
  queued = 0;
  private waiters: { below: number; wake: () => void }[] = [];
  send(frame: Uint8Array): boolean {
    if (this.isClosed) return false;
    this.queue.push(frame);
    this.queued += frame.length;
    return true;
  }
  /** The kernel takes `n` bytes from the head of the queue. */
  take(n: number): void {
    while (n > 0 && this.queue.length > 0) {
      const head = this.queue[0];
      const k = Math.min(n, head.length);
      n -= k;
      this.queued -= k;
      if (k === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(k);
    }
    const ready = this.waiters.filter((w) => this.queued <= w.below);
    this.waiters = this.waiters.filter((w) => this.queued > w.below);
    for (const w of ready) w.wake();
  }
  drained(below = 0): Promise<void> {
    if (this.queued <= below) return Promise.resolve();
    return new Promise((wake) => this.waiters.push({ below, wake }));
  }
  pause(): void {}
  resume(): void {}
  close(): void {
    this.isClosed = true;
  }
}

describe("frame pool", () => {
  test("pool - a buffer is reused only after the queue has passed all of it", async () => {
    const conn = new FakeConn();
    const pool = new FramePool(conn, 100, 2);
    const a = await pool.take();
    pool.send(a, 100);
    const b = await pool.take();
    expect(b).not.toBe(a);
    pool.send(b, 100);
    conn.take(99); // one byte of `a` is still queued
    let third = null as Uint8Array | null;
    const waiting = pool.take().then((buf) => (third = buf));
    await Bun.sleep(0);
    expect(third).toBeNull(); // both buffers still (partly) queued: take() waits
    conn.take(1);
    await waiting;
    expect(third).toBe(a);
  });

  test("pool - bytes of other streams queued after a buffer only delay its reuse", async () => {
    const conn = new FakeConn();
    const pool = new FramePool(conn, 50, 1);
    const a = await pool.take();
    pool.send(a, 50);
    conn.send(new Uint8Array(30)); // someone else's frame behind ours
    conn.take(50);
    // Ours has left, but the pool cannot tell its bytes from the 30 behind them: it waits for those too.
    let next = null as Uint8Array | null;
    const waiting = pool.take().then((buf) => (next = buf));
    await Bun.sleep(0);
    expect(next).toBeNull();
    conn.take(30);
    await waiting;
    expect(next).toBe(a);
  });

  test("pool - a closed connection frees everything", async () => {
    const conn = new FakeConn();
    const pool = new FramePool(conn, 10, 1);
    const a = await pool.take();
    pool.send(a, 10);
    conn.queue = [];
    conn.queued = 0;
    conn.close();
    expect(await pool.take()).toBe(a);
    expect(pool.send(a, 10)).toBe(false);
  });
});
