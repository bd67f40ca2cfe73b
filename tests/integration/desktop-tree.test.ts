// `clip desktop` for real: the compiled binary, bridging X displays (Xvfb)
// with regions of a two-server tree (root, and leaf joined to it over
// loopback TCP), one bridge per "machine" (display A on root, display B on
// leaf). Applications are played by xclip. The revisions the servers count
// (history, status) prove one write per desktop copy and no echo.
// Every process is stopped by its pid: the servers and bridges by the
// fixtures, the xclip owners left on a display by stopClientsOf.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { BIN, clip, tempDir, waitFor } from "../helpers/clip.ts";
import { type Display, fakePng, haveXvfb, startDesktop, startXvfb, stopClientsOf } from "../helpers/desktop.ts";
import { TreeFixture } from "../helpers/tree.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

if (!haveXvfb) test.skip("desktop tree - needs the Debian packages xvfb and xclip (.ci/run installs them)", () => {});

describe.skipIf(!haveXvfb)("desktop tree", () => {
  let A: Display;
  let B: Display;
  let tree: TreeFixture;
  let home: string;
  const at = (name: string) => `unix:${tree.get(name).socket}`;
  beforeAll(async () => {
    [A, B] = await Promise.all([startXvfb(), startXvfb()]);
    tree = new TreeFixture();
    await tree.add({ name: "root" });
    await tree.add({ name: "leaf", connect: ["root"] });
    // A home with no key in it: a bridge finds a key only where a test puts one.
    home = `${tree.dir}/home`;
    mkdirSync(home);
  });
  afterAll(async () => {
    for (const d of [A, B]) if (d) stopClientsOf(d);
    await tree?.[Symbol.asyncDispose]();
    await A?.stop();
    await B?.stop();
  });

  /** `clip desktop R ...` on display d, connected to a server of the tree. */
  const bridge = (d: Display, server: string, args: string[], env: Record<string, string | undefined> = {}) =>
    startDesktop(BIN, [...args, "--server", at(server)], { ...d.env, WAYLAND_DISPLAY: undefined, HOME: home, XDG_CONFIG_HOME: undefined, CLIP_KEY_FILE: undefined, CLIP_ENCRYPT: undefined, ...env });

  /** An application copies on display d: it owns the clipboard until someone else does. */
  async function copy(d: Display, bytes: Uint8Array | string, target = "UTF8_STRING") {
    const b = typeof bytes === "string" ? enc(bytes) : bytes;
    const p = Bun.spawn(["xclip", "-selection", "clipboard", "-i", "-quiet", "-t", target], { env: { ...process.env, ...d.env }, stdin: b, stdout: "ignore", stderr: "ignore" });
    // Large values are not read back here: xclip serves one large transfer at a time, and the bridge is reading it.
    if (b.length < 65536) await waitFor(async () => Buffer.from((await paste(d, target)).out).equals(Buffer.from(b)), 10_000, "the copy to own the clipboard");
    return p;
  }
  const paste = (d: Display, target = "UTF8_STRING") => d.sh(["xclip", "-selection", "clipboard", "-o", "-t", target]);
  const pasted = async (d: Display) => dec((await paste(d)).out);
  const targets = async (d: Display) => dec((await paste(d, "TARGETS")).out).split("\n").filter(Boolean);
  /** The region's rows on a server, newest first. */
  const history = async (r: number, server = "root") => JSON.parse((await clip(["history", String(r), "--json", "--server", at(server)])).text) as { rev: number; by: string; type: string; size: number; event: string; encrypted?: string }[];
  const rev = async (server = "root") => Number((await (await tree.get(server).client()).status()).rev);
  /** A settle window: time for an echo or a storm to show itself, were there one (a bridge acts within ~200 ms). */
  const settle = () => Bun.sleep(600);

  test("desktop tree - a copy on display A is pasteable on display B through two servers: text, and a 1 MiB PNG byte-exact with its type; one write per copy, no echo", async () => {
    await using a = await bridge(A, "root", ["1"]);
    await using b = await bridge(B, "leaf", ["1"]);
    const start = await rev();

    await copy(A, "héllo from A");
    await b.logged("region 1 rev");
    await b.logged("-> desktop: 13 B text/plain;charset=utf-8");
    expect(await pasted(B)).toBe("héllo from A");
    for (const t of ["STRING", "text/plain"]) expect(dec((await paste(B, t)).out)).toBe("héllo from A");

    const png = fakePng(1 << 20, 3);
    await copy(B, png, "image/png");
    await a.logged("-> desktop: 1.0 MiB image/png");
    await settle(); // the bridge reads its own value back once more (its own owner event)
    expect(await targets(A)).toContain("image/png");
    expect(Buffer.from((await paste(A, "image/png")).out).equals(Buffer.from(png))).toBe(true);

    await settle();
    // One write per copy, each by the server of the machine it was copied on; nothing came back.
    const rows = await history(1);
    expect(rows.map((r) => [r.by, r.type, r.size])).toEqual([
      ["leaf", "image/png", 1 << 20],
      ["root", "text/plain;charset=utf-8", 13],
    ]);
    expect(await rev()).toBe(start + 2);
    expect((await history(1, "leaf")).map((r) => r.rev)).toEqual(rows.map((r) => r.rev));
    expect(a.count("-> desktop")).toBe(1);
    expect(b.count("-> desktop")).toBe(1);

    // A write made elsewhere in the tree reaches both desktops, and neither writes it back.
    expect((await clip(["copy", "1", "--server", at("leaf")], { stdin: "from the tree" })).code).toBe(0);
    await a.logged("-> desktop: 13 B");
    await b.logged("rev", b.lines().length - 1);
    await waitFor(async () => (await pasted(B)) === "from the tree", 10_000, "B to hold the write");
    expect(await pasted(A)).toBe("from the tree");
    await settle();
    expect(await rev()).toBe(start + 3);

    expect(await a.stop("SIGTERM")).toBe(0);
    expect(await b.stop("SIGINT")).toBe(0);
    expect(a.lines().at(-1)).toBe("stopped: 1 desktop copy written to region 1, 2 values put on the desktop, 0 cleared");
  });

  test("desktop tree - an expiry (--ttl) clears both desktops that hold the value", async () => {
    await using a = await bridge(A, "root", ["2"]);
    await using b = await bridge(B, "leaf", ["2", "--to-desktop"]);
    expect((await clip(["copy", "2", "--ttl", "3s", "--server", at("root")], { stdin: "hunter2" })).code).toBe(0);
    await waitFor(async () => (await pasted(A)) === "hunter2" && (await pasted(B)) === "hunter2", 10_000, "both desktops to hold the value");
    await a.logged("expired: desktop clipboard cleared");
    await b.logged("expired: desktop clipboard cleared");
    await waitFor(async () => (await targets(A)).length === 0 && (await targets(B)).length === 0, 10_000, "both clipboards to be empty");
    const rows = await history(2);
    expect(rows.map((r) => r.event)).toEqual(["expire", "put"]);
    expect(await a.stop()).toBe(0);
    expect(await b.stop()).toBe(0);
  });

  test("desktop tree - the bridge survives its server restarting: it reconnects, and a copy made while the server was down is written once, after what was written elsewhere meanwhile", async () => {
    const leaf = tree.get("leaf");
    await using b = await bridge(B, "leaf", ["3"]);
    expect((await clip(["copy", "3", "--server", at("root")], { stdin: "before" })).code).toBe(0);
    await waitFor(async () => (await pasted(B)) === "before", 10_000, "the first value");

    await leaf.stop("SIGKILL");
    await b.logged("lost the server");
    // While it is down: a write elsewhere, then a copy on B's desktop (written once the server is back).
    expect((await clip(["copy", "3", "--server", at("root")], { stdin: "written elsewhere" })).code).toBe(0);
    const n = (await history(3)).length;
    await copy(B, "copied while down");
    await leaf.restart();
    await tree.synced("leaf");
    await b.logged("server is back");
    await waitFor(async () => (await history(3)).length === n + 1, 10_000, "the copy to be written");
    await settle();
    const rows = await history(3);
    expect(rows.length).toBe(n + 1);
    expect(rows[0].by).toBe("leaf");
    expect(dec((await clip(["paste", "3", "--server", at("root")])).stdout)).toBe("copied while down");
    // The desktop keeps the newer copy: R's older value is not put back over it.
    expect(await pasted(B)).toBe("copied while down");
    expect(b.count("lost the server")).toBe(1);

    // And on from there, both ways.
    expect((await clip(["copy", "3", "--server", at("root")], { stdin: "after the restart" })).code).toBe(0);
    await waitFor(async () => (await pasted(B)) === "after the restart", 10_000, "a later write");
    await copy(B, "copied after");
    await waitFor(async () => (await history(3)).length === n + 3, 10_000, "the later copy");
    await settle();
    expect((await history(3)).length).toBe(n + 3);
    expect(await b.stop()).toBe(0);
  });

  test("desktop tree - --max-desktop: a larger write is not put on the desktop, a larger copy not written; one log line each", async () => {
    await using a = await bridge(A, "root", ["4", "--max-desktop", "1k"]);
    await copy(A, "small, and on the desktop before");
    await a.logged("desktop -> region 4");
    const n = (await history(4)).length;
    expect((await clip(["copy", "4", "--server", at("leaf")], { stdin: "x".repeat(2048) })).code).toBe(0);
    await a.logged("is over --max-desktop 1.0 KiB: not put on the desktop");
    expect(await pasted(A)).toBe("small, and on the desktop before");
    await copy(A, "y".repeat(3000));
    await a.logged("desktop copy (UTF8_STRING) is over --max-desktop 1.0 KiB: not written to region 4");
    await settle();
    expect((await history(4)).length).toBe(n + 1);
    expect(a.count("over --max-desktop")).toBe(2);
    expect(await a.stop()).toBe(0);
  });

  test("desktop tree - with the key a bridge opens sealed values and --encrypt seals its copies; without it the desktop is left alone, and the log says why", async () => {
    using dir = tempDir("cdk");
    const keyFile = `${dir}/key`;
    const keyId = (await clip(["keygen", keyFile])).text.trim();
    expect(keyId).toMatch(/^[0-9a-f]{16}$/);
    await using a = await bridge(A, "root", ["5", "--encrypt", "--key-file", keyFile]);
    await copy(B, "B's own, before");
    await using b = await bridge(B, "leaf", ["5"]);

    await copy(A, "top secret");
    await a.logged("desktop -> region 5");
    const row = (await history(5))[0];
    expect(row.encrypted).toBe(keyId);
    expect(row.type).toBe("text/plain;charset=utf-8");
    await b.logged(`not put on the desktop: region 5 is encrypted with key ${keyId}`);
    await settle();
    expect(await pasted(B)).toBe("B's own, before");
    // Sealed elsewhere: A opens it.
    expect((await clip(["copy", "5", "--encrypt", "--key-file", keyFile, "--server", at("leaf")], { stdin: "sealed elsewhere" })).code).toBe(0);
    await waitFor(async () => (await pasted(A)) === "sealed elsewhere", 10_000, "A to open the sealed write");
    // A plain write reaches both.
    expect((await clip(["copy", "5", "--server", at("leaf")], { stdin: "plain again" })).code).toBe(0);
    await waitFor(async () => (await pasted(B)) === "plain again", 10_000, "B to take the plain write");
    expect(b.count("not put on the desktop")).toBe(2);
    expect(await a.stop()).toBe(0);
    expect(await b.stop()).toBe(0);
  });

  test("desktop tree - --encrypt with no key, or no desktop at all: exit 1 with one line", async () => {
    const noKey = await clip(["desktop", "6", "--encrypt", "--server", at("root")], { env: { ...A.env, HOME: home, XDG_CONFIG_HOME: undefined, CLIP_KEY_FILE: undefined } });
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toStartWith("clip: no key: run clip keygen");
    expect(noKey.stderr.trim().split("\n")).toHaveLength(1);
    const none = await clip(["desktop", "--server", at("root")], { env: { DISPLAY: undefined, WAYLAND_DISPLAY: undefined } });
    expect(none.code).toBe(1);
    expect(none.stderr).toBe("clip: no desktop clipboard: neither WAYLAND_DISPLAY nor DISPLAY is set (over SSH, clip desktop --osc52 sets the clipboard of the terminal you type in)\n");
    const noXclip = await clip(["desktop", "--server", at("root")], { env: { ...A.env, WAYLAND_DISPLAY: undefined, PATH: "/nonexistent" } });
    expect(noXclip.code).toBe(1);
    expect(noXclip.stderr).toContain("install xclip (Debian package xclip)");
  });
});
