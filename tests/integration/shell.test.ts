// clip shell driven through its stdin: one command per line, output in
// order, background watches, and the exit status of the last failure.

import { describe, expect, test } from "bun:test";
import { connect } from "../../src/index.ts";
import { randomBytes, sameBytes, spawnClip, startServer, waitFor } from "../helpers/clip.ts";
import { haveScript, onTerminal } from "../helpers/terminal.ts";

describe("shell", () => {
  test("shell - a script on stdin runs its commands in order", async () => {
    await using s = await startServer({ memory: true, name: "sh1" });
    const script = [
      "# comments and blank lines are skipped",
      "",
      "copy 3 hello   world",
      "paste 3",
      "copy 4 'quoted  text' \"and more\"",
      "paste 4",
      "list --json",
      "status --json",
      "help",
    ].join("\n");
    const r = await s.run(["shell"], { stdin: script });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.text.split("\n");
    // The rest of the line after the region, as typed.
    expect(lines[0]).toBe("hello   world");
    expect(lines[1]).toBe(`'quoted  text' "and more"`);
    const regions = JSON.parse(lines[2]);
    expect(regions[3]).toMatchObject({ region: 3, size: 13, binary: false }); // (a preview folds blanks)
    expect(JSON.parse(lines[3])).toMatchObject({ name: "sh1", regions: 2 });
    expect(r.text).toMatch(/kv watch \[KEY\]/);
    // The shell's writes are real: the CLI sees them.
    expect((await s.run(["paste", "3"])).text).toBe("hello   world");
  });

  test("shell - copy R and kv put KEY take the rest of the line as typed: spaces, backslashes, apostrophes, quotes, #", async () => {
    await using s = await startServer({ memory: true });
    const secret = (await s.run(["group", "create", "g"])).text.trim();
    const values = ["hello  world", "a\\tb", "it's", `say "hi" # not a comment`, "  ends in spaces  "];
    const script = [`use g ${secret}`, ...values.flatMap((v, i) => [`copy ${i} ${v}`, `paste ${i}`, `kv put 'key ${i}' ${v}`, `kv get 'key ${i}'`])].join("\n");
    const r = await s.run(["shell"], { stdin: `${script}\n` });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    // copy 4's value starts at its first non-blank: "ends in spaces  ".
    const typed = values.map((v) => v.replace(/^ +/, ""));
    expect(r.text).toBe(typed.map((v) => `${v}\n${v}\n`).join(""));
    for (const [i, v] of typed.entries()) expect((await s.run(["paste", String(i)])).text).toBe(v);
    expect((await s.run(["kv", "get", "-g", "g", "key 2"], { env: { CLIP_SECRET: secret } })).text).toBe("it's");
    // Flags before the text are flags; `--` starts a text that looks like one.
    const f = await s.run(["shell"], { stdin: "copy 5 --ttl 1h a  b\npaste 5\ncopy 6 -- --json\npaste 6\n" });
    expect(f.text).toBe("a  b\n--json\n");
    expect(JSON.parse((await s.run(["list", "--json"])).text)[5].expires).toBeString();
    // help says how a line is read.
    const h = await s.run(["shell"], { stdin: "help\n" });
    expect(h.text).toContain("After copy R and kv put KEY, the rest of the line is the value exactly as typed");
  });

  test("shell - a value too large to show streams out whole, byte for byte, in a script", async () => {
    await using s = await startServer({ memory: true });
    const big = randomBytes(20 << 20, 11);
    const c = await connect(`unix:${s.socket}`);
    try {
      await c.copy(3, big);
    } finally {
      c.close();
    }
    const r = await s.run(["shell"], { stdin: "paste 3\n" });
    expect(r.code).toBe(0);
    expect(sameBytes(r.stdout, big)).toBe(true);
  });

  test("shell - groups and keys: create, use, put, get, list, del", async () => {
    await using s = await startServer({ memory: true });
    const secret = (await s.run(["group", "create", "app"])).text.trim();
    const r = await s.run(["shell"], {
      stdin: [`use app ${secret}`, "kv put color deep blue", "kv get color", "kv list --json", "kv del color", "kv list --json", "group list --json"].join("\n"),
    });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.text.trim().split("\n");
    expect(lines[0]).toBe("deep blue");
    expect(JSON.parse(lines[1])).toMatchObject([{ key: "color", size: 9 }]);
    expect(JSON.parse(lines[2])).toEqual([]);
    expect(JSON.parse(lines[3])).toMatchObject([{ group: "app" }]);
    // -g/--secret on the command line do the same as `use`.
    const r2 = await s.run(["shell", "-g", "app", "--secret", secret], { stdin: "kv put k v\nkv get k\n" });
    expect(r2.text).toBe("v\n");
    expect(r2.code).toBe(0);
  });

  test("shell - bad lines are reported with their line number; exit status of the last failure", async () => {
    await using s = await startServer({ memory: true });
    const r = await s.run(["shell"], { stdin: "frobnicate\ncopy 12 x\ncopy 1 ok\npaste 1\nkv get k\npast 1\nkv gte k\n" });
    expect(r.text).toBe("ok\n"); // the good lines still ran
    expect(r.stderr).toMatch(/^clip: line 1: unknown command "frobnicate" \(try help\)$/m);
    // The same table as the command line's: a typo is answered with the word meant.
    expect(r.stderr).toMatch(/^clip: line 6: unknown command "past" \(did you mean paste\? try help\)$/m);
    expect(r.stderr).toMatch(/^clip: line 7: usage: kv .*\(not "gte"; did you mean get\?\)$/m);
    expect(r.stderr).toMatch(/^clip: line 2: bad region "12"/m);
    expect(r.stderr).toMatch(/^clip: line 5: no group/m);
    expect(r.code).toBe(2);
    const secret = (await s.run(["group", "create", "g"])).text.trim();
    const missing = await s.run(["shell"], { stdin: `bogus\nuse g ${secret}\nkv get nothing-here\ncopy 1 fine\n` });
    expect(missing.code).toBe(5); // the last failure was the missing key, even though a success followed
    const wrong = await s.run(["shell"], { stdin: "use g not-the-secret\n" });
    expect(wrong.code).toBe(4);
    // A quote left open where words are split (not in a copy's text) is an error that says how lines are read.
    const unterminated = await s.run(["shell"], { stdin: "paste '1\n" });
    expect(unterminated.code).toBe(2);
    expect(unterminated.stderr).toMatch(/^clip: line 1: unterminated ' quote\. After copy R and kv put KEY, the rest of the line is the value exactly as typed/);
    const ok = await s.run(["shell"], { stdin: "quit\nbogus\n" });
    expect(ok.code).toBe(0); // nothing after quit runs
  });

  test("shell - background watches print as changes arrive, and stop on unwatch", async () => {
    await using s = await startServer({ memory: true });
    const addr = `unix:${s.socket}`;
    const secret = (await s.run(["group", "create", "w"])).text.trim();
    await using sh = spawnClip(["shell", "--server", addr, "-g", "w", "--secret", secret], { stdin: "pipe" });
    const stdin = sh.proc.stdin as import("bun").FileSink;
    stdin.write("kv watch color\nwait 7 --follow\nwatches\n");
    stdin.flush();
    await waitFor(() => /\[2\] wait 7 --follow: watching/.test(sh.stderr()), 10_000, "both watches");
    await waitFor(() => /2 +wait 7 --follow/.test(sh.text()), 10_000, "the watches listing");
    const c = await connect(addr);
    try {
      const kv = await c.kv({ group: "w", secret });
      await kv.put("color", "red");
      await waitFor(() => sh.text().includes("[1] color = red"), 10_000, "the put event");
      await c.copy(7, "seven");
      await waitFor(() => sh.text().includes("[2] seven"), 10_000, "the region event");
      await kv.del("color");
      await waitFor(() => sh.text().includes("[1] color deleted"), 10_000, "the del event");
      stdin.write("unwatch 1\nwatches\n");
      stdin.flush();
      const after = () => sh.text().split("color deleted")[1] ?? "";
      await waitFor(() => /^ +2 +wait 7 --follow$/m.test(after()), 10_000, "the listing after unwatch");
      expect(after()).not.toContain("kv watch color");
      await kv.put("color", "green");
      await c.copy(7, "eight");
      await waitFor(() => sh.text().includes("[2] eight"), 10_000, "the second region event");
      expect(sh.text()).not.toContain("green");
    } finally {
      c.close();
    }
    stdin.end();
    expect(await sh.exited()).toBe(0);
  });

  test("shell - a server that goes away fails the next command with exit 3", async () => {
    await using s = await startServer({ memory: true });
    await using sh = spawnClip(["shell", "--server", `unix:${s.socket}`], { stdin: "pipe" });
    const stdin = sh.proc.stdin as import("bun").FileSink;
    stdin.write("copy 1 a\npaste 1\n");
    stdin.flush();
    await waitFor(() => sh.text() === "a\n", 10_000, "the first paste");
    await s.stop("SIGTERM");
    stdin.write("paste 1\n");
    stdin.end();
    expect(await sh.exited()).toBe(3);
    expect(sh.stderr()).toMatch(/^clip: line 3: /m);
    expect(sh.stderr()).not.toMatch(/\n\s+at /);
  });
});

describe("shell at a terminal", () => {
  test.skipIf(!haveScript)("shell - at a terminal: a prompt, and watch events printed above it without losing the typed line", async () => {
    await using s = await startServer({ memory: true, name: "tty" });
    const addr = `unix:${s.socket}`;
    const bin = (await import("../helpers/clip.ts")).BIN;
    await using t = onTerminal(`'${bin}' shell --server '${addr}'`, { XDG_STATE_HOME: String(s.dir) });
    const seen = () => t.seen();
    await waitFor(() => seen().includes("connected to tty") && seen().includes("clip> "), 10_000, "the prompt");
    t.type("wait 5 --follow\r");
    await waitFor(() => /\[1\] wait 5 --follow: watching/.test(seen()), 10_000, "the background watch");
    t.type("paste 5"); // typed, not entered: the event must not eat it
    await waitFor(() => seen().endsWith("paste 5"), 10_000, "the typed text echoed");
    const c = await connect(addr);
    await c.copy(5, "ping");
    c.close();
    // The event line, then the prompt redrawn with the half-typed line.
    await waitFor(() => /\[1\] ping\r?\n(\x1b\[[0-9]*[A-Za-z])*clip> (\x1b\[[0-9]*[A-Za-z])*paste 5/.test(seen()), 10_000, "the event above the prompt");
    t.type("\r");
    await waitFor(() => /paste 5(\x1b\[[0-9]*[A-Za-z])*\r?\r\nping\r\n/.test(seen()), 10_000, "the paste output");
    t.type("quit\r");
    expect(await t.proc.exited).toBe(0);
  });
});
