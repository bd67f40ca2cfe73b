// Colour, for the CLI's output and the server's logs alike: only on a
// terminal, never with NO_COLOR or TERM=dumb, decided per stream (stdout and
// stderr may differ). kleur does the painting; it is loaded on first use,
// because it reads process.stdout when loaded and only a terminal needs it.

// node:tty costs ~7 ms of startup (it pulls in node's streams), more than a
// whole `clip paste` should take: load it only when a question needs it.
export const isatty = (fd: number): boolean => (require("node:tty") as typeof import("node:tty")).isatty(fd);

export function useColor(fd: 1 | 2 = 1): boolean {
  return !process.env.NO_COLOR && process.env.TERM !== "dumb" && isatty(fd);
}

export type Style = "bold" | "dim" | "red" | "yellow" | "cyan";

let kleur: typeof import("kleur") | null = null;

/** `s` in `style` when stream `fd` is a terminal that wants colour; else `s` unchanged. */
export function paint(style: Style, s: string, fd: 1 | 2 = 1): string {
  if (!useColor(fd)) return s;
  if (!kleur) {
    kleur = require("kleur") as typeof import("kleur");
    kleur.enabled = true; // we decided above, per stream; kleur alone looks at stdout only
  }
  return kleur[style](s);
}
