// copy | paste | wait | list: thin wrappers over the library client, for
// the CLI and the shell alike (see context.ts).

import { type CopySource, FileSource } from "../client/client.ts";
import { isatty } from "../color.ts";
import { stdinFile } from "../value/source.ts";
import { ClipError } from "../protocol/errors.ts";
import { parseDuration, parseRegion, parseRevision } from "../protocol/messages.ts";
import { handoffWanted, namedToStdout } from "../value/handoff.ts";
import { checkMediaType } from "../value/mediatype.ts";
import { type ClientFlags, fileProblem, openClient, parseSize, timeoutFlag } from "./common.ts";
import { type Ctx, cliContext } from "./context.ts";
import { sealingKey } from "./keys.ts";
import { jsonLine, progress, stdoutIsTerminal } from "./output.ts";
import { historyTable, regionsTable, valueLine } from "./render.ts";

export interface WriteFlags extends ClientFlags {
  type?: unknown;
  ttl?: unknown;
  ifRev?: unknown;
  json?: boolean;
  encrypt?: boolean;
}

/** A write's flags, checked before a byte is read or sent (usage errors: exit 2). */
export function writeOptions(flags: WriteFlags): { type?: string; ttl?: number; ifRev?: number } {
  const o: { type?: string; ttl?: number; ifRev?: number } = {};
  if (flags.type !== undefined) o.type = checkMediaType(flags.type);
  if (flags.ttl !== undefined) o.ttl = parseDuration(flags.ttl);
  if (flags.ifRev !== undefined) o.ifRev = parseRevision(flags.ifRev, "--if-rev");
  return o;
}

/** --rev / --back: which stored value to read. */
export function readOptions(flags: { rev?: unknown; back?: unknown }): { rev?: number; back?: number } {
  if (flags.rev !== undefined && flags.back !== undefined) throw new ClipError("USAGE", "--rev and --back do not go together");
  if (flags.rev !== undefined) return { rev: parseRevision(flags.rev, "--rev") };
  if (flags.back !== undefined) return { back: parseRevision(flags.back, "--back") };
  return {};
}

/** Stores TEXT (the shell), or FILE, or stdin in a region. */
export async function copy(ctx: Ctx, region: unknown, file: string | undefined, flags: WriteFlags, text?: string): Promise<void> {
  const r = parseRegion(region); // before reading a byte or connecting
  const opts = { ...writeOptions(flags), encrypt: await sealingKey(flags) };
  const done = async (w: { rev: number; size: number }) => {
    if (flags.json) await ctx.write(jsonLine({ rev: w.rev, size: w.size }));
  };
  if (text !== undefined) return done(await (await ctx.client()).copy(r, text, opts));
  // node:fs costs ~1.5 ms of startup: only copy needs it, so paste never loads it.
  const { statSync } = require("node:fs") as typeof import("node:fs");
  let source: CopySource;
  let total: number | undefined;
  if (file !== undefined) {
    let st;
    try {
      st = statSync(file);
    } catch (e) {
      // Like cat and cp: a file that is not there is a failure (exit 1), not a usage error.
      throw new ClipError("UNAVAILABLE", `${file}: ${fileProblem(e)}`, { cause: e });
    }
    if (st.isDirectory()) throw new ClipError("UNAVAILABLE", `${file}: is a directory (try tar c ${file} | clip copy ${r})`);
    // A regular file is read straight into frames; anything else (a fifo, a device) streams.
    source = st.isFile() ? new FileSource(file, st.size) : Bun.file(file);
    total = st.isFile() ? st.size : undefined;
  } else {
    // stdin redirected from a file has a size we can announce (what is left of it); a pipe does not.
    const file = stdinFile();
    if (!file) typingHint(`region ${r}`);
    source = file ?? (Bun.stdin.stream() as unknown as AsyncIterable<Uint8Array>);
    total = file?.size;
  }
  const c = await ctx.client();
  const bar = progress(`copy ${r}:`);
  let w;
  try {
    w = await c.copy(r, source, { ...opts, onProgress: (n) => bar(n, total) });
  } finally {
    bar.end();
  }
  await done(w);
}

/**
 * With nothing piped in, a copy waits for the terminal: say so, once, on
 * stderr (a person may not know that Ctrl-D ends the value). Only when stdin
 * is a terminal: a pipe or a file is read without a word.
 */
export function typingHint(what: string): void {
  if (isatty(0)) process.stderr.write(`clip: reading ${what} from the terminal until Ctrl-D (Ctrl-C cancels)\n`);
}

export async function pasteRegion(ctx: Ctx, region: unknown, flags: { rev?: unknown; back?: unknown; osc52?: unknown; "osc52-max"?: unknown; force?: unknown } = {}): Promise<void> {
  const r = parseRegion(region);
  const at = readOptions(flags);
  const osc52Max = flags["osc52-max"];
  if (osc52Max !== undefined && !flags.osc52) throw new ClipError("USAGE", "--osc52-max goes with --osc52");
  if (flags.osc52) {
    const max = osc52Max === undefined ? undefined : parseSize(osc52Max, "--osc52-max");
    const { pasteToTerminal } = await import("../desktop/osc52.ts");
    return pasteToTerminal(async () => (await ctx.client()).pasteStream(r, at), `region ${r}`, { max });
  }
  const c = await ctx.client();
  // To the CLI's own stdout a value the server keeps in a file may come by path and be copied there
  // with sendfile (value/handoff.ts); a sealed one is read as bytes instead, to be opened on the way.
  if (ctx.stdout === true && c.address.kind === "unix" && handoffWanted()) {
    const m = await c.pasteByPath(r, at);
    if (m.meta.file === undefined) return ctx.value(m, `paste ${r}:`);
    m.done();
    // To a terminal the bytes stream instead, to be looked at first (binary is refused there): a large value pays for the question.
    if ((flags.force === true || !(await stdoutIsTerminal())) && (await namedToStdout(m.meta))) return;
    // That file is gone (a newer value replaced it), or sealed: the bytes, as they are now.
  }
  await ctx.value(await c.pasteStream(r, at), `paste ${r}:`);
}

export async function history(ctx: Ctx, region: unknown, flags: { json?: boolean }): Promise<void> {
  const rows = await (await ctx.client()).history(parseRegion(region));
  await ctx.write(flags.json ? jsonLine(rows) : historyTable(rows, ctx.interactive));
}

/** `clip paste R` as src/entry.ts's fast path calls it: one connection, one paste, nothing loaded on the way. */
export async function paste(region: unknown, flags: ClientFlags): Promise<void> {
  const ctx = cliContext(flags, openClient);
  try {
    await pasteRegion(ctx, region);
  } finally {
    ctx.close();
  }
}

export interface WaitFlags extends ClientFlags {
  timeout?: unknown;
  follow?: boolean;
  since?: unknown;
  sep?: unknown;
  0?: boolean;
}

export async function wait(ctx: Ctx, region: unknown, flags: WaitFlags): Promise<void> {
  const r = parseRegion(region);
  const timeout = timeoutFlag(flags.timeout);
  if (flags.sep !== undefined && flags[0]) throw new ClipError("USAGE", "--sep and -0 do not go together");
  if (!flags.follow && (flags.sep !== undefined || flags[0])) throw new ClipError("USAGE", "--sep and -0 go with --follow");
  const since = flags.since !== undefined ? parseRevision(flags.since, "--since") : undefined;
  const c = await ctx.client();
  if (!flags.follow) return ctx.value(await c.waitStream(r, { timeout, since, signal: ctx.signal }), `wait ${r}:`);
  if (ctx.background) {
    return ctx.background(`wait ${r} --follow`, async (signal) =>
      (async function* () {
        for await (const v of c.follow(r, { signal, since, resume: false })) yield valueLine(v.value).replace(/\n$/, "");
      })(),
    );
  }
  const sep = new TextEncoder().encode(flags[0] ? "\0" : flags.sep !== undefined ? unescape(String(flags.sep)) : "\n");
  // --timeout with --follow: give up if nothing at all arrives in time.
  const ctl = new AbortController();
  const timer = timeout !== undefined ? setTimeout(() => ctl.abort(new ClipError("TIMEOUT", `nothing arrived within ${timeout} s`)), timeout * 1000) : undefined;
  // A lost connection ends the command (exit 3); --since is how a script resumes.
  for await (const m of c.followStream(r, { signal: ctl.signal, since, resume: false })) {
    clearTimeout(timer);
    await ctx.value(m, `wait ${r}:`);
    await ctx.write(sep);
  }
}

/** --sep "\t" and friends, as a shell user types them. */
function unescape(s: string): string {
  return s.replace(/\\([nrt0\\])/g, (_, c: string) => ({ n: "\n", r: "\r", t: "\t", "0": "\0", "\\": "\\" })[c]!);
}

export async function list(ctx: Ctx, flags: { json?: boolean }): Promise<void> {
  const regions = await (await ctx.client()).list();
  await ctx.write(flags.json ? jsonLine(regions) : regionsTable(regions, ctx.interactive));
}
