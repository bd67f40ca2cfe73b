// A server told to --connect to itself: refused at start-up (exit 2) when the
// address is provably its own listener; when only the handshake can tell
// (its own id answers, here through a forwarding port), said once and never
// dialed again.

import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { clip, startServer, tempDir, waitFor } from "../helpers/clip.ts";
import { freePort } from "../helpers/tree.ts";

describe("tree - itself as parent", () => {
  test("tree - --connect to its own listener is refused at start-up with exit 2: same address, a wildcard listener, a unix path", async () => {
    using d = tempDir();
    const socket = join(String(d), "s.sock");
    const port = freePort();
    const cases: [string[], string][] = [
      [["--listen", `tcp:127.0.0.1:${port}`, "--connect", `127.0.0.1:${port}`], `tcp:127.0.0.1:${port}`],
      [["--listen", `tcp:0.0.0.0:${port}`, "--connect", `tcp:localhost:${port}`], `tcp:0.0.0.0:${port}`],
      [["--listen", `tcp:[::1]:${port}`, "--connect", `tcp:[::1]:${port}`], `tcp:[::1]:${port}`],
      [["--connect", `unix:${socket}`], `unix:${socket}`],
    ];
    for (const [args, own] of cases) {
      const r = await clip(["serve", "--socket", socket, "--memory", "--insecure", ...args], { timeoutMs: 10_000 });
      if (/::1/.test(own) && /address not available|EADDRNOTAVAIL|cannot listen/i.test(r.stderr)) continue; // no IPv6 loopback here
      expect(r.stderr).toMatch(new RegExp(`^clip: --connect \\S+ is this server's own listener \\(${own.replace(/[[\]]/g, "\\$&")}\\): a server cannot be its own parent; give another server's address \\(see clip serve --help\\)\\n$`));
      expect(r.code).toBe(2);
      expect(existsSync(socket)).toBe(false);
    }
  }, 60_000);

  test("tree - an address that turns out to be itself (its own id in the handshake) is said once and not dialed again", async () => {
    const port = freePort();
    // A forwarding port: nothing at start-up proves it leads back to the server.
    let dials = 0;
    const proxy = Bun.listen<{ peer?: import("bun").Socket<unknown>; early: Uint8Array[] }>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(client) {
          dials++;
          client.data = { early: [] };
          Bun.connect({
            hostname: "127.0.0.1",
            port,
            socket: {
              open(server) {
                client.data.peer = server;
                for (const c of client.data.early) server.write(c);
              },
              data: (_s, chunk) => void client.write(chunk),
              close: () => void client.end(),
              error: () => void client.end(),
            },
          }).catch(() => client.end());
        },
        data(client, chunk) {
          if (client.data.peer) client.data.peer.write(chunk);
          else client.data.early.push(new Uint8Array(chunk));
        },
        close: (client) => void client.data.peer?.end(),
      },
    });
    try {
      await using s = await startServer({ memory: true, name: "me", args: ["--listen", `tcp:127.0.0.1:${port}`, "--connect", `127.0.0.1:${proxy.port}`, "--insecure"] });
      await waitFor(() => /warn +not joining: every --connect address is this server itself; it stays the root/.test(s.stderr()), 15_000, "the server to give up on itself");
      const said = s.stderr().match(/cannot join: 127\.0\.0\.1:\d+: that address is this server itself \(its own id answered\); not dialing it again/g) ?? [];
      expect(said.length).toBe(1);
      expect(dials).toBe(1);
      const st = JSON.parse((await s.run(["status", "--json"])).text);
      expect(st).toMatchObject({ role: "root", upstream: "none" });
      expect((await s.run(["status"])).text).toMatch(/\nparent {6}-\n/);
    } finally {
      proxy.stop(true);
    }
  }, 60_000);
});
