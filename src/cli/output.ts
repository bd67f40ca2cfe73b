// How the CLI writes: data to stdout exactly, everything else to stderr;
// colour only on a terminal and never with NO_COLOR; sizes human-readable
// at a terminal and exact in --json.

import type { Message } from "../client/client.ts";
import { isatty, paint } from "../color.ts";

export { paint, useColor } from "../color.ts";

export const stdoutIsTTY = (): boolean => isatty(1);
export const stderrIsTTY = (): boolean => isatty(2);

export const bold = (s: string) => paint("bold", s);
export const dim = (s: string) => paint("dim", s);

export function humanSize(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function ago(ms: number, now = Date.now()): string {
  if (!ms) return "-";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function duration(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

/** Aligned columns; the header is bold at a terminal. */
export function table(header: string[], rows: string[][]): string {
  rows = rows.map((r) => r.map(printable));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => visible(r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + " ".repeat(widths[i] - visible(c).length)))
      .join("  ")
      .trimEnd();
  return [bold(line(header)), ...rows.map(line)].join("\n") + "\n";
}

/**
 * Cells carry text other applications wrote (keys, names): control
 * characters are shown escaped (\x1b, \t) so they cannot move the cursor,
 * retitle the terminal or break columns. Our own colour codes stay.
 */
function printable(s: string): string {
  return s.replace(/\x1b(?!\[[0-9;]*m)|[\x00-\x1a\x1c-\x1f\x7f-\x9f]/g, (c) =>
    c === "\t" ? "\\t" : c === "\n" ? "\\n" : c === "\r" ? "\\r" : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

function visible(s: string): string {
  return s.replace(/\x1b\[[0-9;]*m/g, "");
}

const enc = new TextEncoder();

/** Writes text to stdout. */
export async function out(s: string | Uint8Array): Promise<void> {
  await Bun.write(Bun.stdout, typeof s === "string" ? enc.encode(s) : s);
}

/** One JSON value on a line of its own. */
export const jsonLine = (v: unknown): string => `${JSON.stringify(v)}\n`;

/** Streams a message's body to stdout with backpressure (progress at a terminal), then releases it. */
export async function bodyToStdout(m: Message & { done?(): void }, label: string): Promise<void> {
  if (m.whole !== undefined) {
    // A small value came whole in its reply: one write, no stream (what `clip paste` in a loop pays for).
    try {
      await Bun.write(Bun.stdout, m.whole);
    } finally {
      m.done?.();
    }
    return;
  }
  const size = typeof m.meta.size === "number" ? m.meta.size : undefined;
  const bar = progress(label);
  const w = Bun.stdout.writer({ highWaterMark: 1 << 20 });
  let done = 0;
  try {
    for await (const chunk of m.body) {
      w.write(chunk);
      done += chunk.length;
      bar(done, size);
      await w.flush();
    }
    await w.flush();
  } finally {
    bar.end();
    m.done?.();
  }
}

/** A progress line on stderr for large transfers, only at a terminal. */
export function progress(label: string, threshold = 4 << 20): ((done: number, total?: number) => void) & { end(): void } {
  let on: boolean | undefined; // asked at the threshold: small transfers never load node:tty
  let last = 0;
  let shown = false;
  const f = ((done: number, total?: number) => {
    if (done < threshold || !(on ??= stderrIsTTY())) return;
    const now = Date.now();
    if (now - last < 100 && (total === undefined || done < total)) return;
    last = now;
    shown = true;
    const pct = total ? ` ${Math.floor((done / total) * 100)}%` : "";
    process.stderr.write(`\r${label} ${humanSize(done)}${total ? ` / ${humanSize(total)}` : ""}${pct}\x1b[K`);
  }) as ((done: number, total?: number) => void) & { end(): void };
  f.end = () => {
    if (shown) process.stderr.write("\r\x1b[K");
  };
  return f;
}
