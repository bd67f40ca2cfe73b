// copy | paste | wait | list: thin wrappers over the library client, for
// the CLI and the shell alike (see context.ts).

import { type CopySource, FileSource } from "../client/client.ts";
import { ClipError } from "../protocol/errors.ts";
import { parseRegion } from "../protocol/messages.ts";
import { handoffWanted, namedToStdout } from "../value/handoff.ts";
import { type ClientFlags, openClient, timeoutFlag } from "./common.ts";
import { type Ctx, cliContext } from "./context.ts";
import { jsonLine, progress } from "./output.ts";
import { regionsTable, valueLine } from "./render.ts";

/** Stores TEXT (the shell), or FILE, or stdin in a region. */
export async function copy(ctx: Ctx, region: unknown, file: string | undefined, flags: ClientFlags, text?: string): Promise<void> {
  const r = parseRegion(region); // before reading a byte or connecting
  if (text !== undefined) {
    await (await ctx.client()).copy(r, text);
    return;
  }
  // node:fs costs ~1.5 ms of startup: only copy needs it, so paste never loads it.
  const { fstatSync, statSync } = require("node:fs") as typeof import("node:fs");
  let source: CopySource;
  let total: number | undefined;
  if (file !== undefined) {
    let st;
    try {
      st = statSync(file);
    } catch (e) {
      throw new ClipError("USAGE", `cannot read ${file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`);
    }
    if (st.isDirectory()) throw new ClipError("USAGE", `cannot read ${file}: it is a directory (try tar c ${file} | clip copy ${r})`);
    // A regular file is read straight into frames; anything else (a fifo, a device) streams.
    source = st.isFile() ? new FileSource(file, st.size) : Bun.file(file);
    total = st.isFile() ? st.size : undefined;
  } else {
    // stdin redirected from a file has a size we can announce; a pipe does not.
    const st = fstatSync(0);
    source = st.isFile() ? new FileSource(0, st.size) : (Bun.stdin.stream() as unknown as AsyncIterable<Uint8Array>);
    if (st.isFile()) total = st.size;
  }
  const c = await ctx.client();
  const bar = progress(`copy ${r}:`);
  try {
    await c.copy(r, source, { onProgress: (n) => bar(n, total) });
  } finally {
    bar.end();
  }
}

export async function pasteRegion(ctx: Ctx, region: unknown): Promise<void> {
  const r = parseRegion(region);
  const c = await ctx.client();
  // To the CLI's own stdout a value in a file may come by path and be copied there with sendfile (value/handoff.ts).
  const byPath = ctx.stdout === true && c.address.kind === "unix" && handoffWanted();
  let m = byPath ? await c.request("paste", { r, file: true }) : await c.pasteStream(r);
  if (m.meta.file !== undefined) {
    m.done();
    if (await namedToStdout(m.meta)) return;
    m = await c.pasteStream(r); // that file is gone (a newer value replaced it): the bytes, as they are now
  }
  await ctx.value(m, `paste ${r}:`);
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
  sep?: unknown;
  0?: boolean;
}

export async function wait(ctx: Ctx, region: unknown, flags: WaitFlags): Promise<void> {
  const r = parseRegion(region);
  const timeout = timeoutFlag(flags.timeout);
  if (flags.sep !== undefined && flags[0]) throw new ClipError("USAGE", "--sep and -0 do not go together");
  if (!flags.follow && (flags.sep !== undefined || flags[0])) throw new ClipError("USAGE", "--sep and -0 go with --follow");
  const c = await ctx.client();
  if (!flags.follow) return ctx.value(await c.waitStream(r, { timeout, signal: ctx.signal }), `wait ${r}:`);
  if (ctx.background) {
    return ctx.background(`wait ${r} --follow`, async (signal) =>
      (async function* () {
        for await (const v of c.follow(r, { signal })) yield valueLine(v).replace(/\n$/, "");
      })(),
    );
  }
  const sep = new TextEncoder().encode(flags[0] ? "\0" : flags.sep !== undefined ? unescape(String(flags.sep)) : "\n");
  // --timeout with --follow: give up if nothing at all arrives in time.
  const ctl = new AbortController();
  const timer = timeout !== undefined ? setTimeout(() => ctl.abort(new ClipError("TIMEOUT", `nothing arrived within ${timeout} s`)), timeout * 1000) : undefined;
  for await (const m of c.followStream(r, { signal: ctl.signal })) {
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
