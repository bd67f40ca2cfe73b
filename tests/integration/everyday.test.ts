// The command line as a new user meets it (issue 14): usage errors in our
// words that point at the command's own help, typos answered with the
// command meant, `clip help` and `clip version`, flag values that begin with
// "-", contradictory flags, missing files, secrets that need not be typed on
// the command line, and what a terminal is shown (binary refused, kv get's
// newline and quoting, kv watch's one line per change, the Ctrl-D hint).
// Everything runs the compiled binary; the terminal cases on a real pty
// (script(1), from util-linux/bsdutils, which every Debian has).

import { describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, clip, randomBytes, sameBytes, startServer, tempDir, waitFor } from "../helpers/clip.ts";
import { haveScript, onTerminal } from "../helpers/terminal.ts";

/** A command line run on a terminal to its end: what the terminal showed (\r\n as \n) and the exit status. */
async function onTty(cmd: string, env: Record<string, string | undefined> = {}): Promise<{ code: number; seen: string }> {
  const p = Bun.spawn(["script", "-qec", cmd, "/dev/null"], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, TERM: "xterm", NO_COLOR: "1", ...env } });
  const timer = setTimeout(() => p.kill(9), 30_000);
  const seen = await new Response(p.stdout).text();
  const code = await p.exited;
  clearTimeout(timer);
  return { code, seen: seen.replace(/\r\n/g, "\n") };
}

/** A group and its secret on server `s`. */
async function group(s: Awaited<ReturnType<typeof startServer>>, name = "app"): Promise<string> {
  const r = await s.run(["group", "create", name]);
  expect(r.code).toBe(0);
  return r.text.trim();
}

describe("usage", () => {
  test("usage - a mistyped command is answered with the one meant; clip help and clip version work", async () => {
    const past = await clip(["past", "3"]);
    expect(past.code).toBe(2);
    expect(past.stderr).toBe('clip: unknown command "past" (did you mean paste?)\n');
    const gte = await clip(["kv", "gte", "k"]);
    expect(gte.code).toBe(2);
    expect(gte.stderr).toBe('clip: unknown action "kv gte" (did you mean kv get? see clip kv --help)\n');
    const frob = await clip(["frobnicate"]);
    expect(frob.stderr).toBe('clip: unknown command "frobnicate" (see clip --help)\n');

    // clip help [COMMAND [ACTION]] is that command's --help, word for word.
    for (const [asked, same] of [
      [["help"], ["--help"]],
      [["help", "copy"], ["copy", "--help"]],
      [["help", "kv"], ["kv", "--help"]],
      [["help", "kv", "put"], ["kv", "put", "--help"]],
    ]) {
      const a = await clip(asked);
      expect(a.code, asked.join(" ")).toBe(0);
      expect(a.text.length).toBeGreaterThan(100);
      expect(a.text).toBe((await clip(same)).text);
    }
    const unknown = await clip(["help", "past"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('clip: unknown command "past" (did you mean paste?)\n');
    expect((await clip(["--help"])).text).toMatch(/^ {2}help \[\.\.\.command\] +Help on COMMAND/m);

    const v = await clip(["version"]);
    expect(v.code).toBe(0);
    expect(v.text).toMatch(/^clip\/[0-9]+\.[0-9]+\.[0-9]+ \(protocol [0-9]+\) bun\/\S+ \S+\n$/);
    expect((await clip(["--version"])).text).toBe(v.text);
  });

  test("usage - every usage error is one line in our words, exit 2, pointing at the command's own help", async () => {
    using d = tempDir();
    const env = { CLIP_SERVER: join(String(d), "none.sock") };
    const cases: [string[], string][] = [
      [["paste", "3", "--frob"], "unknown flag --frob (see clip paste --help)"],
      [["list", "--jsn"], "unknown flag --jsn (did you mean --json? see clip list --help)"],
      [["paste", "3", "4"], 'unexpected "4": paste takes REGION (see clip paste --help)'],
      [["list", "x"], 'unexpected "x": list takes no arguments (see clip list --help)'],
      [["paste"], "paste needs REGION (see clip paste --help)"],
      [["group", "info"], "group info needs GROUP (see clip group info --help)"],
      [["kv", "get"], "kv get needs KEY (see clip kv get --help)"],
      [["kv", "get", "k", "-g", "app", "--frob"], "unknown flag --frob (see clip kv get --help)"],
      [["wait", "3", "--timeout"], "--timeout needs a value (see clip wait --help)"],
      [["list", "--json=yes"], "--json takes no value (see clip list --help)"],
      [["copy", "11"], 'bad region "11": a region is an integer from 0 to 9 (see clip copy --help)'],
      [["copy", "-1"], 'bad region "-1": a region is an integer from 0 to 9 (see clip copy --help)'],
      [["--frob"], "--frob is not a command: a command comes first, its flags after it (see clip --help)"],
    ];
    for (const [args, line] of cases) {
      const r = await clip(args, { env });
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toBe(`clip: ${line}\n`);
      expect(r.stdout.length).toBe(0);
    }
  });

  test("usage - a flag's value may begin with -: wait --timeout -1 is a bad timeout, not a bad region", async () => {
    await using s = await startServer({ memory: true });
    for (const t of [["--timeout", "-1"], ["--timeout=-1"]]) {
      const r = await s.run(["wait", "3", ...t]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe('clip: bad --timeout "-1": give seconds, 0 or more, e.g. --timeout 2.5 (see clip wait --help)\n');
    }
    // A value that begins with "-" reaches the command as typed: a key named "-k" (after --) with the value "-1", and --prefix -.
    const S = await group(s);
    const env = { CLIP_SECRET: S, CLIP_GROUP: "app", CLIP_SERVER: `unix:${s.socket}` };
    const put = await clip(["kv", "put", "--json", "--", "-k", "-1"], { env });
    expect(put.code).toBe(0);
    const rev = JSON.parse(put.text).rev;
    const seen = await clip(["kv", "watch", "--prefix", "-", "--since", String(rev - 1), "--count", "1"], { env });
    expect(seen.text).toBe("put -k -1\n");
    const got = await clip(["kv", "get", "--", "-k"], { env });
    expect(got.text).toBe("-1");
  });

  test("usage - contradictory flags are usage errors (exit 2) before anything starts, on the CLI and in the shell", async () => {
    using d = tempDir();
    const sock = join(String(d), "s.sock");
    const serve = await clip(["serve", "--socket", sock, "--data", join(String(d), "data"), "--memory"], { timeoutMs: 15_000 });
    expect(serve.code).toBe(2);
    expect(serve.stderr).toBe("clip: --data and --memory do not go together (see clip serve --help)\n");
    expect(existsSync(sock)).toBe(false);
    expect(existsSync(join(String(d), "data"))).toBe(false);
    // --help says so, from the same table.
    expect((await clip(["serve", "--help"])).text).toMatch(/--data <dir> .*\(not with --memory\)/);
    expect((await clip(["kv", "get", "--help"])).text).toMatch(/--secret-file <file> .*\(not with --secret\)/);

    await using s = await startServer({ memory: true });
    writeFileSync(join(String(d), "secret"), "x\n");
    const cases: [string[], string][] = [
      [["paste", "1", "--rev", "1", "--back", "1"], "--rev and --back do not go together (see clip paste --help)"],
      [["kv", "get", "k", "-g", "a", "--rev", "1", "--back", "1"], "--rev and --back do not go together (see clip kv get --help)"],
      [["wait", "1", "--follow", "--sep", "x", "-0"], "--sep and -0 do not go together (see clip wait --help)"],
      [["wait", "1", "--sep", "x"], "--sep goes with --follow (see clip wait --help)"],
      [["wait", "1", "-0"], "-0 goes with --follow (see clip wait --help)"],
      [["desktop", "1", "--to-desktop", "--from-desktop"], "--to-desktop and --from-desktop do not go together (see clip desktop --help)"],
      [["kv", "get", "k", "-g", "a", "--secret-file", join(String(d), "secret"), "--secret", "x"], "--secret-file and --secret do not go together (see clip kv get --help)"],
    ];
    for (const [args, line] of cases) {
      const r = await s.run(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toBe(`clip: ${line}\n`);
    }
    // The shell reads the same table.
    const sh = await s.run(["shell"], { stdin: "paste 1 --rev 1 --back 1\n" });
    expect(sh.code).toBe(2);
    expect(sh.stderr).toBe("clip: line 1: --rev and --back do not go together\n");
  });
});

describe("files", () => {
  test("files - a missing or unreadable file is exit 1, said in our words (no raw ENOENT)", async () => {
    await using s = await startServer({ memory: true });
    using d = tempDir();
    const none = join(String(d), "none");
    const empty = join(String(d), "empty");
    writeFileSync(empty, "");
    const S = await group(s);
    const cases: [string[], string][] = [
      [["copy", "3", "/no/such/file"], "/no/such/file: no such file"],
      [["copy", "3", String(d)], `${String(d)}: is a directory (try tar c ${String(d)} | clip copy 3)`],
      [["kv", "get", "k", "-g", "app", "--secret-file", none], `cannot read the secret file ${none}: no such file`],
      [["kv", "get", "k", "-g", "app", "--secret-file", empty], `cannot read the secret file ${empty}: it is empty`],
      [["copy", "3", "--encrypt", "--key-file", none], `no key: ${none} does not exist: run clip keygen ${none}`],
    ];
    for (const [args, line] of cases) {
      const r = await s.run(args, { stdin: "x" });
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stderr, args.join(" ")).toBe(`clip: ${line}\n`);
    }
    // Over TCP: the token file, read before connecting.
    const tok = await clip(["paste", "3", "--server", "tcp:127.0.0.1:9", "--token-file", none]);
    expect(tok.code).toBe(1);
    expect(tok.stderr).toBe(`clip: cannot read the token file ${none}: no such file\n`);
    // The server's own files.
    const sock = join(String(d), "s.sock");
    const metrics = await clip(["serve", "--memory", "--socket", sock, "--metrics-token-file", none], { timeoutMs: 15_000 });
    expect(metrics.code).toBe(1);
    expect(metrics.stderr).toContain(`clip: cannot read the metrics token file ${none}: no such file\n`);
    const token = await clip(["serve", "--memory", "--socket", sock, "--token-file", empty], { timeoutMs: 15_000 });
    expect(token.code).toBe(1);
    expect(token.stderr).toContain(`clip: cannot read the token file ${empty}: it is empty\n`);
    expect(existsSync(sock)).toBe(false);
    // Nothing was written by the refused copies.
    expect((await s.run(["paste", "3"])).stdout.length).toBe(0);
    expect(S.length).toBeGreaterThan(10);
  });
});

describe("secrets", () => {
  test("secrets - --secret-file and CLIP_SECRET do not warn, --secret does; the help's examples use the quiet forms", async () => {
    await using s = await startServer({ memory: true });
    using d = tempDir();
    const S = await group(s);
    const file = join(String(d), "app.secret");
    writeFileSync(file, `${S}\n`, { mode: 0o600 });
    const quiet1 = await s.run(["kv", "put", "-g", "app", "--secret-file", file, "color", "blue"]);
    expect([quiet1.code, quiet1.stderr]).toEqual([0, ""]);
    const quiet2 = await s.run(["kv", "get", "-g", "app", "color"], { env: { CLIP_SECRET: S } });
    expect([quiet2.code, quiet2.stderr, quiet2.text]).toEqual([0, "", "blue"]);
    const loud = await s.run(["kv", "get", "-g", "app", "--secret", S, "color"]);
    expect(loud.code).toBe(0);
    expect(loud.stderr).toBe("clip: warning: --secret is visible to other users in the process list; prefer --secret-file or CLIP_SECRET\n");
    // A wrong secret from the file is refused like any other.
    writeFileSync(file, "wrong\n");
    expect((await s.run(["kv", "get", "-g", "app", "--secret-file", file, "color"])).code).toBe(4);
    // The shell takes the file too.
    writeFileSync(file, `${S}\n`);
    const sh = await s.run(["shell", "-g", "app", "--secret-file", file], { stdin: "kv get color\n" });
    expect([sh.code, sh.stderr, sh.text]).toEqual([0, "", "blue\n"]);

    for (const action of ["put", "get", "del", "list", "history", "watch"]) {
      const h = await clip(["kv", action, "--help"]);
      expect(h.text, action).toContain("--secret-file <file>");
      const examples = h.text.slice(h.text.indexOf("Examples:"));
      expect(examples, action).not.toMatch(/--secret /);
    }
  });
});

describe.skipIf(!haveScript)("terminal", () => {
  test("terminal - binary output is refused with one line unless --force or redirected (paste, its fast path, wait, kv get)", async () => {
    await using s = await startServer();
    const bin = randomBytes(3 << 20, 7); // over the handoff threshold: the by-path paste is checked too
    expect((await s.run(["copy", "6"], { stdin: bin })).code).toBe(0);
    expect((await s.run(["copy", "5"], { stdin: randomBytes(50, 3) })).code).toBe(0);
    expect((await s.run(["copy", "4", "--type", "image/png"], { stdin: "PNGish" })).code).toBe(0);
    expect((await s.run(["copy", "3"], { stdin: "hello\n" })).code).toBe(0);
    const at = `--server 'unix:${s.socket}'`;
    const refused = (n: number, type: string) => `clip: binary output (${n} bytes, ${type}) can mess up your terminal; use --force or redirect it\n`;
    for (const [cmd, line] of [
      [`'${BIN}' paste 6 ${at}`, refused(3 << 20, "application/octet-stream")], // by path (handoff) on the unix socket
      [`CLIP_HANDOFF=0 '${BIN}' paste 6 ${at}`, refused(3 << 20, "application/octet-stream")], // streamed
      [`CLIP_SERVER='${s.socket}' '${BIN}' paste 5`, refused(50, "application/octet-stream")], // entry.ts's fast path
      [`'${BIN}' paste 4 ${at}`, refused(6, "image/png")], // the stored type says binary
      [`'${BIN}' paste 5 --rev 2 ${at}`, refused(50, "application/octet-stream")],
    ]) {
      const r = await onTty(cmd);
      expect(r.code, cmd).toBe(1);
      expect(r.seen, cmd).toBe(line);
    }
    // Text is written; --force writes binary; a pipe or a file always gets the bytes.
    expect(await onTty(`'${BIN}' paste 3 ${at}`)).toEqual({ code: 0, seen: "hello\n" });
    const forced = await onTty(`'${BIN}' paste 5 --force ${at} | od -An -tx1 | head -c 12`);
    expect(forced.code).toBe(0);
    expect(forced.seen.trim()).toMatch(/^[0-9a-f]{2} [0-9a-f]{2} /);
    expect((await onTty(`'${BIN}' paste 6 ${at} | wc -c`)).seen.trim()).toBe(String(3 << 20));
    expect((await onTty(`'${BIN}' paste 6 ${at} > /dev/null`)).code).toBe(0);
    const piped = await s.run(["paste", "6"]);
    expect(sameBytes(piped.stdout, bin)).toBe(true);

    // wait: the next write, refused at a terminal.
    const w = onTerminal(`'${BIN}' wait 2 ${at}; echo "rc=$?"`);
    await using _w = w;
    // A wait takes the first write after it began: write until it has taken one.
    await waitFor(async () => {
      await s.run(["copy", "2"], { stdin: randomBytes(20, 9) });
      return /rc=/.test(w.seen());
    }, 10_000, "the wait to end");
    expect(w.seen().replace(/\r\n/g, "\n")).toBe(`${refused(20, "application/octet-stream")}rc=1\n`);

    // kv get: the same rule.
    const S = await group(s);
    expect((await s.run(["kv", "put", "-g", "app", "blob"], { stdin: randomBytes(40, 5), env: { CLIP_SECRET: S } })).code).toBe(0);
    const kv = await onTty(`CLIP_SECRET='${S}' '${BIN}' kv get -g app blob ${at}`);
    expect(kv).toEqual({ code: 1, seen: refused(40, "application/octet-stream") });
  });

  test("terminal - kv get ends text with a newline and quotes control characters there; a pipe gets the bytes exactly", async () => {
    await using s = await startServer({ memory: true });
    const S = await group(s);
    const env = { CLIP_SECRET: S, CLIP_GROUP: "app" };
    const put = (k: string, v: string) => s.run(["kv", "put", k], { stdin: v, env });
    await put("color", "blue");
    await put("multi", "line 1\nline 2\n");
    await put("esc", "a\tb\x1b[31mred\r");
    await put("quote", '"quoted"');
    const at = `CLIP_SECRET='${S}' CLIP_GROUP=app '${BIN}' kv get --server 'unix:${s.socket}'`;
    expect(await onTty(`${at} color`)).toEqual({ code: 0, seen: "blue\n" });
    expect(await onTty(`${at} multi`)).toEqual({ code: 0, seen: "line 1\nline 2\n" });
    expect(await onTty(`${at} esc`)).toEqual({ code: 0, seen: '"a\\tb\\x1b[31mred\\r"\n' });
    expect(await onTty(`${at} quote`)).toEqual({ code: 0, seen: '"\\"quoted\\""\n' });
    // Not a terminal: byte for byte, no newline added, nothing quoted.
    for (const [k, v] of [["color", "blue"], ["esc", "a\tb\x1b[31mred\r"], ["quote", '"quoted"']]) {
      expect((await s.run(["kv", "get", k], { env })).text).toBe(v);
    }
    // Its --help says so.
    expect((await clip(["kv", "get", "--help"])).text).toContain("at a terminal, text ends with a newline");
  });

  test("terminal - kv watch prints one line per change, quoting values and keys that are not one printable line; --json unchanged", async () => {
    await using s = await startServer({ memory: true });
    const S = await group(s);
    const env = { CLIP_SECRET: S, CLIP_GROUP: "app" };
    const put = (k: string, v: string | Uint8Array) => s.run(["kv", "put", k], { stdin: v, env });
    // --since: the watch replays what came after this revision, so it needs no race with the writes.
    const since = JSON.parse((await s.run(["kv", "put", "start", "x", "--json"], { env })).text).rev;
    await put("color", "blue");
    await put("color", "two\nlines");
    await put("bin", new Uint8Array([0, 1, 0xff, 0x22]));
    await put("a key", "v");
    await put("q", '"x');
    expect((await s.run(["kv", "del", "color"], { env })).code).toBe(0);
    const watch = (more: string[]) => s.run(["kv", "watch", "--prefix", "", "--since", String(since), "--count", "6", ...more], { env });
    const w = await watch([]);
    expect(w.code).toBe(0);
    expect(w.text).toBe(["put color blue", 'put color "two\\nlines"', 'put bin "\\x00\\x01\\xff\\""', 'put "a key" v', 'put q "\\"x"', "del color", ""].join("\n"));
    const j = await watch(["--json"]);
    expect(j.code).toBe(0);
    const events = j.text.trim().split("\n").map((l) => JSON.parse(l));
    expect(events[1]).toMatchObject({ key: "color", event: "put", value: "two\nlines", encoding: "utf8" });
    expect(events[2]).toMatchObject({ key: "bin", value: Buffer.from([0, 1, 0xff, 0x22]).toString("base64"), encoding: "base64" });
    expect((await clip(["kv", "watch", "--help"])).text).toContain("for the exact bytes use --json or --exec");
  });

  test("terminal - copy and kv put with stdin a terminal say once that they read until Ctrl-D; a pipe gets no hint", async () => {
    await using s = await startServer({ memory: true });
    const S = await group(s);
    for (const [cmd, what, read] of [
      [`'${BIN}' copy 3 --server 'unix:${s.socket}'`, "region 3", () => s.run(["paste", "3"])],
      [`CLIP_SECRET='${S}' '${BIN}' kv put -g app typed --server 'unix:${s.socket}'`, 'the value of "typed"', () => s.run(["kv", "get", "-g", "app", "typed"], { env: { CLIP_SECRET: S } })],
    ] as const) {
      await using t = onTerminal(`${cmd}; echo "rc=$?"`);
      await waitFor(() => t.seen().includes("Ctrl-D"), 10_000, "the hint");
      expect(t.seen()).toBe(`clip: reading ${what} from the terminal until Ctrl-D (Ctrl-C cancels)\r\n`);
      t.type("typed by hand\r");
      t.type("\x04");
      await waitFor(() => /rc=0/.test(t.seen()), 10_000, "the copy to end");
      expect(t.seen().split("Ctrl-D").length).toBe(2); // once
      expect((await read()).text).toBe("typed by hand\n");
    }
    const piped = await s.run(["copy", "4"], { stdin: "from a pipe" });
    expect([piped.code, piped.stderr]).toEqual([0, ""]);
  });
});
