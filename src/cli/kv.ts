// kv put | get | del | list | watch: the keys of a group, for the CLI and
// the shell alike (see context.ts).

import type { CopySource } from "../client/client.ts";
import { collect } from "../value/sink.ts";
import type { KvEvent } from "../client/kv.ts";
import { stdinFile } from "../value/source.ts";
import { ClipError } from "../protocol/errors.ts";
import { checkKey, keyEventJson, parseRevision } from "../protocol/messages.ts";
import { readOptions, typingHint, type WriteFlags, writeOptions } from "./clipboard.ts";
import { timeoutFlag } from "./common.ts";
import type { Ctx } from "./context.ts";
import { sealingKey } from "./keys.ts";
import { binaryType, jsonLine, quote, refuseBinary, showsAsIs, stdoutIsTerminal } from "./output.ts";
import { historyTable, keysTable, valueLine } from "./render.ts";

/**
 * Keys from argv. Bytes that are not UTF-8 reach us as U+FFFD (the runtime
 * decodes argv), so a key holding one is refused rather than silently renamed.
 */
const key = (k: unknown): string => {
  const s = checkKey(k === undefined ? "" : String(k));
  if (s.includes("\uFFFD")) throw new ClipError("USAGE", "bad key: not valid UTF-8 (or it holds U+FFFD, which the command line cannot tell apart)");
  return s;
};

/** Sets KEY to VALUE, or to stdin when there is none (the CLI). */
export async function put(ctx: Ctx, k: unknown, value: unknown, flags: WriteFlags = {}): Promise<void> {
  const name = key(k);
  const opts = { ...writeOptions(flags), encrypt: await sealingKey(flags) }; // before a byte is read or sent
  const kv = await ctx.kv();
  let source: CopySource;
  if (value !== undefined) source = String(value);
  else {
    // stdin redirected from a file has a size we can announce (what is left of it); a pipe does not.
    const file = stdinFile();
    if (!file) typingHint(`the value of ${JSON.stringify(name)}`);
    source = file ?? (Bun.stdin.stream() as unknown as AsyncIterable<Uint8Array>);
  }
  const w = await kv.put(name, source, opts);
  if (flags.json) await ctx.write(jsonLine({ rev: w.rev, size: w.size }));
}

/** Up to this size a value printed at a terminal is read whole first, to be shown as text. */
const SHOW_WHOLE = 16 << 20;

/**
 * KEY's value. Into a pipe or a file: its bytes, exactly. At a terminal,
 * for a person to read, as redis-cli shows one: text ends with a newline
 * (so the prompt does not land on it); text holding control characters
 * (escape sequences, \r) is shown double-quoted with escapes; binary is
 * refused unless --force (output.ts).
 */
export async function get(ctx: Ctx, k: unknown, flags: { rev?: unknown; back?: unknown; force?: unknown } = {}): Promise<void> {
  const name = key(k);
  const at = readOptions(flags);
  const m = await (await ctx.kv()).getStream(name, at);
  const label = `kv get ${name}:`;
  const size = typeof m.meta.size === "number" ? m.meta.size : 0;
  if (ctx.stdout !== true || flags.force === true || size > SHOW_WHOLE || !(await stdoutIsTerminal())) return ctx.value(m, label);
  let bytes: Uint8Array;
  try {
    bytes = m.whole ?? (await collect(m.body, size));
  } finally {
    m.done();
  }
  const binary = binaryType(m.meta.type, bytes, true);
  if (binary !== undefined) throw refuseBinary(bytes.length, binary);
  if (bytes.length === 0) return;
  if (!showsAsIs(bytes, true) || bytes[0] === 0x22) return ctx.write(`${quote(bytes)}\n`);
  await ctx.write(bytes[bytes.length - 1] === 0x0a ? bytes : Buffer.concat([bytes, enc.encode("\n")]));
}

export async function history(ctx: Ctx, k: unknown, flags: { json?: boolean }): Promise<void> {
  const rows = await (await ctx.kv()).history(key(k));
  await ctx.write(flags.json ? jsonLine(rows) : historyTable(rows, ctx.interactive));
}

export async function del(ctx: Ctx, k: unknown): Promise<void> {
  const name = key(k);
  await (await ctx.kv()).del(name);
}

export async function list(ctx: Ctx, prefix: unknown, flags: { json?: boolean }): Promise<void> {
  const p = prefix === undefined ? "" : key(prefix);
  const keys = await (await ctx.kv()).list(p);
  await ctx.write(flags.json ? jsonLine(keys) : keysTable(keys, ctx.interactive));
}

interface WatchFlags {
  prefix?: unknown;
  since?: unknown;
  exec?: string;
  execTimeout?: string;
  json?: boolean;
  count?: string;
  timeout?: string;
}

const enc = new TextEncoder();

/**
 * A key or value on a `kv watch` line: as it is when that is unambiguous
 * (printable UTF-8 on one line, not empty, not beginning with a quote; a key
 * without spaces), else double-quoted with escapes, so that every change is
 * one line whatever its value holds. The exact bytes: --json or --exec.
 */
function word(bytes: Uint8Array, isKey: boolean): string {
  const plain = bytes.length > 0 && bytes[0] !== 0x22 && showsAsIs(bytes, false) && !(isKey && bytes.includes(0x20));
  return plain ? new TextDecoder().decode(bytes) : quote(bytes);
}

/** One change as `kv watch --json` prints it (the shape HTTP's event streams share). */
function eventJson(group: string, e: KvEvent): Record<string, unknown> {
  return keyEventJson(group, e, e.event === "put" ? e.value : undefined);
}

function positiveInt(v: unknown, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new ClipError("USAGE", `bad ${flag} ${JSON.stringify(v)}: give a whole number of 1 or more`);
  return n;
}

/**
 * Runs the --exec command for one change and waits for it: changes are
 * handled one at a time, in order. A failure or a hang is reported and the
 * watch goes on; a hung command is killed after --exec-timeout.
 */
async function runExec(cmd: string, group: string, e: KvEvent, n: number, limitS: number): Promise<void> {
  const proc = Bun.spawn(["/bin/sh", "-c", cmd], {
    stdin: e.event === "put" && e.value.length > 0 ? new Blob([e.value as Uint8Array<ArrayBuffer>]) : "ignore",
    stdout: "inherit",
    stderr: "inherit",
    env: { ...process.env, CLIP_KEY: e.key, CLIP_EVENT: e.event, CLIP_GROUP: group, CLIP_REV: String(e.rev) },
    // Its own process group, so a hung command is killed with everything it started.
    detached: true,
  });
  const kill = (sig: NodeJS.Signals) => {
    try {
      process.kill(-proc.pid, sig);
    } catch {}
  };
  let timedOut = false;
  const timer =
    limitS > 0
      ? setTimeout(() => {
          timedOut = true;
          kill("SIGTERM");
          setTimeout(() => kill("SIGKILL"), 2000).unref();
        }, limitS * 1000)
      : undefined;
  const code = await proc.exited;
  clearTimeout(timer);
  const what = `change ${n} (${e.event} ${JSON.stringify(e.key)})`;
  if (timedOut) process.stderr.write(`clip: --exec command still running after ${limitS} s on ${what}: killed it; still watching\n`);
  else if (code !== 0) process.stderr.write(`clip: --exec command ${proc.signalCode ? `killed by ${proc.signalCode}` : `exited with status ${code}`} on ${what}; still watching\n`);
}

/**
 * Every later change of KEY. The CLI reports them in the foreground (lines,
 * JSON, or --exec); the shell prints them in the background.
 */
export async function watch(ctx: Ctx, k: unknown, flags: WatchFlags): Promise<void> {
  if ((k === undefined) === (flags.prefix === undefined)) throw new ClipError("USAGE", "kv watch takes a KEY or --prefix P (\"\" for every key of the group), not both");
  const prefix = flags.prefix === undefined ? undefined : flags.prefix === "" || flags.prefix === true ? "" : key(flags.prefix);
  const what = prefix === undefined ? key(k) : { prefix };
  const name = prefix === undefined ? (what as string) : `${prefix}*`;
  const since = flags.since !== undefined ? parseRevision(flags.since, "--since") : undefined;
  const count = positiveInt(flags.count, "--count");
  const timeout = timeoutFlag(flags.timeout);
  const execTimeout = flags.execTimeout === undefined ? 60 : timeoutFlag(flags.execTimeout)!;
  if (flags.exec !== undefined && (typeof flags.exec !== "string" || flags.exec.trim() === "")) throw new ClipError("USAGE", "--exec needs a command, e.g. --exec 'cat >> log'");
  const kv = await ctx.kv();
  if (ctx.background) {
    return ctx.background(`kv watch ${name}`, async (signal) => {
      const w = kv.watch(what, { signal, since, resume: false });
      await w.ready; // the watch is in place before the next command runs
      return (async function* () {
        for await (const e of w) yield e.event === "put" ? `${e.key} = ${valueLine(e.value)}` : `${e.key} ${e.event === "del" ? "deleted" : "expired"}`;
      })();
    });
  }
  const group = kv.group;
  // A lost connection ends the command (exit 3); --since is how a script resumes.
  const w = kv.watch(what, { since, resume: false });
  let seen = 0;
  let timedOut = false;
  const timer =
    timeout !== undefined
      ? setTimeout(() => {
          timedOut = true;
          w.close();
        }, timeout * 1000)
      : undefined;
  try {
    for await (const e of w) {
      seen++;
      if (flags.json) await ctx.write(jsonLine(eventJson(group, e)));
      if (flags.exec !== undefined) await runExec(flags.exec, group, e, seen, execTimeout);
      else if (!flags.json) {
        if (e.event === "put") await ctx.write(`put ${word(enc.encode(e.key), true)} ${word(e.value, false)}\n`);
        else await ctx.write(`${e.event} ${word(enc.encode(e.key), true)}\n`);
      }
      if (count !== undefined && seen >= count) break;
    }
  } finally {
    clearTimeout(timer);
    w.close();
  }
  if (timedOut && seen === 0) throw new ClipError("TIMEOUT", `no change of ${JSON.stringify(name)} within ${timeout} s`);
}
