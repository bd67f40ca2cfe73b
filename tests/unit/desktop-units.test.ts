// Pure parts of the desktop bridge: type choice, OSC 52 framing, display
// names and Xauthority, X11 message splitting, the unit and autostart text,
// and the command's checks before it opens anything.

import { describe, expect, test } from "bun:test";
import { desktop } from "../../src/desktop/command.ts";
import { osc52Sequence } from "../../src/desktop/osc52.ts";
import { selectBackend } from "../../src/desktop/select.ts";
import { chooseType, storedType } from "../../src/desktop/types.ts";
import { autostartEntry, desktopUnit } from "../../src/desktop/units.ts";
import { cookieFor, parseDisplay, parseSetup, parseXauthority, XReader } from "../../src/desktop/x11wire.ts";
import { ClipError } from "../../src/protocol/errors.ts";

const enc = (s: string) => new TextEncoder().encode(s);

describe("desktop types", () => {
  test("desktop types - priority: png, other images, uri-list, utf-8 text, other text; nothing else", () => {
    expect(chooseType(["TARGETS", "UTF8_STRING", "image/bmp", "image/png", "text/uri-list"])).toBe("image/png");
    expect(chooseType(["text/html", "image/jpeg", "image/bmp"])).toBe("image/jpeg");
    expect(chooseType(["UTF8_STRING", "text/uri-list", "text/plain;charset=utf-8"])).toBe("text/uri-list");
    expect(chooseType(["STRING", "text/html", "UTF8_STRING", "text/plain; charset=UTF-8"])).toBe("text/plain; charset=UTF-8");
    expect(chooseType(["text/html", "TEXT", "STRING", "UTF8_STRING"])).toBe("UTF8_STRING");
    expect(chooseType(["text/html", "STRING"])).toBe("STRING");
    expect(chooseType(["text/html"])).toBe("text/html");
    expect(chooseType(["application/x-qt-image", "SAVE_TARGETS", "COMPOUND_TEXT"])).toBeNull();
  });
  test("desktop types - text is stored as utf-8 text when it is, whatever the desktop called it", () => {
    expect(storedType("UTF8_STRING", enc("grüß"))).toBe("text/plain;charset=utf-8");
    expect(storedType("STRING", new Uint8Array([0x67, 0xfc]))).toBe("text/plain;charset=iso-8859-1");
    expect(storedType("image/PNG", enc("x"))).toBe("image/png");
    expect(storedType("text/uri-list", enc("file:///a"))).toBe("text/uri-list");
  });
});

describe("desktop osc52", () => {
  test("desktop osc52 - plain, tmux (ESC doubled inside a DCS), screen (pieces of 76), empty clears", () => {
    const v = enc("hi");
    expect(osc52Sequence(v, null)).toBe("\x1b]52;c;aGk=\x07");
    expect(osc52Sequence(v, "tmux")).toBe("\x1bPtmux;\x1b\x1b]52;c;aGk=\x07\x1b\\");
    expect(osc52Sequence(v, "screen")).toBe("\x1bP\x1b]52;c;aGk=\x07\x1b\\");
    const long = osc52Sequence(new Uint8Array(200), "screen");
    for (const piece of long.split("\x1b\\").filter(Boolean)) expect(piece.length).toBeLessThanOrEqual(78);
    expect(osc52Sequence(new Uint8Array(0), null)).toBe("\x1b]52;c;!\x07");
  });
});

describe("desktop x11 codec", () => {
  test("desktop x11 codec - DISPLAY names", () => {
    expect(parseDisplay(":0")).toEqual({ kind: "unix", path: "/tmp/.X11-unix/X0", display: "0" });
    expect(parseDisplay("unix:3.1")).toEqual({ kind: "unix", path: "/tmp/.X11-unix/X3", display: "3" });
    expect(parseDisplay("localhost:10.0")).toEqual({ kind: "tcp", host: "localhost", port: 6010, display: "10" });
    expect(parseDisplay("/tmp/launch-x/org.xquartz:0")).toEqual({ kind: "unix", path: "/tmp/launch-x/org.xquartz:0", display: "0" });
    expect(parseDisplay("nonsense")).toBeNull();
  });

  test("desktop x11 codec - Xauthority: the entry for this host and display, else a wildcard", () => {
    const entry = (family: number, addr: string, num: string, data: number[]) => {
      const parts = [enc(addr), enc(num), enc("MIT-MAGIC-COOKIE-1"), new Uint8Array(data)];
      const out = [family >> 8, family & 255];
      for (const p of parts) out.push(p.length >> 8, p.length & 255, ...p);
      return out;
    };
    const file = new Uint8Array([...entry(256, "other", "0", [1]), ...entry(256, "box", "1", [2]), ...entry(256, "box", "0", [3]), ...entry(65535, "", "0", [4])]);
    const entries = parseXauthority(file);
    expect(entries).toHaveLength(4);
    expect(cookieFor(entries, parseDisplay(":0")!, "box")?.data).toEqual(new Uint8Array([3]));
    expect(cookieFor(entries, parseDisplay(":0")!, "elsewhere")?.data).toEqual(new Uint8Array([4]));
    expect(cookieFor(entries, parseDisplay(":7")!, "box")).toBeNull();
    // A truncated file gives the whole entries before the cut, and no crash.
    expect(parseXauthority(file.subarray(0, file.length - 3))).toHaveLength(3);
  });

  test("desktop x11 codec - setup answer and messages, whole and byte by byte; refusals and oversize are errors", () => {
    const setup = new Uint8Array(8 + 40 + 8 + 40);
    const v = new DataView(setup.buffer);
    setup[0] = 1;
    v.setUint16(6, (setup.length - 8) / 4, true);
    v.setUint16(24, 8, true); // vendor length
    setup[28] = 1; // screens
    setup[29] = 1; // formats
    v.setUint32(40 + 8 + 8, 0x1234, true); // first screen's root window
    expect(parseSetup(setup.subarray(0, 7))).toEqual({ need: 8 });
    expect(parseSetup(setup)).toEqual({ ok: true, root: 0x1234, size: setup.length });
    const refused = new Uint8Array([0, 5, 11, 0, 0, 0, 2, 0, ...enc("nope\0\0\0\0")]);
    expect(parseSetup(refused)).toEqual({ ok: false, reason: "nope", size: 16 });

    const event = new Uint8Array(32);
    event[0] = 87;
    const reply = new Uint8Array(40);
    reply[0] = 1;
    reply[2] = 7;
    new DataView(reply.buffer).setUint32(4, 2, true);
    const error = new Uint8Array(32);
    error[1] = 3;
    error[2] = 9;
    const all = new Uint8Array([...event, ...reply, ...error]);
    const whole = new XReader().push(all);
    const r = new XReader();
    const bytewise = [...all].flatMap((b) => r.push(new Uint8Array([b])));
    for (const got of [whole, bytewise]) {
      expect(got.map((m) => m.kind)).toEqual(["event", "reply", "error"]);
      expect(got[0]).toMatchObject({ kind: "event", code: 87 });
      expect(got[1]).toMatchObject({ kind: "reply", seq: 7 });
      expect((got[1] as { body: Uint8Array }).body.length).toBe(40);
      expect(got[2]).toMatchObject({ kind: "error", seq: 9, code: 3 });
    }
    const huge = new Uint8Array(32);
    huge[0] = 1;
    new DataView(huge.buffer).setUint32(4, 1 << 20, true);
    expect(() => new XReader().push(huge)).toThrow("oversized");
  });
});

describe("desktop units", () => {
  test("desktop units - a systemd user unit running this desktop command, tied to the graphical session", () => {
    const u = desktopUnit(["3", "--to-desktop", "--server", "tcp:hub:7070", "--token-file", "tok", "--print-systemd-unit"], "/usr/bin/clip");
    expect(/^ExecStart=(.*)$/m.exec(u)?.[1]).toBe(`/usr/bin/clip desktop 3 --to-desktop --server tcp:hub:7070 --token-file ${process.cwd()}/tok`);
    for (const line of ["[Unit]", "PartOf=graphical-session.target", "WantedBy=graphical-session.target", "Restart=on-failure", "KillMode=process"]) expect(u).toContain(line);
    expect(() => desktopUnit(["--token", "s3cret", "--print-systemd-unit"])).toThrow("should not hold the token");
    expect(desktopUnit(["--max-desktop", "50%"], "/opt/my clip/clip")).toContain('ExecStart="/opt/my clip/clip" desktop --max-desktop "50%%"');
  });
  test("desktop units - an XDG autostart entry, Exec quoted as the Desktop Entry spec says", () => {
    const e = autostartEntry(["1", "--print-autostart"], "/usr/bin/clip");
    expect(e).toContain("[Desktop Entry]\nType=Application\n");
    expect(/^Exec=(.*)$/m.exec(e)?.[1]).toBe("/usr/bin/clip desktop 1");
    expect(/^Exec=(.*)$/m.exec(autostartEntry([], "/opt/a b/clip"))?.[1]).toBe('"/opt/a b/clip" desktop');
    expect(/^Exec=(.*)$/m.exec(autostartEntry(["--server", "/tmp/$x"], "/c"))?.[1]).toBe('/c desktop --server "/tmp/\\\\$x"');
  });
});

describe("desktop command", () => {
  const never = async () => {
    throw new Error("opened a port");
  };
  const fails = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (e) {
      return e as ClipError;
    }
    throw new Error("did not fail");
  };
  test("desktop command - flags are checked before anything is opened (exit 2)", async () => {
    for (const [r, flags, msg] of [
      ["10", {}, 'bad region "10"'],
      ["x", {}, 'bad region "x"'],
      ["0", { toDesktop: true, fromDesktop: true }, "--to-desktop and --from-desktop together"],
      ["0", { backend: "windows" }, 'bad --backend "windows"'],
      ["0", { maxDesktop: "lots" }, 'bad --max-desktop "lots"'],
      ["0", { osc52: true, fromDesktop: true }, "--osc52 is one way"],
    ] as const) {
      const e = await fails(desktop(r, flags, never, { argv: [], env: {} }));
      expect(e).toBeInstanceOf(ClipError);
      expect(e.exitCode).toBe(2);
      expect(e.message).toContain(msg);
    }
  });
  test("desktop command - no usable desktop: exit 1, naming what is missing and its package", async () => {
    const cases: [Record<string, string>, string | undefined, string][] = [
      [{ PATH: "/nonexistent" }, undefined, "neither WAYLAND_DISPLAY nor DISPLAY is set"],
      [{ PATH: "/nonexistent", DISPLAY: ":5" }, undefined, "xclip not found: install xclip (Debian package xclip)"],
      [{ PATH: "/nonexistent", WAYLAND_DISPLAY: "wayland-0" }, undefined, "install wl-clipboard (Debian package wl-clipboard)"],
      [{ PATH: "/nonexistent", WAYLAND_DISPLAY: "wayland-0" }, "x11", "DISPLAY is not set"],
      [{ PATH: "/nonexistent" }, "macos", "pbcopy/pbpaste not found"],
    ];
    for (const [env, backend, msg] of cases) {
      const e = await fails(desktop("0", { backend }, never, { argv: [], env }));
      expect(e.exitCode).toBe(1);
      expect(e.message).toStartWith("no desktop clipboard: ");
      expect(e.message).toContain(msg);
      expect(e.message).not.toContain("\n");
    }
  });
  test("desktop command - WAYLAND_DISPLAY wins over DISPLAY; --backend forces", () => {
    const PATH = process.env.PATH;
    const both = { PATH, WAYLAND_DISPLAY: "wayland-9", DISPLAY: ":9" };
    if (Bun.which("wl-copy") && Bun.which("xclip")) {
      expect(selectBackend({ env: both }).name).toStartWith("wayland");
      expect(selectBackend({ env: both, forced: "x11" }).name).toStartWith("x11");
    }
  });
  test("desktop command - --print-systemd-unit and --print-autostart print and open nothing", async () => {
    let out = "";
    expect(await desktop("2", { printSystemdUnit: true }, never, { argv: ["2", "--print-systemd-unit"], env: {}, out: (t) => (out += t) })).toBeNull();
    expect(out).toContain(" desktop 2\n");
    out = "";
    await desktop("2", { printAutostart: true }, never, { argv: ["2", "--print-autostart"], env: {}, out: (t) => (out += t) });
    expect(out).toContain("[Desktop Entry]");
  });
});
