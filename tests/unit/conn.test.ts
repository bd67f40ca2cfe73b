// SocketConn's write coalescing: frames sent in one run of the event loop
// (including replies that finish after an await in a data callback) leave
// in one write, before the loop waits for I/O again. Driven by a fake socket.

import { describe, expect, test } from "bun:test";
import { type RawSocket, SocketConn } from "../../src/net/conn.ts";

class FakeSocket implements RawSocket {
  writes: Uint8Array[] = [];
  write(data: Uint8Array): number {
    this.writes.push(data.slice());
    return data.length;
  }
  end(): void {}
}

const bytes = (...xs: number[]) => Uint8Array.from(xs);

describe("conn coalescing", () => {
  test("conn - frames sent in one tick leave in one write, in order", async () => {
    const sock = new FakeSocket();
    const conn = new SocketConn(sock, "unix", "test");
    conn.send(bytes(1, 2));
    conn.send(bytes(3));
    conn.send(bytes(4, 5, 6));
    expect(sock.writes.length).toBe(0); // not yet: the tick may send more
    await Bun.sleep(0);
    expect(sock.writes.map((w) => [...w])).toEqual([[1, 2, 3, 4, 5, 6]]);
    expect(conn.queued).toBe(0);
  });

  test("conn - replies one await deep in a data callback join the sync replies' write", async () => {
    const sock = new FakeSocket();
    const conn = new SocketConn(sock, "unix", "test");
    conn.handler = {
      data(chunk) {
        conn.send(bytes(chunk[0])); // answered at once
        (async () => {
          await Promise.resolve(); // a handler awaiting an answer that is already there
          conn.send(bytes(chunk[0] + 100));
          await Promise.resolve();
          await Promise.resolve();
          conn.send(bytes(chunk[0] + 200)); // deeper: the next write, still in this tick
        })();
      },
      closed() {},
    };
    conn.onData(bytes(1));
    expect(sock.writes.length).toBe(0);
    await Bun.sleep(0);
    expect(sock.writes.map((w) => [...w])).toEqual([[1, 101], [201]]);
  });

  test("conn - a frame sent alone is written before the next macrotask; a closed conn drops sends", async () => {
    const sock = new FakeSocket();
    const conn = new SocketConn(sock, "unix", "test");
    conn.send(bytes(7));
    await Bun.sleep(0);
    expect(sock.writes.map((w) => [...w])).toEqual([[7]]);
    conn.close();
    expect(conn.send(bytes(8))).toBe(false);
    await Bun.sleep(0);
    expect(sock.writes.length).toBe(1);
  });
});
