// `clip desktop` (the compiled binary) on Wayland, through real servers: a
// headless sway with wl-clipboard as one machine's desktop (bridged to the
// root of a two-server tree), an X display as the other's (bridged to the
// leaf). A copy on either is pasteable on the other, and the servers'
// revisions show one write per copy and no echo. Every process is stopped by
// its pid (the fixtures; stopClientsOf for the clipboard owners left behind).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { BIN, clip, waitFor } from "../helpers/clip.ts";
import { type Display, fakePng, haveSway, haveXvfb, startDesktop, startSway, startXvfb, stopClientsOf } from "../helpers/desktop.ts";
import { TreeFixture } from "../helpers/tree.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

if (!haveSway || !haveXvfb) test.skip("desktop tree wayland - needs the Debian packages sway, wl-clipboard, xvfb and xclip (.ci/run installs them)", () => {});

describe.skipIf(!haveSway || !haveXvfb)("desktop tree wayland", () => {
  let W: Display;
  let X: Display;
  let tree: TreeFixture;
  let home: string;
  const at = (name: string) => `unix:${tree.get(name).socket}`;
  beforeAll(async () => {
    [W, X] = await Promise.all([startSway(), startXvfb()]);
    tree = new TreeFixture();
    await tree.add({ name: "root" });
    await tree.add({ name: "leaf", connect: ["root"] });
    home = `${tree.dir}/home`;
    mkdirSync(home);
  });
  afterAll(async () => {
    for (const d of [W, X]) if (d) stopClientsOf(d);
    await tree?.[Symbol.asyncDispose]();
    await W?.stop();
    await X?.stop();
  });

  const env = () => ({ HOME: home, XDG_CONFIG_HOME: undefined, CLIP_KEY_FILE: undefined, CLIP_ENCRYPT: undefined });
  /** An application copies on Wayland (wl-copy in the foreground: it serves until someone else copies). */
  async function copyW(bytes: Uint8Array | string, type = "text/plain;charset=utf-8") {
    const b = typeof bytes === "string" ? enc(bytes) : bytes;
    Bun.spawn(["wl-copy", "--foreground", "--type", type], { env: { ...process.env, ...W.env }, stdin: b, stdout: "ignore", stderr: "ignore" });
    await waitFor(async () => Buffer.from((await pasteW(type)).out).equals(Buffer.from(b)), 10_000, "the Wayland copy");
  }
  const pasteW = (type = "text/plain;charset=utf-8") => W.sh(["wl-paste", "--no-newline", "--type", type]);
  const typesW = async () => dec((await W.sh(["wl-paste", "--list-types"])).out).split("\n").filter(Boolean);
  const pasteX = (target = "UTF8_STRING") => X.sh(["xclip", "-selection", "clipboard", "-o", "-t", target]);
  const history = async (r: number) => JSON.parse((await clip(["history", String(r), "--json", "--server", at("root")])).text) as { rev: number; by: string; type: string }[];
  const settle = () => Bun.sleep(600);

  test("desktop tree wayland - round trip Wayland <-> X11 through two servers: text both ways, a PNG byte-exact; one write per copy, no echo", async () => {
    await copyW("before the bridge");
    await using w = await startDesktop(BIN, ["7", "--server", at("root")], { ...W.env, DISPLAY: undefined, ...env() });
    await using x = await startDesktop(BIN, ["7", "--server", at("leaf")], { ...X.env, WAYLAND_DISPLAY: undefined, ...env() });
    expect(w.lines()[0]).toContain("with wayland");
    await settle();
    expect(await history(7)).toEqual([]); // what Wayland held at start is not a copy

    await copyW("vom Wayland: grüß dich");
    await x.logged("-> desktop");
    expect(dec((await pasteX()).out)).toBe("vom Wayland: grüß dich");

    Bun.spawn(["xclip", "-selection", "clipboard", "-i", "-quiet"], { env: { ...process.env, ...X.env }, stdin: enc("from X11"), stdout: "ignore", stderr: "ignore" });
    await w.logged("-> desktop");
    await waitFor(async () => dec((await pasteW()).out) === "from X11", 10_000, "Wayland to hold X's copy");
    expect(await typesW()).toEqual(expect.arrayContaining(["text/plain;charset=utf-8", "UTF8_STRING"]));

    const png = fakePng(300_000, 9);
    Bun.spawn(["xclip", "-selection", "clipboard", "-i", "-quiet", "-t", "image/png"], { env: { ...process.env, ...X.env }, stdin: png, stdout: "ignore", stderr: "ignore" });
    await w.logged("-> desktop: 293.0 KiB image/png");
    expect(Buffer.from((await pasteW("image/png")).out).equals(Buffer.from(png))).toBe(true);

    await settle();
    const rows = await history(7);
    expect(rows.map((r) => [r.by, r.type])).toEqual([
      ["leaf", "image/png"],
      ["leaf", "text/plain;charset=utf-8"],
      ["root", "text/plain;charset=utf-8"],
    ]);
    const rev = Number((await (await tree.get("root").client()).status()).rev);
    await settle();
    expect(Number((await (await tree.get("root").client()).status()).rev)).toBe(rev);
    expect(w.count("-> desktop")).toBe(2);
    expect(x.count("-> desktop")).toBe(1);
    expect(await w.stop()).toBe(0);
    expect(await x.stop()).toBe(0);
  });
});
