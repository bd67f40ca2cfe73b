// The always-on slice of `npm run fuzz`: a few thousand hostile frames at a
// live server on its unix socket and on TCP (before and after the token
// proof), then the server must still be up, answer exactly, and hold its
// memory. Plus one test per finding, so it stays fixed.

import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { HostileParent, MORE_OPS, fuzz } from "../../bench/fuzz.ts";
import { connect } from "../../src/index.ts";
import { RawConn, alive, loggedTcpPort, rssKb } from "../../bench/harness.ts";
import { FrameType, encodeFrame } from "../../src/protocol/frame.ts";
import { startServer, tempDir, waitFor } from "../helpers/clip.ts";

async function tcpServer(dir: string) {
  writeFileSync(`${dir}/token`, "fuzz-test-token", { mode: 0o600 });
  const srv = await startServer({ dir, args: ["--listen", "tcp:127.0.0.1:0", "--token-file", `${dir}/token`] });
  return { srv, port: loggedTcpPort(srv.stderr()), token: "fuzz-test-token" };
}

describe("fuzz", () => {
  test("fuzz - 2,000 hostile frames on unix and TCP: no crash, still answers, memory bounded", async () => {
    using dir = tempDir("fz");
    const { srv, port, token } = await tcpServer(String(dir));
    await using _ = srv;
    for (const seed of [11, 12]) {
      const r = await fuzz({ seed, frames: 1000, timeMs: 20_000, ops: MORE_OPS, pid: srv.pid, unix: srv.socket, tcp: { host: "127.0.0.1", port }, token });
      expect(r.crashes).toBe(0);
      expect(r.checkFailures).toEqual([]);
      expect(r.frames).toBeGreaterThanOrEqual(1000);
      // Not a speed figure: a leak of a few KB per frame would pass 300 MiB.
      expect(r.peakRssKb).toBeLessThan(300 * 1024);
    }
  }, 60_000);

  test("fuzz - a claimed copy size of 1 GiB is not allocated up front", async () => {
    await using srv = await startServer({ memory: true });
    const before = rssKb(srv.pid);
    const conns: RawConn[] = [];
    for (let c = 0; c < 4; c++) {
      const conn = await RawConn.open({ unix: srv.socket });
      expect(await conn.handshake()).toBe(true);
      // 16 uploads per connection, each announcing 1 GiB and sending 1 byte.
      for (let id = 1; id <= 16; id++) conn.write(encodeFrame(FrameType.REQ, id, { op: "copy", r: 1, size: 2 ** 30 - 1 }, new Uint8Array([1]), false));
      expect((await conn.call(99, { op: "list" }))?.type).toBe(FrameType.RES);
      conns.push(conn);
    }
    // 64 GiB announced; a server that believed the sizes would hold them (or die).
    expect(rssKb(srv.pid) - before).toBeLessThan(256 * 1024);
    for (const c of conns) c.end();
    expect((await srv.run(["list"])).code).toBe(0);
  });

  test("fuzz - a child joined to a hostile parent survives 15 mangled join streams and still answers", async () => {
    using dir = tempDir("fzp");
    writeFileSync(`${dir}/token`, "parent-token", { mode: 0o600 });
    let pid = 0;
    const parent = new HostileParent({ seed: 21, cases: 15, timeMs: 30_000, token: "parent-token", childPid: () => pid });
    const port = parent.listen();
    await using child = await startServer({ dir: String(dir), memory: true, args: ["--connect", `tcp:127.0.0.1:${port}`, "--token-file", `${dir}/token`] });
    pid = child.pid;
    await parent.finished;
    parent.stop();
    expect(parent.report.crashes).toBe(0);
    expect(parent.report.cases).toBeGreaterThanOrEqual(15);
    expect(alive(child.pid)).toBe(true);
    // With the parent gone it is a root again, and does its job.
    const c = await connect({ server: `unix:${child.socket}` });
    await waitFor(async () => (await c.status()).role === "root", 10_000, "the child to be a root again");
    await c.copy(9, "after the storm");
    expect(new TextDecoder().decode(await c.paste(9))).toBe("after the storm");
    c.close();
  }, 50_000);

  test("fuzz - after 1,500 hostile frames on an in-process server, no session or open request is left behind", async () => {
    const { openRequests } = await import("../../src/server/session.ts");
    const { startServer: serve } = await import("../../src/server/serve.ts");
    const { silentLogger } = await import("../../src/server/log.ts");
    using dir = tempDir("lk");
    const srv = await serve({ socket: `${dir}/s.sock`, dataDir: `${dir}/data`, maxSize: 1 << 30, log: silentLogger, listen: ["tcp:127.0.0.1:0"], token: "tk" });
    try {
      const a = srv.addresses[1];
      const port = a.kind === "tcp" ? a.port : 0;
      const before = openRequests();
      const r = await fuzz({ seed: 5, frames: 1500, timeMs: 30_000, ops: MORE_OPS, pid: process.pid, unix: `${dir}/s.sock`, tcp: { host: "127.0.0.1", port }, token: "tk" });
      expect(r.crashes).toBe(0);
      expect(r.checkFailures).toEqual([]);
      // A leak here would end, one day, in BUSY for everyone (maxOpenTotal).
      await waitFor(() => srv.node.sessions.size === 0 && openRequests() === before, 10_000, "every session and request to end");
    } finally {
      await srv.stop();
    }
  }, 40_000);
});
