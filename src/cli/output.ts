// How the CLI writes: data to stdout exactly, everything else to stderr;
// colour only on a terminal and never with NO_COLOR; sizes human-readable
// at a terminal and exact in --json.

import type { Message } from "../client/client.ts";
import { isatty, paint } from "../color.ts";
import { ClipError } from "../protocol/errors.ts";
import { isText, SNIFF_BYTES, sniff } from "../value/mediatype.ts";

export { paint, useColor } from "../color.ts";

export const stdoutIsTTY = (): boolean => isatty(1);

let stdoutTerminal: Promise<boolean> | undefined;

/**
 * Whether stdout is a terminal, for the value path (`clip paste` in a loop):
 * node:tty costs ~6 ms to load, a stat of fd 1 next to nothing. A pipe or a
 * file is not a character device; on Linux, neither is /dev/null one a
 * terminal (major 1, the memory devices); only what is left is asked.
 */
export function stdoutIsTerminal(): Promise<boolean> {
  return (stdoutTerminal ??= Bun.stdout.stat().then(
    (st) => st.isCharacterDevice() && !(process.platform === "linux" && Number(st.rdev) >> 8 === 1) && isatty(1),
    () => isatty(1),
  ));
}
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

/**
 * A value's kind as a terminal sees it: binary when its stored media type is
 * not text, or when its first bytes are not text (a value labelled text/plain
 * can still hold anything). `head` is the whole value when `whole`.
 */
export function binaryType(type: unknown, head: Uint8Array, whole: boolean): string | undefined {
  if (head.length === 0) return undefined;
  if (typeof type === "string" && type !== "" && !isText(type)) return type;
  const seen = sniff(head.subarray(0, SNIFF_BYTES), whole || head.length < SNIFF_BYTES);
  return isText(seen) ? undefined : seen;
}

/**
 * Binary bytes written to a terminal can change its state (charset, title,
 * keys); like curl, a command refuses them there unless --force is given, and
 * a pipe or a file always gets the bytes. Exit 1: nothing is wrong with the
 * command line, only with where it writes.
 */
export function refuseBinary(size: unknown, type: string): ClipError {
  const n = typeof size === "number" ? `${size} bytes, ` : "";
  return new ClipError("UNAVAILABLE", `binary output (${n}${type}) can mess up your terminal; use --force or redirect it`);
}

/** Streams a message's body to stdout with backpressure (progress at a terminal), then releases it. Binary is refused at a terminal unless `force`. */
export async function bodyToStdout(m: Message & { done?(): void }, label: string, opts: { force?: boolean } = {}): Promise<void> {
  if (m.whole !== undefined) {
    // A small value came whole in its reply: one write, no stream (what `clip paste` in a loop pays for).
    try {
      // Checked only for what looks binary: text needs no question asked.
      const binary = opts.force ? undefined : binaryType(m.meta.type, m.whole, true);
      if (binary !== undefined && (await stdoutIsTerminal())) throw refuseBinary(m.whole.length, binary);
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
  let first = !opts.force;
  try {
    for await (const chunk of m.body) {
      if (first) {
        first = false;
        const binary = binaryType(m.meta.type, chunk, size === chunk.length);
        if (binary !== undefined && (await stdoutIsTerminal())) throw refuseBinary(size, binary);
      }
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

const HEX = (b: number) => `\\x${b.toString(16).padStart(2, "0")}`;
const ESCAPES: Record<number, string> = { 0x0a: "\\n", 0x0d: "\\r", 0x09: "\\t", 0x22: '\\"', 0x5c: "\\\\" };

/** The length of a well-formed UTF-8 sequence at `i` (not a C1 control, not a surrogate), or 0. */
function utf8At(b: Uint8Array, i: number): number {
  const c = b[i];
  const n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (n === 0 || i + n > b.length) return 0;
  for (let k = 1; k < n; k++) if ((b[i + k] & 0xc0) !== 0x80) return 0;
  if (c === 0xc2 && b[i + 1] < 0xa0) return 0; // U+0080-U+009F: C1 controls
  if (c === 0xe0 && b[i + 1] < 0xa0) return 0; // overlong
  if (c === 0xed && b[i + 1] >= 0xa0) return 0; // surrogates
  if (c === 0xf0 && b[i + 1] < 0x90) return 0; // overlong
  if (c === 0xf4 && b[i + 1] >= 0x90) return 0; // over U+10FFFF
  return n;
}

/**
 * Bytes as the inside of a double-quoted string (\\n \\r \\t \\" \\\\ and
 * \\xNN for control bytes and bytes that are not UTF-8), and whether every
 * byte is shown as it is without quoting: printable UTF-8, and newlines and
 * tabs too when `lines`.
 */
function scan(bytes: Uint8Array, lines: boolean): { plain: boolean; body: string } {
  let plain = true;
  let body = "";
  const dec = new TextDecoder();
  for (let i = 0; i < bytes.length; ) {
    const c = bytes[i];
    const n = c < 0x80 ? 0 : utf8At(bytes, i);
    if (c >= 0x20 && c < 0x7f) {
      body += ESCAPES[c] ?? String.fromCharCode(c);
      i++;
    } else if (n === 0) {
      if (!(lines && (c === 0x0a || c === 0x09))) plain = false;
      body += ESCAPES[c] ?? HEX(c);
      i++;
    } else {
      body += dec.decode(bytes.subarray(i, i + n));
      i += n;
    }
  }
  return { plain, body };
}

/** Whether a terminal shows these bytes as they are: printable UTF-8 (and newlines and tabs, when `lines`), no control bytes. */
export const showsAsIs = (bytes: Uint8Array, lines: boolean): boolean => scan(bytes, lines).plain;

/** A value as one line, as redis-cli shows one: double-quoted, with \\n \\r \\t \\" \\\\ \\xNN escapes; printable UTF-8 as it is. */
export const quote = (bytes: Uint8Array): string => `"${scan(bytes, false).body}"`;
