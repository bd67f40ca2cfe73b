// `clip status` and `clip tree` say what is so: a root has no lag row, the
// rows line up, and the clients counted are the sessions connected now that
// last (watches, follows, shells, libraries), never the one-shot commands
// (`clip tree` itself among them). Server log lines all have one shape:
// TIME NAME LEVEL EVENT: DETAIL.

import { describe, expect, test } from "bun:test";
import { spawnClip, startServer, tcpAddressOf, waitFor } from "../helpers/clip.ts";

/** TIME NAME LEVEL EVENT[: DETAIL], the event a lower-case phrase. */
const LOG_LINE = /^\d{4}-\d\d-\d\dT[0-9:.]+Z \S+ (info |warn |error) [a-z][a-z ]*[a-z](: \S.*)?$/;

interface TreeNode {
  name: string;
  clients: number;
  children?: TreeNode[];
}

describe("status and tree", () => {
  test("status - a root has no lag row, and every row's value starts in the same column", async () => {
    await using s = await startServer({ memory: true });
    expect((await s.run(["copy", "1"], { stdin: "x" })).code).toBe(0);
    const r = await s.run(["status"]);
    expect(r.code).toBe(0);
    const lines = r.text.trimEnd().split("\n");
    expect(lines.find((l) => l.startsWith("lag"))).toBeUndefined();
    expect(r.text).not.toContain("behind the parent");
    expect(lines).toContain("last write  rev 1");
    const column = (l: string) => /^\S+(?: \S+)?\s{2,}/.exec(l)![0].length;
    expect(new Set(lines.map(column)).size).toBe(1);
    const json = JSON.parse((await s.run(["status", "--json"])).text);
    expect(json.lag).toBeUndefined();
    expect(json).toMatchObject({ role: "root", clients: 0, commands: 1 });
  });

  test("tree - counts the live long-lived clients, never one-shot commands; a child's status has lag; log lines have one shape", async () => {
    await using root = await startServer({ memory: true, name: "top", args: ["--listen", "tcp:127.0.0.1:0", "--insecure"] });
    await using kid = await startServer({ memory: true, name: "kid", args: ["--connect", tcpAddressOf(root), "--insecure"] });
    await waitFor(async () => JSON.parse((await kid.run(["status", "--json"])).text).role === "child", 10_000, "the child to join");
    const tree = async (): Promise<TreeNode> => JSON.parse((await root.run(["tree", "--json"])).text).root;

    // One-shot commands still running on the child (waits), and the asking `clip tree` on the root: none count.
    const waits = Array.from({ length: 3 }, () => spawnClip(["wait", "9", "--timeout", "30", "--server", `unix:${kid.socket}`]));
    await waitFor(async () => JSON.parse((await kid.run(["status", "--json"])).text).commands === 4, 10_000, "the waits to connect");
    // A follow lasts: it counts, and its count reaches the root.
    const follow = spawnClip(["wait", "8", "--follow", "--server", `unix:${kid.socket}`]);
    const seen = await waitFor(async () => {
      const t = await tree();
      return t.children?.[0]?.clients ? t : null;
    }, 10_000, "the follow counted in the root's tree");
    expect(seen.clients).toBe(0);
    expect(seen.children![0]).toMatchObject({ name: "kid", clients: 1 });
    expect((await root.run(["tree"])).text).toMatch(/^top \*\s+root\s+tcp:\S+\s+0 clients\s/);
    const st = await kid.run(["status"]);
    expect(st.text).toMatch(/\nlag {9}0 writes behind the parent\n/);
    expect(st.text).toMatch(/\nclients {5}1 \(and 4 one-shot commands running\)\n/);
    // Gone, it is not counted (the root hears of it when it leaves, not at the next beat).
    follow.proc.kill("SIGINT");
    await follow.exited();
    await waitFor(async () => (await tree()).children?.[0]?.clients === 0, 5_000, "the follow to be gone from the count");
    for (const w of waits) {
      w.proc.kill("SIGINT");
      await w.exited();
    }

    // The root goes: the child logs the split. Every line of both servers has the one shape.
    await root.stop("SIGTERM");
    await waitFor(() => /warn +parent lost: top \(tcp:/.test(kid.stderr()), 10_000, "the child to log its lost parent");
    await kid.stop("SIGTERM");
    const lines = (root.stderr() + kid.stderr()).trimEnd().split("\n");
    expect(lines.length).toBeGreaterThan(6);
    for (const line of lines) expect(line).toMatch(LOG_LINE);
    expect(lines.some((l) => / kid info  joined parent: top \(tcp:/.test(l))).toBe(true);
    expect(lines.some((l) => / top info  child joined: kid \(/.test(l))).toBe(true);
  }, 60_000);
});
