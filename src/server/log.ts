// Server logs: one line per event on stderr, coloured only on a terminal and
// never with NO_COLOR. Secrets and tokens are never passed in here.

import { paint } from "../color.ts";

export type Level = "info" | "warn" | "error";

export interface Logger {
  (level: Level, event: string, detail?: string): void;
}

const STYLE = { info: "cyan", warn: "yellow", error: "red" } as const;

export function stderrLogger(name: string, quiet = false): Logger {
  return (level, event, detail) => {
    if (quiet && level === "info") return;
    const time = new Date().toISOString();
    process.stderr.write(`${time} ${name} ${paint(STYLE[level], level.padEnd(5), 2)} ${event}${detail ? ` ${detail}` : ""}\n`);
  };
}

export const silentLogger: Logger = () => {};
