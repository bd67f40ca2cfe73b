// clip kv put | get | del | list | watch: a family with its own parser, so
// that `clip kv put --help` shows that action's flags and an example.

import { cac } from "cac";
import { clientFlags, flat } from "./flags.ts";
import { helpLayout } from "./help.ts";
import { fstatSync } from "node:fs";
import type { Client, Message } from "../client/client.ts";
import type { Kv, KvEvent } from "../client/kv.ts";
import { ClipError } from "../protocol/errors.ts";
import { checkGroupName, checkKey } from "../protocol/messages.ts";
import { type ClientFlags, openClient, timeoutFlag } from "./common.ts";
import { json, out, stdoutIsTTY } from "./output.ts";
import { keysTable } from "./render.ts";

interface KvFlags extends ClientFlags {
  group?: string;
  secret?: string;
}

let warnedArgv = false;

/** Group and secret from the flags or the environment, checked before connecting. */
function groupAndSecret(flags: KvFlags): { group: string; secret: string } {
  const g = flags.group ?? process.env.CLIP_GROUP;
  if (g === undefined || g === "") throw new ClipError("USAGE", "no group: pass -g/--group G or set CLIP_GROUP");
  const group = checkGroupName(String(g));
  const s = flags.secret ?? process.env.CLIP_SECRET;
  // Like --token: argv is readable by every user of the machine (ps).
  if (flags.secret !== undefined && (flags.secret as unknown) !== true && !warnedArgv) {
    warnedArgv = true;
    process.stderr.write("clip: warning: --secret is visible to other users in the process list; prefer CLIP_SECRET\n");
  }
  if (s === undefined || s === "" || (s as unknown) === true) throw new ClipError("USAGE", "no secret: pass --secret S or set CLIP_SECRET (clip group create prints it)");
  return { group, secret: String(s) };
}

async function withKv<T>(flags: KvFlags, fn: (kv: Kv, c: Client) => Promise<T>): Promise<T> {
  const gs = groupAndSecret(flags);
  const c = await openClient(flags);
  try {
    return await fn(await c.kv(gs), c);
  } finally {
    c.close();
  }
}

/**
 * Keys from argv. Bytes that are not UTF-8 reach us as U+FFFD (the runtime
 * decodes argv), so a key holding one is refused rather than silently renamed.
 */
const key = (k: unknown): string => {
  const s = checkKey(k === undefined ? "" : String(k));
  if (s.includes("\uFFFD")) throw new ClipError("USAGE", "bad key: not valid UTF-8 (or it holds U+FFFD, which the command line cannot tell apart)");
  return s;
};

export async function put(k: unknown, value: unknown, flags: KvFlags): Promise<void> {
  const name = key(k);
  groupAndSecret(flags);
  let source: string | Blob | AsyncIterable<Uint8Array>;
  if (value !== undefined) source = String(value);
  else {
    // stdin redirected from a file has a size we can announce; a pipe does not.
    const st = fstatSync(0);
    source = st.isFile() ? Bun.file("/dev/stdin") : (Bun.stdin.stream() as unknown as AsyncIterable<Uint8Array>);
  }
  await withKv(flags, (kv) => kv.put(name, source));
}

async function bodyToStdout(m: Message): Promise<void> {
  const w = Bun.stdout.writer({ highWaterMark: 1 << 20 });
  for await (const chunk of m.body) {
    w.write(chunk);
    await w.flush();
  }
  await w.flush();
}

export async function get(k: unknown, flags: KvFlags): Promise<void> {
  const name = key(k);
  await withKv(flags, async (kv) => {
    const m = await kv.getStream(name);
    try {
      await bodyToStdout(m);
    } finally {
      m.done();
    }
  });
}

export async function del(k: unknown, flags: KvFlags): Promise<void> {
  const name = key(k);
  await withKv(flags, (kv) => kv.del(name));
}

export async function list(prefix: unknown, flags: KvFlags & { json?: boolean }): Promise<void> {
  const p = prefix === undefined ? "" : key(prefix);
  const keys = await withKv(flags, (kv) => kv.list(p));
  if (flags.json) return json(keys);
  await out(keysTable(keys, stdoutIsTTY()));
}

interface WatchFlags extends KvFlags {
  exec?: string;
  execTimeout?: string;
  json?: boolean;
  count?: string;
  timeout?: string;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const enc = new TextEncoder();

function eventJson(group: string, e: KvEvent): Record<string, unknown> {
  if (e.event === "del") return { event: "del", group, key: e.key, rev: e.rev, at: e.at, by: e.by };
  const { value, ...rest } = e;
  let text: string | null = null;
  try {
    text = utf8.decode(value);
  } catch {}
  return { ...rest, group, value: text ?? Buffer.from(value).toString("base64"), encoding: text !== null ? "utf8" : "base64" };
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

export async function watch(k: unknown, flags: WatchFlags): Promise<void> {
  const name = key(k);
  const { group } = groupAndSecret(flags);
  const count = positiveInt(flags.count, "--count");
  const timeout = timeoutFlag(flags.timeout);
  const execTimeout = flags.execTimeout === undefined ? 60 : timeoutFlag(flags.execTimeout)!;
  if (flags.exec !== undefined && (typeof flags.exec !== "string" || flags.exec.trim() === "")) throw new ClipError("USAGE", "--exec needs a command, e.g. --exec 'cat >> log'");
  await withKv(flags, async (kv) => {
    const w = kv.watch(name);
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
        if (flags.json) await json(eventJson(group, e));
        if (flags.exec !== undefined) await runExec(flags.exec, group, e, seen, execTimeout);
        else if (!flags.json) {
          if (e.event === "put") await out(Buffer.concat([enc.encode(`put ${e.key} `), e.value, enc.encode("\n")]));
          else await out(`del ${e.key}\n`);
        }
        if (count !== undefined && seen >= count) break;
      }
    } finally {
      clearTimeout(timer);
      w.close();
    }
    if (timedOut && seen === 0) throw new ClipError("TIMEOUT", `no change of ${JSON.stringify(name)} within ${timeout} s`);
  });
}

const withFlags = (cmd: ReturnType<ReturnType<typeof cac>["command"]>) =>
  clientFlags(cmd)
    .option("-g, --group <group>", "the group (env CLIP_GROUP)", { type: [String] })
    .option("--secret <secret>", "the group's secret (env CLIP_SECRET; preferred: argv is visible in ps)", { type: [String] });

/** Parses `clip kv ACTION ...` and runs it. */
export async function run(argv: string[]): Promise<void> {
  const cli = cac("clip kv");
  withFlags(cli.command("put <key> [value]", "Set KEY to VALUE, or to stdin when VALUE is absent (binary-safe, streamed)"))
    .example("clip kv put -g app --secret \"$S\" color blue")
    .example("tar c dir | CLIP_GROUP=app CLIP_SECRET=$S clip kv put backup")
    .action((k, v, o) => put(k, v, flat(o)));
  withFlags(cli.command("get <key>", "Print KEY's value to stdout, byte for byte (missing key: exit 5)"))
    .example("clip kv get -g app color")
    .action((k, o) => get(k, flat(o)));
  withFlags(cli.command("del <key>", "Delete KEY (missing key: exit 5)"))
    .example("clip kv del -g app color")
    .action((k, o) => del(k, flat(o)));
  withFlags(cli.command("list [prefix]", "The group's keys (under PREFIX): size, when written, by which server"))
    .option("--json", "print JSON")
    .example("clip kv list -g app conf/ --json")
    .action((p, o) => list(p, flat(o)));
  withFlags(
    cli.command(
      "watch <key>",
      "Report every later change of KEY (put or del), in order: 'put KEY VALUE' or 'del KEY' lines (the key need not exist yet)",
    ),
  )
    .option("--exec <cmd>", "run CMD (sh -c) once per change, one at a time, in order, with the value on stdin and CLIP_KEY, CLIP_EVENT (put/del), CLIP_GROUP, CLIP_REV set; a CMD that fails, or hangs past --exec-timeout (then killed), is reported on stderr and the watch GOES ON", { type: [String] })
    .option("--exec-timeout <seconds>", "kill a CMD still running after this long, report it, go on (default 60; 0: never)", { type: [String] })
    .option("--json", "one JSON object per change: value as UTF-8 text, or base64 when not (see \"encoding\")")
    .option("--count <n>", "stop after N changes (a watcher more than 1024 changes behind is cut off: exit 1)", { type: [String] })
    .option("--timeout <seconds>", "stop after this long; exit 124 if nothing changed meanwhile", { type: [String] })
    .example("clip kv watch -g app color --exec 'notify-send \"color: $(cat)\"'")
    .example("clip kv watch -g app color --json --count 1 --timeout 30")
    .action((k, o) => watch(k, flat(o)));
  cli.help(helpLayout(cli));
  const parsed = cli.parse(["", "", ...argv], { run: false });
  if (!cli.matchedCommand) {
    if (parsed.options.help) return;
    if (cli.args.length > 0) throw new ClipError("USAGE", `unknown action "kv ${cli.args[0]}": use put, get, del, list or watch (see clip kv --help)`);
    cli.outputHelp();
    process.exit(2);
  }
  if (parsed.options.help) return;
  await cli.runMatchedCommand();
}
