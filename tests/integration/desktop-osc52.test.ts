// OSC 52 through a real pseudo-terminal (script(1)): the sequence reaches
// the terminal, wrapped for tmux and screen; over the limit, or with no
// controlling terminal, exit 1 with one line and nothing written; and the
// one-way bridge sends every later write, then clears on expiry.

import { expect, test } from "bun:test";
import { resolve } from "node:path";
import { osc52Sequence } from "../../src/desktop/osc52.ts";
import { waitFor } from "../helpers/clip.ts";
import { haveScript, onTerminal } from "../helpers/terminal.ts";

const CHILD = resolve(import.meta.dir, "../helpers/desktop-child.ts");
const BUN = process.execPath;
const b64 = (s: string) => Buffer.from(s).toString("base64");
const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs the child on a terminal to its end: what the terminal showed, and the exit status (script -e passes it on). */
async function onTty(args: string[], env: Record<string, string | undefined> = {}) {
  await using t = onTerminal([BUN, CHILD, ...args].map(sh).join(" "), { TMUX: undefined, STY: undefined, ...env });
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
