// Slow and idle clients: many idle connections, a reader that stops reading,
// a waiter that never reads, a handshake that never finishes, and the limit
// on connections. Each is bounded (queue limit, timeout, connection limit)
// and never grows the server's memory without end.

import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { RawConn, fdCount, loggedTcpPort, rssKb } from "../../bench/harness.ts";
import { connect } from "../../src/index.ts";
import { FrameType, encodeFrame } from "../../src/protocol/frame.ts";
import { BIN, clip, startServer, tempDir, waitFor } from "../helpers/clip.ts";

async function openMany(socket: string, n: number, handshake: boolean): Promise<RawConn[]> {
  const out: RawConn[] = [];
  while (out.length < n) {
    try {
      const c = await RawConn.open({ unix: socket });
      if (handshake && !(await c.handshake())) throw new Error("handshake failed");
      out.push(c);
    } catch (e) {
      // The listen backlog is short: let the accept loop catch up.
      if (String(e).includes("handshake")) throw e;
      await Bun.sleep(5);
    }
  }
  return out;
}

describe("slow clients", () => {
  test("slow - 1,000 idle connections are held while copy and paste still answer", async () => {
    await using srv = await startServer({ memory: true });
    const conns = await openMany(srv.socket, 1000, true);
    try {
      expect((await srv.run(["copy", "2"], { stdin: "still here" })).code).toBe(0);
      expect((await srv.run(["paste", "2"])).text).toBe("still here");
      expect(conns.filter((c) => c.closed)).toHaveLength(0);
    } finally {
      for (const c of conns) c.end();
    }
  });

  test("slow - past the connection limit a newcomer is refused with a reason, and the server goes on", async () => {
    await using srv = await startServer({ memory: true, env: { CLIP_MAX_CONNECTIONS: "100" } });
    const conns = await openMany(srv.socket, 100, true);
    try {
      const r = await srv.run(["list"]);
      expect(r.stderr).toMatch(/^clip: .*limit of 100 connections/);
      conns.pop()!.end();
      await waitFor(async () => (await srv.run(["list"])).code === 0, 10_000, "a slot to free up");
    } finally {
      for (const c of conns) c.end();
    }
  });

  test("slow - handshakes that never finish give way to a real client, and are cut after the timeout", async () => {
    await using srv = await startServer({ memory: true, env: { CLIP_MAX_CONNECTIONS: "100" } });
    // Slowloris: connections that send half a header and nothing more.
    const loris = await openMany(srv.socket, 100, false);
    for (const c of loris) c.write(new Uint8Array([0, 0, 0]));
    try {
      const r = await srv.run(["list"]);
      expect(r.code).toBe(0);
      expect(loris.filter((c) => c.closed).length).toBeGreaterThanOrEqual(1);
      // Those left are closed by the 10 s handshake deadline.
      await waitFor(() => loris.every((c) => c.closed), 20_000, "the handshake deadline");
    } finally {
      for (const c of loris) c.end();
    }
  }, 30_000);

  test("slow - a reader that stops reading is cut off or held back, not buffered without end", async () => {
    await using srv = await startServer({});
    expect((await srv.run(["copy", "1"], { stdin: new Uint8Array(1 << 20).fill(7) })).code).toBe(0);
    const before = rssKb(srv.pid);
    const conns: RawConn[] = [];
    try {
      for (let i = 0; i < 8; i++) {
        const c = await RawConn.open({ unix: srv.socket });
        expect(await c.handshake()).toBe(true);
        c.stopReading();
        // 500 MiB asked for on each connection, none of it read.
        for (let id = 1; id <= 500; id++) c.write(encodeFrame(FrameType.REQ, id, { op: "paste", r: 1 }));
        conns.push(c);
      }
      await Bun.sleep(500);
      // Per connection the queue is bounded (64 MiB); 4 GiB was asked for.
      expect(rssKb(srv.pid) - before).toBeLessThan(8 * 80 * 1024);
      const c = await connect({ server: `unix:${srv.socket}` });
      expect((await c.paste(1)).length).toBe(1 << 20);
      c.close();
    } finally {
      for (const c of conns) c.end();
    }
  });

  test("slow - a waiter that never reads is cut off after a bounded backlog of events", async () => {
    await using srv = await startServer({});
    const c = await RawConn.open({ unix: srv.socket });
    try {
      expect(await c.handshake()).toBe(true);
      c.write(encodeFrame(FrameType.REQ, 5, { op: "wait", r: 4, follow: true }));
      await Bun.sleep(100);
      c.stopReading();
      const lib = await connect({ server: `unix:${srv.socket}` });
      const before = rssKb(srv.pid);
      const value = new Uint8Array(256 << 10).fill(1);
      for (let i = 0; i < 300; i++) await lib.copy(4, value);
      // 75 MiB of events were due; the waiter's backlog is bounded, so is memory.
      expect(rssKb(srv.pid) - before).toBeLessThan(200 * 1024);
      expect((await lib.paste(4)).length).toBe(256 << 10);
      lib.close();
    } finally {
      c.end();
    }
  });

  test("slow - an idle TCP client is kept, with keepalive on to find a peer gone without a FIN", async () => {
    using dir = tempDir("ka");
    writeFileSync(`${dir}/token`, "keepalive-token", { mode: 0o600 });
    await using srv = await startServer({ memory: true, args: ["--listen", "tcp:127.0.0.1:0", "--token-file", `${dir}/token`] });
    const port = loggedTcpPort(srv.stderr());
    const c = await RawConn.open({ host: "127.0.0.1", port });
    try {
      expect(await c.handshake("keepalive-token")).toBe(true);
      // Half-open peers cannot be made on loopback (the kernel always answers),
      // so check the server's side of the socket carries the keepalive timer.
      const ss = await waitFor(() => {
        const out = Bun.spawnSync(["ss", "-tno", "state", "established", `( sport = :${port} )`]).stdout.toString();
        return out.includes("keepalive") ? out : "";
      }, 5000, "a keepalive timer on the server's socket");
      expect(ss).toMatch(/timer:\(keepalive/);
      expect(c.closed).toBe(false);
    } finally {
      c.end();
    }
  });

  test("slow - requests open across all connections are bounded: past the bound BUSY, below it service again", async () => {
    const { SESSION_LIMITS } = await import("../../src/server/limits.ts");
    const { startServer: serve } = await import("../../src/server/serve.ts");
    const { silentLogger } = await import("../../src/server/log.ts");
    using dir = tempDir("ot");
    const srv = await serve({ socket: `${dir}/s.sock`, dataDir: null, maxSize: 1 << 20, log: silentLogger });
    const saved = SESSION_LIMITS.maxOpenTotal;
    SESSION_LIMITS.maxOpenTotal = 300;
    const conns: RawConn[] = [];
    try {
      // 3 connections × 200 waits: each within its own limit, 600 in all.
      for (let i = 0; i < 3; i++) {
        const c = await RawConn.open({ unix: `${dir}/s.sock` });
        expect(await c.handshake()).toBe(true);
        for (let id = 1; id <= 200; id++) c.write(encodeFrame(FrameType.REQ, id, { op: "wait", r: 1 }));
        conns.push(c);
      }
      await waitFor(() => conns.reduce((n, c) => n + c.frames.filter((f) => f.type === FrameType.ERR && f.meta.code === "BUSY").length, 0) === 300, 10_000, "300 BUSY answers");
      conns.shift()!.end();
      const c = await connect({ server: `unix:${dir}/s.sock` });
      await waitFor(async () => (await c.list().then(() => true, () => false)), 10_000, "room again");
      c.close();
    } finally {
      SESSION_LIMITS.maxOpenTotal = saved;
      for (const c of conns) c.end();
      await srv.stop();
    }
  });

  test("slow - waiters that never read cannot pin a descriptor per pending value (4,000 waits, file-backed values)", async () => {
    await using srv = await startServer({});
    const conns: RawConn[] = [];
    try {
      for (let k = 0; k < 4; k++) {
        const c = await RawConn.open({ unix: srv.socket });
        expect(await c.handshake()).toBe(true);
        const parts: Uint8Array[] = [];
        for (let id = 1; id <= 1000; id++) parts.push(encodeFrame(FrameType.REQ, id, { op: "wait", r: 4, follow: true }));
        c.write(Buffer.concat(parts));
        conns.push(c);
      }
      await waitFor(async () => (await srv.run(["status", "--json"])).code === 0);
      for (const c of conns) c.stopReading();
      // 100 KB values live in files; each pending event used to hold its file open.
      const lib = await connect({ server: `unix:${srv.socket}` });
      for (let i = 0; i < 40; i++) await lib.copy(4, new Uint8Array(100_000 + i));
      expect(fdCount(srv.pid)).toBeLessThan(2048 + 64);
      expect((await lib.paste(4)).length).toBe(100_039);
      lib.close();
      const r = await srv.run(["copy", "6"], { stdin: new Uint8Array(200_000) });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
    } finally {
      for (const c of conns) c.end();
    }
  });

  test("slow - past the bound on open value files, the slowest reader is cut and its files freed; writes and pastes go on", async () => {
    const { SESSION_LIMITS } = await import("../../src/server/limits.ts");
    const { openValueFiles } = await import("../../src/server/values.ts");
    const { startServer: serve } = await import("../../src/server/serve.ts");
    const { silentLogger } = await import("../../src/server/log.ts");
    using dir = tempDir("vf");
    const srv = await serve({ socket: `${dir}/s.sock`, dataDir: `${dir}/data`, maxSize: 1 << 30, log: silentLogger });
    const saved = SESSION_LIMITS.maxOpenValueFiles;
    SESSION_LIMITS.maxOpenValueFiles = 5;
    const slow = await RawConn.open({ unix: `${dir}/s.sock` });
    try {
      expect(await slow.handshake()).toBe(true);
      slow.write(encodeFrame(FrameType.REQ, 7, { op: "wait", r: 4, follow: true }));
      await waitFor(() => srv.node.watchers.count("r/4") === 1);
      slow.stopReading();
      const lib = await connect({ server: `unix:${dir}/s.sock` });
      // 1 MiB each: past the connection's send room (4 MiB), later values wait with their file open.
      for (let i = 0; i < 30; i++) await lib.copy(4, new Uint8Array((1 << 20) + i).fill(i));
      // Cut: its watch is gone, its files closed, so later writes no longer queue for it.
      await waitFor(() => srv.node.watchers.count("r/4") === 0, 5000, "the slow watcher to be cut");
      await waitFor(() => openValueFiles() === 0, 5000, "its value files to close");
      expect(slow.closed || srv.node.sessions.size === 1).toBe(true);
      expect((await lib.paste(4)).length).toBe((1 << 20) + 29);
      lib.close();
    } finally {
      SESSION_LIMITS.maxOpenValueFiles = saved;
      slow.end();
      await srv.stop();
    }
  });

  test("slow - unfinished uploads cannot take every descriptor: past the share for staged files, BUSY; new clients still get in", async () => {
    using dir = tempDir("up");
    // A small descriptor limit for this server only, so the budget is reached fast.
    const proc = Bun.spawn(["bash", "-c", `ulimit -n 300; exec "${BIN}" serve --socket ${dir}/s.sock --data ${dir}/data`], { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
    const conns: RawConn[] = [];
    try {
      await waitFor(async () => (await clip(["list", "-s", `${dir}/s.sock`], { timeoutMs: 3000 })).code === 0);
      let busy = 0;
      for (let i = 0; i < 20; i++) {
        const c = await RawConn.open({ unix: `${dir}/s.sock` });
        expect(await c.handshake()).toBe(true);
        // 16 uploads announcing 512 MiB each (staged in files), sending 10 bytes, never finishing.
        for (let id = 1; id <= 16; id++) c.write(encodeFrame(FrameType.REQ, id, { op: "copy", r: 1, size: 1 << 29 }, new Uint8Array(10), false));
        expect(await c.until(() => false, 20)).toBe(false);
        busy += c.frames.filter((f) => f.type === FrameType.ERR && f.meta.code === "BUSY").length;
        conns.push(c);
      }
      expect(busy).toBeGreaterThan(0);
      const r = await clip(["copy", "2", "-s", `${dir}/s.sock`], { stdin: "still in", timeoutMs: 5000 });
      expect(r.code).toBe(0);
      expect((await clip(["paste", "2", "-s", `${dir}/s.sock`], { timeoutMs: 5000 })).text).toBe("still in");
    } finally {
      for (const c of conns) c.end();
      proc.kill(9);
      await proc.exited;
    }
  });

  test("slow - a client pointed at something that accepts but never answers gives up with exit 3, not a hang", async () => {
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const r = await clip(["list", "-s", `tcp:127.0.0.1:${silent.port}`], { timeoutMs: 30_000, env: { CLIP_TOKEN: "x" } });
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/^clip: no answer from tcp:127\.0\.0\.1:\d+ .*clip server/);
    } finally {
      silent.stop(true);
    }
  }, 40_000);

  test("slow - a client pointed at a web server says it is not a clip server, in one line", async () => {
    const http = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open(sock) { sock.write("HTTP/1.1 400 Bad Request\r\n\r\n"); sock.end(); }, data() {} } });
    try {
      const r = await clip(["list", "-s", `tcp:127.0.0.1:${http.port}`], { timeoutMs: 20_000, env: { CLIP_TOKEN: "x" } });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/^clip: tcp:127\.0\.0\.1:\d+ sent bytes that are not clip's protocol \(is it a clip server\?\)/);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    } finally {
      http.stop(true);
    }
  });
});
