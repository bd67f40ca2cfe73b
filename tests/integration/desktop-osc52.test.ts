// OSC 52 through a real pseudo-terminal (script(1)): the sequence reaches
// the terminal, wrapped for tmux and screen; over the limit, or with no
// controlling terminal, exit 1 with one line and nothing written; and the
// one-way bridge sends every later write, then clears on expiry. Then the
// same through the binary and a server: `clip paste R --osc52` and
// `clip desktop R --osc52`.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { osc52Sequence } from "../../src/desktop/osc52.ts";
import { BIN, type ServerHandle, startServer, waitFor } from "../helpers/clip.ts";
import { haveScript, onTerminal } from "../helpers/terminal.ts";

const CHILD = resolve(import.meta.dir, "../helpers/desktop-child.ts");
const BUN = process.execPath;
const b64 = (s: string) => Buffer.from(s).toString("base64");
const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs the child (or, not `child`, the argv given) on a terminal to its end: what the terminal showed, and the exit status (script -e passes it on). */
async function onTty(args: string[], env: Record<string, string | undefined> = {}, child = true) {
  await using t = onTerminal((child ? [BUN, CHILD, ...args] : args).map(sh).join(" "), { TMUX: undefined, STY: undefined, NO_COLOR: "1", ...env });
  const code = await t.proc.exited;
  // The pty's last bytes may still be on their way to us: wait until what was seen stops growing.
  let last = -1;
  await waitFor(async () => {
    const now = t.seen().length;
    const still = now === last;
    last = now;
    await Bun.sleep(30);
    return still;
  });
  return { seen: t.seen(), code, stderr: await new Response(t.proc.stderr as ReadableStream).text() };
}

test.skipIf(!haveScript)("osc52 - the value reaches the terminal as OSC 52; wrapped for tmux and for screen", async () => {
  const plain = await onTty(["osc52-send", "héllo"]);
  expect(plain.code).toBe(0);
  expect(plain.seen).toContain(`\x1b]52;c;${b64("héllo")}\x07`);

  const tmux = await onTty(["osc52-send", "in tmux"], { TMUX: "/tmp/tmux-0/default,1,0" });
  expect(tmux.seen).toContain(`\x1bPtmux;\x1b\x1b]52;c;${b64("in tmux")}\x07\x1b\\`);

  const long = "s".repeat(300);
  const screen = await onTty(["osc52-send", long], { STY: "1234.pts-0.host" });
  const seq = `\x1b]52;c;${b64(long)}\x07`;
  // In pieces of 76 characters, each its own DCS string (screen drops longer ones).
  expect(screen.seen).toContain(osc52Sequence(new TextEncoder().encode(long), "screen"));
  expect(screen.seen.split("\x1bP").length - 1).toBe(Math.ceil(seq.length / 76));
});

test.skipIf(!haveScript)("osc52 - over --osc52-max: exit 1, one line, nothing sent", async () => {
  const r = await onTty(["osc52-send", "x".repeat(101), "100"]);
  expect(r.code).toBe(1);
  expect(r.seen).not.toContain("\x1b]52");
  expect(r.seen.trim().split("\n")).toEqual(["clip: 101 bytes is over --osc52-max 100: nothing sent to the terminal"]);
});

test("osc52 - no controlling terminal: exit 1, one line", async () => {
  // setsid: a new session with no controlling terminal, as under cron or a service.
  const p = Bun.spawn(["setsid", "-w", BUN, CHILD, "osc52-send", "hi"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  expect(code).toBe(1);
  expect(out).toBe("");
  expect(err).toMatch(/^clip: no controlling terminal to send OSC 52 to \(ENXIO\)[^\n]*\n$/);
});

test.skipIf(!haveScript)("osc52 - clip desktop --osc52: R's value at start, then every later write, then a clear on expiry", async () => {
  const r = await onTty(["osc52-bridge"]);
  expect(r.code).toBe(0);
  const sent = [...r.seen.matchAll(/\x1b\]52;c;([^\x07]*)\x07/g)].map((m) => (m[1] === "!" ? "<clear>" : Buffer.from(m[1], "base64").toString()));
  expect(sent).toEqual(["already there", "first", "second", "<clear>"]);
});

// The same through the compiled binary and a real server: `clip paste R --osc52`, and `clip desktop R --osc52`.
describe.skipIf(!haveScript)("osc52 through a server", () => {
  let s: ServerHandle;
  beforeAll(async () => {
    s = await startServer({ memory: true, name: "osc" });
  });
  afterAll(async () => {
    await s?.[Symbol.asyncDispose]();
  });
  const at = () => `unix:${s.socket}`;

  /** A clip command on a terminal, to its end. */
  const clipOnTty = (args: string[], env: Record<string, string | undefined> = {}) => onTty([BIN, ...args], env, false);

  test("osc52 - clip paste R --osc52: the value goes to the terminal, not stdout; over --osc52-max or with no terminal: exit 1, one line, nothing sent", async () => {
    expect((await s.run(["copy", "3"], { stdin: "héllo over ssh" })).code).toBe(0);
    const ok = await clipOnTty(["paste", "3", "--osc52", "--server", at()]);
    expect(ok.code).toBe(0);
    expect(ok.seen).toBe(`\x1b]52;c;${b64("héllo over ssh")}\x07`);

    const tmux = await clipOnTty(["paste", "3", "--osc52", "--server", at()], { TMUX: "/tmp/tmux-0/default,1,0" });
    expect(tmux.seen).toBe(`\x1bPtmux;\x1b\x1b]52;c;${b64("héllo over ssh")}\x07\x1b\\`);

    const over = await clipOnTty(["paste", "3", "--osc52", "--osc52-max", "10", "--server", at()]);
    expect(over.code).toBe(1);
    expect(over.seen).not.toContain("\x1b]52");
    expect(over.seen.trim().split("\n")).toEqual(["clip: region 3 is 15 bytes, over --osc52-max 10: nothing sent to the terminal"]);

    const p = Bun.spawn(["setsid", "-w", BIN, "paste", "3", "--osc52", "--server", at()], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    expect(code).toBe(1);
    expect(out).toBe("");
    expect(err).toMatch(/^clip: no controlling terminal to send OSC 52 to \(ENXIO\)[^\n]*\n$/);

    const usage = await s.run(["paste", "3", "--osc52-max", "10"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toBe("clip: --osc52-max goes with --osc52 (see clip paste --help)\n");
  });

  test("osc52 - clip desktop R --osc52: R's value, then each later write, to the terminal; SIGTERM: exit 0", async () => {
    expect((await s.run(["copy", "4"], { stdin: "at start" })).code).toBe(0);
    await using t = onTerminal([BIN, "desktop", "4", "--osc52", "--osc52-max", "20", "--server", at()].map(sh).join(" "), { TMUX: undefined, STY: undefined });
    await waitFor(() => t.seen().includes("clip desktop: ready"), 10_000, "the bridge to be ready");
    expect((await s.run(["copy", "4"], { stdin: "x".repeat(30) })).code).toBe(0);
    await waitFor(() => t.seen().includes("30 bytes is over --osc52-max 20: nothing sent to the terminal"), 10_000, "the value over --osc52-max to be refused");
    expect((await s.run(["copy", "4"], { stdin: "later" })).code).toBe(0);
    await waitFor(() => t.seen().includes(b64("later")), 10_000, "the later write");
    const sent = [...t.seen().matchAll(/\x1b\]52;c;([^\x07]*)\x07/g)].map((m) => Buffer.from(m[1], "base64").toString());
    expect(sent).toEqual(["at start", "later"]);
    // script(1) runs the command under a shell: the bridge is the clip process below it.
    const pid = await waitFor(() => descendants(t.proc.pid).find((p) => readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0").includes("desktop")), 5000, "the bridge's pid");
    process.kill(pid, "SIGTERM");
    expect(await t.proc.exited).toBe(0);
    expect(t.seen()).toContain("stopped: 0 desktop copies written to region 4, 2 values put on the desktop, 0 cleared");
  });
});

/** The processes below `pid`, by their parent links in /proc. */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(d)) continue;
    try {
      const m = /\) \S+ ([0-9]+)/.exec(readFileSync(`/proc/${d}/stat`, "utf8"));
      if (m) parent.set(Number(d), Number(m[1]));
    } catch {}
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of parent) if (pp === p) out.push(c), walk(c);
  };
  walk(pid);
  return out;
}
