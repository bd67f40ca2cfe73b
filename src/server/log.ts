// Server logs: one line per event on stderr, coloured only on a terminal and
// never with NO_COLOR. Secrets and tokens are never passed in here.
//
// Every line has one shape, for people and for grep:
//   TIME NAME LEVEL EVENT: DETAIL
//   2026-01-02T09:05:00.000Z box warn  parent lost: hub (tcp:10.0.0.2:7070): connection lost; ...
// TIME is UTC (RFC 3339), NAME the server's --name, LEVEL info, warn or
// error padded to one width, EVENT a short fixed phrase in lower case
// (what happened: "child joined", "cannot join"), and DETAIL the particulars;
// an event without particulars ends the line ("stopped").

import { paint } from "../color.ts";

export type Level = "info" | "warn" | "error";

export interface Logger {
  /** `event`: a fixed phrase ("child joined"); `detail`: the particulars, after a colon. */
  (level: Level, event: string, detail?: string): void;
}

/** One log line, without its newline (see the top of this file). */
export function logLine(time: Date, name: string, level: string, event: string, detail?: string): string {
  return `${time.toISOString()} ${name} ${level} ${event}${detail ? `: ${detail}` : ""}`;
}

const STYLE = { info: "cyan", warn: "yellow", error: "red" } as const;

export function stderrLogger(name: string, quiet = false): Logger {
  return (level, event, detail) => {
    if (quiet && level === "info") return;
    process.stderr.write(`${logLine(new Date(), name, paint(STYLE[level], level.padEnd(5), 2), event, detail)}\n`);
  };
}

export const silentLogger: Logger = () => {};
