// clip chat: many named clients in a room, on one server and across a tree;
// lines in order, joins and leaves, nothing kept, slow readers cut off.

import { describe, expect, test } from "bun:test";
import { connect } from "../../src/index.ts";
import { BIN, spawnClip, startServer, tempDir, waitFor } from "../helpers/clip.ts";
import { haveScript, onTerminal } from "../helpers/terminal.ts";
import { TreeFixture } from "../helpers/tree.ts";

function chatter(server: string, room: string, name: string) {
  const p = spawnClip(["chat", room, "--name", name, "--server", server], { stdin: "pipe" });
  const stdin = p.proc.stdin as import("bun").FileSink;
  return Object.assign(p, {
    say(line: string) {
      stdin.write(`${line}\n`);
      stdin.flush();
    },
    end() {
      stdin.end();
    },
    lines: () => p.text().split("\n").filter(Boolean),
    /** Waits until a line matching `re` has arrived. */
    see: (re: RegExp, what = String(re)) => waitFor(() => p.text().split("\n").some((l) => re.test(l)), 15_000, `${name} to see ${what}`),
  });
}

/** The messages (not joins or leaves) a client saw, as "name: text". */
const messages = (lines: string[]) => lines.filter((l) => /^\d\d:\d\d [^ *]+: /.test(l)).map((l) => l.slice(6));

describe("chat", () => {
  test("chat - three clients on one server: every line, in order, to everyone; joins and leaves", async () => {
    await using s = await startServer({ memory: true });
    const addr = `unix:${s.socket}`;
    await using a = chatter(addr, "lobby", "alice");
    await a.see(/^\d\d:\d\d \* alice joined/);
    await using b = chatter(addr, "lobby", "bob");
    await a.see(/\* bob joined/);
    await using c = chatter(addr, "lobby", "carol");
    await a.see(/\* carol joined/);
    await b.see(/\* carol joined/);
    for (let i = 0; i < 20; i++) a.say(`a${i}`);
    b.say("hello from bob");
    c.say("carol: with a colon");
    for (const x of [a, b, c]) {
      await x.see(/alice: a19$/);
      await x.see(/bob: hello from bob$/);
      await x.see(/carol: carol: with a colon$/);
    }
    for (const x of [a, b, c]) {
      const mine = messages(x.lines()).filter((l) => l.startsWith("alice: "));
      expect(mine).toEqual(Array.from({ length: 20 }, (_, i) => `alice: a${i}`));
    }
    expect(a.lines().some((l) => /^\d\d:\d\d alice: a0$/.test(l))).toBe(true);
    c.end();
    expect(await c.exited()).toBe(0);
    await a.see(/\* carol left$/);
    await b.see(/\* carol left$/);
    a.say("/quit");
    expect(await a.exited()).toBe(0);
    await b.see(/\* alice left$/);
    b.end();
    expect(await b.exited()).toBe(0);
  });

  test("chat - three clients on two servers of a tree see the same lines in the same order", async () => {
    await using t = new TreeFixture();
    const root = await t.add({ name: "root", memory: true });
    const leaf = await t.add({ name: "leaf", connect: ["root"], memory: true });
    await using a = chatter(`unix:${root.socket}`, "ops", "ann");
    await a.see(/\* ann joined/);
    await using b = chatter(`unix:${leaf.socket}`, "ops", "ben");
    await a.see(/\* ben joined \(on leaf\)$/);
    await using c = chatter(`unix:${leaf.socket}`, "ops", "cat");
    for (const x of [a, b, c]) await x.see(/\* cat joined/);
    for (let i = 0; i < 10; i++) {
      a.say(`from-root ${i}`);
      b.say(`from-leaf ${i}`);
    }
    c.say("last");
    for (const x of [a, b, c]) await x.see(/cat: last$/);
    for (const x of [a, b, c]) await x.see(/ann: from-root 9$/);
    for (const x of [a, b, c]) await x.see(/ben: from-leaf 9$/);
    // The root orders the room: all three saw one sequence.
    const seqs = [a, b, c].map((x) => messages(x.lines()));
    expect(seqs[0].length).toBe(21);
    expect(seqs[1]).toEqual(seqs[0]);
    expect(seqs[2]).toEqual(seqs[0]);
    // and each sender's lines kept their order
    expect(seqs[0].filter((l) => l.startsWith("ann:"))).toEqual(Array.from({ length: 10 }, (_, i) => `ann: from-root ${i}`));
    // A one-shot piped chat on the leaf: its own line comes back via the root before it leaves.
    const once = await leaf.run(["chat", "ops", "--name", "dan"], { stdin: "one shot\n" });
    expect(once.code).toBe(0);
    expect(once.text).toMatch(/^\d\d:\d\d dan: one shot$/m);
    await a.see(/dan: one shot$/);
    b.end();
    await a.see(/\* ben left$/);
    for (const x of [a, c]) x.end();
    for (const x of [a, b, c]) expect(await x.exited()).toBe(0);
  });

  test("chat - nothing is kept: a later joiner sees none of what was said before; a line is said only under a name its connection joined with", async () => {
    await using s = await startServer({ memory: true });
    const addr = `unix:${s.socket}`;
    const lib = await connect(addr);
    try {
      await using g = chatter(addr, "r", "ghost");
      await g.see(/\* ghost joined/);
      g.say("boo");
      await g.see(/ghost: boo$/);
      await using a = chatter(addr, "r", "amy");
      await a.see(/\* amy joined/);
      g.say("now");
      await a.see(/ghost: now$/);
      expect(a.text()).not.toContain("boo");
      // Another connection cannot speak as someone in the room, nor as anyone without joining.
      await expect(lib.call("chat.say", { room: "r", name: "amy", text: "impostor" })).rejects.toThrow('not in room "r" as "amy"');
      await expect(lib.call("chat.say", { room: "r", name: "nobody", text: "hi" })).rejects.toThrow('not in room "r" as "nobody"');
      g.say("last");
      await a.see(/ghost: last$/);
      expect(a.text()).not.toContain("impostor");
      const st = await lib.status();
      expect(st.regions).toBe(0);
      expect(st.keys).toBe(0);
      for (const x of [a, g]) x.end();
      for (const x of [a, g]) expect(await x.exited()).toBe(0);
    } finally {
      lib.close();
    }
  });


  test("chat - a line over 4 KiB is refused and the chat goes on; bad names are usage errors", async () => {
    await using s = await startServer({ memory: true });
    const addr = `unix:${s.socket}`;
    await using a = chatter(addr, "r", "amy");
    await a.see(/\* amy joined/);
    a.say("x".repeat(5000));
    a.say("short");
    await a.see(/amy: short$/);
    expect(a.stderr()).toMatch(/clip: line of 5000 bytes refused: the limit is 4096/);
    expect(a.text()).not.toContain("xxxx");
    a.end();
    // Piped, a line that was not sent is not a success.
    expect(await a.exited()).toBe(2);
    expect(a.stderr()).toMatch(/\nclip: chat: 1 line was not sent \(see above\)\n$/);
    // The server refuses it too, whoever sends it.
    const lib = await connect(addr);
    try {
      await expect(lib.call("chat.say", { room: "r", name: "amy", text: "y".repeat(4097) })).rejects.toMatchObject({ code: "USAGE" });
      await expect(lib.call("chat.say", { room: "r", name: "amy", text: "two\nlines" })).rejects.toMatchObject({ code: "USAGE" });
    } finally {
      lib.close();
    }
    const bad = await s.run(["chat", "no room", "--name", "x"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^clip: bad room/);
    const badName = await s.run(["chat", "r", "--name", "a b"]);
    expect(badName.code).toBe(2);
    expect(badName.stderr).toMatch(/^clip: bad chat name/);
  });

  test("chat - /help is shown here and never sent; an unknown /command is not sent (exit 2); // sends a line that starts with /", async () => {
    await using s = await startServer({ memory: true });
    const addr = `unix:${s.socket}`;
    await using a = chatter(addr, "r", "amy");
    await a.see(/\* amy joined/);
    const b = await s.run(["chat", "r", "--name", "bob"], { stdin: "/help\n//slash\nhi\n" });
    expect(b.code).toBe(0);
    expect(b.stderr).toContain("/quit, /exit  leave (also Ctrl-D)");
    await a.see(/bob: hi$/);
    expect(messages(a.lines())).toEqual(["bob: /slash", "bob: hi"]);
    const c = await s.run(["chat", "r", "--name", "cy"], { stdin: "/frob\nok\n" });
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/^clip: unknown command \/frob \(\/help lists them; start a line with \/\/ to send one that begins with \/\); not sent\n/);
    expect(c.stderr).toMatch(/clip: chat: 1 line was not sent \(see above\)\n$/);
    await a.see(/cy: ok$/);
    expect(a.text()).not.toMatch(/help|frob/);
    // The fields the root keeps names by are not shown.
    const j = await s.run(["chat", "r", "--name", "dee", "--json"], { stdin: "x\n" });
    expect(j.code).toBe(0);
    const events = j.text.trim().split("\n").map((l) => JSON.parse(l));
    expect(events.map((e) => e.kind)).toEqual(["join", "msg"]);
    for (const e of events) for (const k of ["jid", "sid", "me"]) expect(e).not.toHaveProperty(k);
    a.end();
  });

  test("chat - a name is one person's in a room: a second joiner under it is refused (exit 2), on the same server or across a tree; free again once its holder leaves", async () => {
    await using t = new TreeFixture();
    const root = await t.add({ name: "root", memory: true });
    const leaf = await t.add({ name: "leaf", connect: ["root"], memory: true });
    await using a = chatter(`unix:${root.socket}`, "ops", "ann");
    await a.see(/\* ann joined/);
    for (const s of [root, leaf]) {
      const again = await s.run(["chat", "ops", "--name", "ann"], { stdin: "I am ann too\n" });
      expect(again.code).toBe(2);
      expect(again.stderr).toBe('clip: the name "ann" is taken in room "ops": choose another with --name (see clip chat --help)\n');
    }
    // Another room, another name: both fine.
    expect((await leaf.run(["chat", "dev", "--name", "ann"], { stdin: "hi\n" })).code).toBe(0);
    await using b = chatter(`unix:${leaf.socket}`, "ops", "ben");
    await a.see(/\* ben joined \(on leaf\)$/);
    b.say("from ben");
    await a.see(/ben: from ben$/);
    // The room never saw a second ann.
    expect(a.lines().filter((l) => /\* ann joined/.test(l)).length).toBe(1);
    expect(a.text()).not.toContain("I am ann too");
    a.end();
    expect(await a.exited()).toBe(0);
    await b.see(/\* ann left$/);
    const later = await leaf.run(["chat", "ops", "--name", "ann"], { stdin: "back\n" });
    expect(later.code).toBe(0);
    await b.see(/ann: back$/);
    b.end();

    // A client that joins again under its own id (`me`: after a lost connection) takes its name back; another id may not.
    const one = await connect(`unix:${leaf.socket}`);
    const two = await connect(`unix:${root.socket}`);
    try {
      const first = one.subscribe("chat.join", { room: "lib", name: "zed", me: "zed-1" });
      expect((await first.next()).value?.meta.kind).toBe("joined");
      const other = two.subscribe("chat.join", { room: "lib", name: "zed", me: "someone-else" });
      await expect(other.next()).rejects.toMatchObject({ code: "USAGE", message: 'the name "zed" is taken in room "lib": choose another with --name' });
      const again = two.subscribe("chat.join", { room: "lib", name: "zed", me: "zed-1" });
      expect((await again.next()).value?.meta.kind).toBe("joined");
    } finally {
      one.close();
      two.close();
    }
  }, 60_000);

  test("chat - the server going away ends a piped chat with exit 3 and says so", async () => {
    await using s = await startServer({ memory: true });
    await using a = chatter(`unix:${s.socket}`, "r", "amy");
    await a.see(/\* amy joined/);
    await s.stop("SIGTERM");
    expect(await a.exited()).toBe(3);
    expect(a.stderr()).toMatch(/^clip: chat: .*(shutting down|lost)/m);
    expect(a.stderr()).not.toMatch(/\n\s+at /); // no stack trace
  });

  test("chat - a reader that stops reading is cut off, the room goes on", async () => {
    await using s = await startServer({ memory: true });
    const addr = `unix:${s.socket}`;
    const slow = await connect(addr);
    const talker = await connect(addr);
    try {
      const sub = slow.subscribe("chat.join", { room: "r", name: "sloth" });
      expect((await sub.next()).value?.meta.kind).toBe("joined");
      // The talker speaks under its own name, so it joins (and reads) too.
      const talking = talker.subscribe("chat.join", { room: "r", name: "talker" });
      expect((await talking.next()).value?.meta.kind).toBe("joined");
      (async () => {
        for await (const _ of talking);
      })().catch(() => {});
      // Stop reading the socket: the server's queue towards us grows until it cuts us off.
      (slow.mux as unknown as { conn: { pause(): void; resume(): void } }).conn.pause();
      await using a = chatter(addr, "r", "amy");
      await a.see(/\* amy joined/);
      const line = "z".repeat(4000);
      let cut = false;
      for (let i = 0; i < 5000 && !cut; i++) {
        await talker.call("chat.say", { room: "r", name: "talker", text: `${i} ${line}` });
        if (i % 100 === 99) cut = /sloth left/.test(a.text());
      }
      expect(cut).toBe(true);
      // The others still chat.
      await talker.call("chat.say", { room: "r", name: "talker", text: "still here" });
      await a.see(/talker: still here$/);
      (slow.mux as unknown as { conn: { resume(): void } }).conn.resume();
      let err: unknown;
      try {
        while (!(await sub.next()).done);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: "SLOW" });
      a.end();
      expect(await a.exited()).toBe(0);
    } finally {
      slow.close();
      talker.close();
    }
  });
});

describe("chat at a terminal", () => {
  test.skipIf(!haveScript)("chat - at a terminal, a server that goes away is reported and rejoined when it is back", async () => {
    using dir = tempDir("cr");
    const first = await startServer({ memory: true, dir: String(dir), name: "one" });
    const socket = first.socket;
    await using t = onTerminal(`'${BIN}' chat r --name amy --server 'unix:${socket}'`);
    const seen = () => t.seen();
    await waitFor(() => seen().includes("* amy joined (on one)"), 10_000, "the join");
    await first.stop("SIGTERM");
    await first[Symbol.asyncDispose]();
    await waitFor(() => /clip: chat: .*; reconnecting/.test(seen()), 10_000, "the lost-server notice");
    await using second = await startServer({ memory: true, dir: String(dir), name: "two" });
    await waitFor(() => seen().includes("* amy joined (on two)"), 15_000, "the rejoin");
    t.type("back again\r");
    await waitFor(() => /amy: back again/.test(seen()), 10_000, "the line after the rejoin");
    expect((await second.run(["status", "--json"])).code).toBe(0);
    t.type("/quit\r");
    expect(await t.proc.exited).toBe(0);
  });
});
