// The bridge on a real Wayland compositor (headless sway, run as an
// unprivileged user) with wl-clipboard, and across to an X display: a copy
// on Wayland is pasteable on X11 and back, through one in-memory region.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { waylandBackend } from "../../src/desktop/wayland.ts";
import { x11Backend } from "../../src/desktop/x11.ts";
import { chmodSync, writeFileSync } from "node:fs";
import { tempDir, waitFor } from "../helpers/clip.ts";
import { type Display, childPids, FakeRegion, fakePng, haveSway, haveXvfb, startBridge, startSway, startXvfb } from "../helpers/desktop.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

if (!haveSway) test.skip("desktop wayland - needs the Debian packages sway and wl-clipboard (.ci/run installs them)", () => {});

describe.skipIf(!haveSway || !haveXvfb)("desktop wayland", () => {
  let W: Display;
  let X: Display;
  const apps: ReturnType<typeof Bun.spawn>[] = [];
  beforeAll(async () => {
    [W, X] = await Promise.all([startSway(), startXvfb()]);
  });
  afterAll(async () => {
    for (const p of apps) if (p.exitCode === null && p.signalCode === null) p.kill(9);
    await W?.stop();
    await X?.stop();
  });

  /** An application copies on Wayland (wl-copy in the foreground, so that it can be stopped). */
  async function copyW(bytes: Uint8Array | string, type: string) {
    const b = typeof bytes === "string" ? enc(bytes) : bytes;
    const p = Bun.spawn(["wl-copy", "--foreground", "--type", type], { env: { ...process.env, ...W.env }, stdin: b, stdout: "ignore", stderr: "ignore" });
    apps.push(p);
    await waitFor(async () => Buffer.from((await W.sh(["wl-paste", "--no-newline", "--type", type])).out).equals(Buffer.from(b)), 10_000, "the Wayland copy");
    return p;
  }
  const pasteW = (type = "text/plain;charset=utf-8") => W.sh(["wl-paste", "--no-newline", "--type", type]);
  const typesW = async () => dec((await W.sh(["wl-paste", "--list-types"])).out).split("\n").filter(Boolean);
  const pasteX = (target = "UTF8_STRING") => X.sh(["xclip", "-selection", "clipboard", "-o", "-t", target]);

  const bridge = startBridge;
  const settle = () => Bun.sleep(400);
  const logged = (lines: string[], text: string) => waitFor(() => lines.some((l) => l.includes(text)), 15_000, `"${text}" in the log: ${lines.join(" | ")}`);

  test("desktop wayland - round trip with an X display: text and a PNG both ways, typed, byte-exact; no echo", async () => {
    // wl-paste --watch gives its first tick once the clipboard holds something.
    await copyW("before the bridge", "text/plain;charset=utf-8");
    const region = new FakeRegion();
    await using w = await bridge(region, waylandBackend({ env: { ...process.env, ...W.env } }));
    await using x = await bridge(region, x11Backend({ display: X.env.DISPLAY }));
    await settle();
    expect(region.portWrites).toBe(0); // what Wayland held at start is not a copy

    await copyW("vom Wayland: grüß dich", "text/plain;charset=utf-8");
    await logged(x.lines, "rev 1 -> desktop");
    expect(dec((await pasteX()).out)).toBe("vom Wayland: grüß dich");
    expect(region.current()?.type).toBe("text/plain;charset=utf-8");

    const png = fakePng(300_000, 7);
    const app = Bun.spawn(["xclip", "-selection", "clipboard", "-i", "-quiet", "-t", "image/png"], { env: { ...process.env, ...X.env }, stdin: png, stdout: "ignore", stderr: "ignore" });
    apps.push(app);
    await logged(w.lines, "rev 2 -> desktop: 293.0 KiB image/png");
    expect(await typesW()).toContain("image/png");
    expect(Buffer.from((await pasteW("image/png")).out).equals(Buffer.from(png))).toBe(true);

    await settle();
    expect(region.portWrites).toBe(2);
    expect(w.lines.filter((l) => l.includes("-> desktop"))).toHaveLength(1);
    expect(x.lines.filter((l) => l.includes("-> desktop"))).toHaveLength(1);

    // Text put on Wayland by the bridge is offered under text's other names too.
    region.writeElsewhere("plain");
    await waitFor(async () => dec((await pasteW()).out) === "plain", 10_000);
    expect(await typesW()).toEqual(expect.arrayContaining(["text/plain;charset=utf-8", "text/plain", "UTF8_STRING", "STRING", "TEXT"]));
    await settle();
    expect(region.portWrites).toBe(2);
  });

  test("desktop wayland - expiry clears the Wayland clipboard that still holds the value", async () => {
    const region = new FakeRegion();
    await using _w = await bridge(region, waylandBackend({ env: { ...process.env, ...W.env } }));
    region.writeElsewhere("ephemeral");
    await waitFor(async () => dec((await pasteW()).out) === "ephemeral", 10_000);
    region.expire();
    await waitFor(async () => (await typesW()).length === 0, 10_000, "the Wayland clipboard to be empty");
  });

  test("desktop wayland - wl-paste --watch killed: one line, watched again, copies still go to R", async () => {
    await copyW("warm", "text/plain;charset=utf-8");
    const region = new FakeRegion();
    await using w = await bridge(region, waylandBackend({ env: { ...process.env, ...W.env } }));
    const watchers = childPids("wl-paste", "--watch");
    expect(watchers).toHaveLength(1);
    process.kill(watchers[0], "SIGKILL");
    await logged(w.lines, "watching the desktop clipboard failed: wl-paste --watch exited");
    await waitFor(() => childPids("wl-paste", "--watch").length === 1, 10_000, "a new watcher");
    await copyW("after the crash", "text/plain;charset=utf-8");
    await waitFor(() => region.portWrites === 1, 10_000, `the copy: ${w.lines.join(" | ")}`);
    expect(w.lines.filter((l) => l.includes("failed"))).toHaveLength(1);
  });

  test("desktop wayland - a compositor without data-control (GNOME) refuses --watch: one line, then the clipboard is polled", async () => {
    // wl-paste as GNOME's compositor leaves it: --watch refused, the rest as usual.
    using dir = tempDir("cgn");
    writeFileSync(`${dir}/wl-paste`, `#!/bin/sh\nfor a in "$@"; do [ "$a" = --watch ] && { echo "Watch mode requires a compositor that supports the wlroots data-control protocol" >&2; exit 1; }; done\nexec /usr/bin/wl-paste "$@"\n`);
    chmodSync(`${dir}/wl-paste`, 0o755);
    const region = new FakeRegion();
    const lines: string[] = [];
    await using _w = await bridge(region, waylandBackend({ env: { ...process.env, ...W.env, PATH: `${dir}:${process.env.PATH}` }, log: (l) => lines.push(l) }));
    expect(lines.filter((l) => l.includes("data-control protocol; polling the clipboard every 2 s"))).toHaveLength(1);
    await settle(); // past the first look at the clipboard: what follows is found by a poll
    await copyW("seen by polling", "text/plain;charset=utf-8");
    await waitFor(() => region.portWrites === 1, 10_000);
  });
});
