// Server logs: one line per event on stderr, coloured only on a terminal and
// never with NO_COLOR. Secrets and tokens are never passed in here.

export type Level = "info" | "warn" | "error";

export interface Logger {
  (level: Level, event: string, detail?: string): void;
}

export function stderrLogger(name: string, quiet = false): Logger {
  const color = !process.env.NO_COLOR && process.env.TERM !== "dumb" && !!process.stderr.isTTY;
  const paint = (level: Level, s: string) => {
    if (!color) return s;
    const code = level === "error" ? 31 : level === "warn" ? 33 : 36;
    return `\x1b[${code}m${s}\x1b[39m`;
  };
  return (level, event, detail) => {
    if (quiet && level === "info") return;
    const time = new Date().toISOString();
    process.stderr.write(`${time} ${name} ${paint(level, level.padEnd(5))} ${event}${detail ? ` ${detail}` : ""}\n`);
  };
}

export const silentLogger: Logger = () => {};
