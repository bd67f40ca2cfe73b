// Which desktop clipboard to bridge, from the environment as SPEC says:
// Wayland when WAYLAND_DISPLAY is set (it wins over DISPLAY), X11 when
// DISPLAY is set (xclip, else xsel), macOS's pasteboard on a Mac;
// `--backend` forces one. When none is usable the error names what is
// missing and the package that brings it.

import { ClipError } from "../protocol/errors.ts";
import type { DesktopBackend } from "./backend.ts";
import { macosBackend } from "./macos.ts";
import { waylandBackend } from "./wayland.ts";
import { x11Backend } from "./x11.ts";
import { xselBackend } from "./xsel.ts";

export type BackendName = "wayland" | "x11" | "macos";
export const BACKENDS: readonly BackendName[] = ["wayland", "x11", "macos"];

export interface SelectOptions {
  forced?: BackendName;
  env?: Record<string, string | undefined>;
  platform?: NodeJS.Platform;
  log?: (line: string) => void;
  /** X11 change signal, for tests and measurements: "poll" skips the XFIXES client. */
  x11Signal?: "events" | "poll";
}

// exit 1: nothing is wrong with the command, the machine lacks something.
const unusable = (msg: string) => new ClipError("UNAVAILABLE", msg);

export function selectBackend(o: SelectOptions = {}): DesktopBackend {
  const env = o.env ?? process.env;
  const platform = o.platform ?? process.platform;
  const has = (p: string) => !!Bun.which(p, { PATH: env.PATH ?? "" });

  const wayland = (): DesktopBackend | string => {
    if (!env.WAYLAND_DISPLAY) return "WAYLAND_DISPLAY is not set";
    if (!has("wl-copy") || !has("wl-paste")) return "wl-copy/wl-paste not found: install wl-clipboard (Debian package wl-clipboard)";
    return waylandBackend({ env, log: o.log });
  };
  const x11 = (): DesktopBackend | string => {
    if (!env.DISPLAY) return "DISPLAY is not set";
    if (has("xclip")) return x11Backend({ display: env.DISPLAY, env, log: o.log, signal: o.x11Signal });
    if (has("xsel")) {
      o.log?.("xclip not found: using xsel, text only (Debian package xclip carries images too)");
      return xselBackend({ display: env.DISPLAY, env });
    }
    return "xclip not found: install xclip (Debian package xclip)";
  };
  const macos = (): DesktopBackend | string => {
    if (!has("pbcopy") || !has("pbpaste")) return platform === "darwin" ? "pbcopy/pbpaste not found on PATH (they come with macOS: check PATH)" : "pbcopy/pbpaste not found (they come with macOS)";
    return macosBackend({ env });
  };

  const pick = (r: DesktopBackend | string) => {
    if (typeof r === "string") throw unusable(`no desktop clipboard: ${r}`);
    return r;
  };
  if (o.forced === "wayland") return pick(wayland());
  if (o.forced === "x11") return pick(x11());
  if (o.forced === "macos") return pick(macos());

  if (env.WAYLAND_DISPLAY) {
    const w = wayland();
    if (typeof w !== "string") return w;
    // XWayland passes its clipboard on to Wayland applications: better than nothing, and said.
    const x = env.DISPLAY && has("xclip") ? x11() : null;
    if (x && typeof x !== "string") {
      o.log?.(`${w}; using X11 through XWayland meanwhile`);
      return x;
    }
    return pick(w);
  }
  if (env.DISPLAY) return pick(x11());
  if (platform === "darwin") return pick(macos());
  throw unusable("no desktop clipboard: neither WAYLAND_DISPLAY nor DISPLAY is set (over SSH, clip desktop --osc52 sets the clipboard of the terminal you type in)");
}
