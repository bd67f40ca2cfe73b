// `clip apps` shows what is connected now and the long-lived sessions that
// left (watches, follows, shells, chats, libraries); one-shot commands that
// left are counted in one line unless --all lists them; --json keeps all,
// each marked by `oneShot`. The client says what it is in its hello
// (`once`), and a session that opens a follow or a watch is long-lived
// whatever it said.

import { describe, expect, test } from "bun:test";
import { connect } from "../../src/index.ts";
import type { AppInfo, AppsReport } from "../../src/protocol/messages.ts";
import { spawnClip, startServer, waitFor } from "../helpers/clip.ts";

describe("apps", () => {
  test("apps - one-shot commands are a count unless --all; follows, watches, shells, libraries are listed; --json has both, marked", async () => {
    await using s = await startServer({ memory: true });
    const addr = `unix:${s.socket}`;
    const S = (await s.run(["group", "create", "app"])).text.trim();
    for (let i = 0; i < 6; i++) expect((await s.run(["list"])).code).toBe(0);
    expect((await s.run(["copy", "1"], { stdin: "x" })).code).toBe(0);

    // Long-lived: a follow (a one-shot command that opened something that lasts), a kv watch, a shell, a library.
    const follow = spawnClip(["wait", "3", "--follow", "--server", addr]);
    const watch = spawnClip(["kv", "watch", "-g", "app", "k", "--server", addr], { env: { CLIP_SECRET: S } });
    const sh = spawnClip(["shell", "--server", addr], { stdin: "pipe" });
    const shIn = sh.proc.stdin as import("bun").FileSink;
    shIn.write("copy 2 from the shell\n");
    shIn.flush();
    const lib = await connect({ server: addr, name: "tester" });
    await lib.list();
    const report = async (): Promise<AppsReport> => JSON.parse((await s.run(["apps", "--json"])).text);
    await waitFor(async () => {
      const r = await report();
      return r.apps.some((a) => a.watches.includes("region 3")) && r.apps.some((a) => a.watches.includes("app/k")) && r.apps.some((a) => a.name === "shell");
    }, 10_000, "the follow, the watch and the shell");
    for (const p of [follow, watch]) {
      p.proc.kill("SIGINT");
      await p.exited();
    }
    shIn.end();
    expect(await sh.exited()).toBe(0);
    lib.close();

    // group create, 6 lists, a copy and the 4 `apps --json` at most, as they end: one-shot.
    const done = await waitFor(async () => {
      const r = await report();
      return r.left.filter((a) => !a.oneShot).length === 4 && r.apps.length === 1 ? r : null;
    }, 10_000, "the four long-lived sessions to have left");
    const lasting = done.left.filter((a) => !a.oneShot);
    const by = (f: (a: AppInfo) => boolean) => lasting.find(f);
    expect(by((a) => a.pid === follow.proc.pid)).toMatchObject({ kind: "cli", oneShot: false, watches: ["region 3"] });
    expect(by((a) => a.pid === watch.proc.pid)).toMatchObject({ kind: "cli", oneShot: false, watches: ["app/k"], groups: ["app"] });
    expect(by((a) => a.pid === sh.proc.pid)).toMatchObject({ kind: "cli", name: "shell", oneShot: false });
    expect(by((a) => a.kind === "lib")).toMatchObject({ pid: process.pid, name: "tester", oneShot: false });
    // --json keeps the one-shot commands, marked.
    const oneShots = done.left.filter((a) => a.oneShot);
    expect(oneShots.length).toBeGreaterThanOrEqual(8);
    expect(done.oneShotsLeft).toBe(oneShots.length);
    expect(done.apps[0]).toMatchObject({ self: true, oneShot: true });

    // Text: the live list, the long-lived departures, one line for the one-shot commands.
    const text = (await s.run(["apps"])).text;
    const departures = text.slice(text.indexOf("left in the last hour:"));
    const rows = departures.split("\n").slice(2).filter((l) => /^\d/.test(l));
    expect(rows.length).toBe(4);
    expect(departures).toMatch(/\bcli shell\b/);
    expect(departures).toMatch(/\blib tester\b/);
    expect(departures).toContain("region 3");
    const n = done.oneShotsLeft + 1; // the `apps --json` that fetched `done` has left too
    expect(text).toMatch(new RegExp(`\\nand ${n} one-shot commands in the last hour; --all lists them\\n$`));
    // --all lists them.
    const all = (await s.run(["apps", "--all"])).text;
    const allRows = all.slice(all.indexOf("left in the last hour:")).split("\n").filter((l) => /^\d/.test(l));
    expect(allRows.length).toBe(4 + n + 1);
    expect(all).not.toContain("--all lists them");
  }, 60_000);
});
