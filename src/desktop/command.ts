// The body of `clip desktop [R]`: checks its flags, prints a unit or an
// autostart entry, or picks the desktop clipboard (or the terminal's, with
// --osc52) and runs the bridge until SIGINT/SIGTERM (exit 0). The CLI
// declares the flags and hands over a way to open region R (RegionPort):
// src/cli/desktop.ts, over clip-port.ts.

import { ClipError } from "../protocol/errors.ts";
import type { DesktopBackend } from "./backend.ts";
import { type BridgeStats, runBridge } from "./bridge.ts";
import { checkTty, OSC52_MAX, osc52Backend } from "./osc52.ts";
import type { RegionPort } from "./port.ts";
import { BACKENDS, type BackendName, selectBackend } from "./select.ts";
import { autostartEntry, desktopUnit } from "./units.ts";

export interface DesktopFlags {
  toDesktop?: boolean;
  fromDesktop?: boolean;
  backend?: string;
  /** Bytes, or a size such as 64M. */
  maxDesktop?: string | number;
  osc52?: boolean;
  osc52Max?: string | number;
  printSystemdUnit?: boolean;
  printAutostart?: boolean;
}

export interface DesktopContext {
  /** The command's own arguments after `desktop`, as typed (for the unit's ExecStart). */
  argv: string[];
  env?: Record<string, string | undefined>;
  /** Where lines go: stderr by default. */
  log?: (line: string) => void;
  /** Stops the bridge (default: SIGINT or SIGTERM). */
  signal?: AbortSignal;
  /** Written to stdout: the unit or the entry. */
  out?: (text: string) => void;
}

function region(r: unknown): number {
  const s = r === undefined ? "0" : String(r);
  if (!/^[0-9]$/.test(s)) throw new ClipError("USAGE", `bad region "${s}": a region is an integer from 0 to 9`);
  return Number(s);
}

/** Sizes like 64M, 512k or a byte count (as clip's other size flags). */
export function sizeFlag(v: unknown, flag: string, dflt: number): number {
  if (v === undefined) return dflt;
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([kKmMgG]?)(i?[bB])?$/.exec(String(v));
  if (!m) throw new ClipError("USAGE", `bad ${flag} ${JSON.stringify(v)}: give bytes, or a size like 64k, 512M, 1G`);
  const mult = { "": 1, k: 1 << 10, m: 1 << 20, g: 1 << 30 }[m[2].toLowerCase() as "" | "k" | "m" | "g"];
  return Math.floor(Number(m[1]) * mult);
}

function stderrLog(line: string): void {
  process.stderr.write(`${new Date().toISOString()} clip desktop: ${line}\n`);
}

/** Opens region R; `signal` aborts when the bridge stops (a wait for the server ends with it). */
export type OpenPort = (region: number, signal: AbortSignal) => Promise<RegionPort>;

export async function desktop(r: unknown, flags: DesktopFlags, openPort: OpenPort, ctx: DesktopContext): Promise<BridgeStats | null> {
  // Everything the user typed is checked before anything is opened.
  const R = region(r);
  if (flags.toDesktop && flags.fromDesktop) throw new ClipError("USAGE", "--to-desktop and --from-desktop together are the default (both ways): give one of them, or neither");
  if (flags.backend !== undefined && !BACKENDS.includes(flags.backend as BackendName)) {
    throw new ClipError("USAGE", `bad --backend ${JSON.stringify(flags.backend)}: give one of ${BACKENDS.join(", ")}`);
  }
  if (flags.osc52 && flags.fromDesktop) throw new ClipError("USAGE", "--osc52 is one way, to the terminal: --from-desktop cannot go with it");
  if (flags.osc52 && flags.backend) throw new ClipError("USAGE", "--osc52 and --backend name two different clipboards: give one");
  const maxDesktop = sizeFlag(flags.maxDesktop, "--max-desktop", 64 << 20);
  const osc52Max = sizeFlag(flags.osc52Max, "--osc52-max", OSC52_MAX);
  const out = ctx.out ?? ((t: string) => process.stdout.write(t));
  if (flags.printSystemdUnit) return out(desktopUnit(ctx.argv)), null;
  if (flags.printAutostart) return out(autostartEntry(ctx.argv)), null;

  const env = ctx.env ?? process.env;
  const log = ctx.log ?? stderrLog;
  let backend: DesktopBackend;
  if (flags.osc52) {
    checkTty();
    backend = osc52Backend({ max: osc52Max, env });
  } else {
    backend = selectBackend({ forced: flags.backend as BackendName | undefined, env, log });
  }

  let signal = ctx.signal;
  let unhook = () => {};
  if (!signal) {
    const ac = new AbortController();
    const stop = () => ac.abort();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    unhook = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
    };
    signal = ac.signal;
  }
  const way = flags.osc52 || flags.toDesktop ? "to the desktop" : flags.fromDesktop ? "from the desktop" : "both ways";
  try {
    let port: RegionPort;
    try {
      port = await openPort(R, signal);
    } catch (e) {
      backend.close();
      throw e;
    }
    log(`bridging region ${R} with ${backend.name}, ${way}`);
    const stats = await runBridge({
      region: R,
      port,
      backend,
      toDesktop: !flags.fromDesktop,
      fromDesktop: !flags.toDesktop && !flags.osc52,
      maxDesktop,
      log,
      signal,
      onReady: () => log("ready"),
    });
    log(`stopped: ${stats.toRegion} desktop cop${stats.toRegion === 1 ? "y" : "ies"} written to region ${R}, ${stats.toDesktop} value${stats.toDesktop === 1 ? "" : "s"} put on the desktop, ${stats.cleared} cleared`);
    return stats;
  } finally {
    unhook();
  }
}
