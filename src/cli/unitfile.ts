// What the unit files clip prints (`serve --print-systemd-unit`, `desktop
// --print-systemd-unit` and `--print-autostart`) share: the command's own
// arguments with the print flags dropped and paths made absolute (a unit has
// none of the user's working directory), a token in argv refused (unit files
// are world-readable more often than not), and words quoted for systemd and
// for a shell.

import { resolve } from "node:path";
import { ClipError } from "../protocol/errors.ts";

/** The arguments as given, minus `drop`, the values of `pathFlags` made absolute. */
export function unitArgs(argv: string[], drop: ReadonlySet<string>, pathFlags: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (drop.has(a)) continue;
    const [flag, inline] = a.startsWith("--") ? (a.split(/=(.*)/s, 2) as [string, string | undefined]) : [a, undefined];
    if (flag === "--token") throw new ClipError("USAGE", "a unit file should not hold the token: use --token-file FILE (mode 0600) instead of --token");
    if (pathFlags.has(flag)) {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new ClipError("USAGE", `${flag} needs a value`);
      out.push(flag, resolve(v));
      continue;
    }
    out.push(a);
  }
  return out;
}

export const SAFE_WORD = /^[A-Za-z0-9_@+=:,./-]+$/;

/** One ExecStart word (systemd.service(5)): % and $ escaped, quoted when needed. */
export function unitWord(s: string): string {
  const esc = s.replace(/%/g, "%%").replace(/\$/g, "$$$$");
  return SAFE_WORD.test(s) ? esc : `"${esc.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** A word as a POSIX shell reads it back. */
export const shellWord = (s: string) => (SAFE_WORD.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
