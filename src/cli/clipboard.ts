// clip copy | paste | wait | list: thin wrappers over the library client.

import { type CopySource, FileSource, type Message } from "../client/client.ts";
import { ClipError } from "../protocol/errors.ts";
import { parseRegion } from "../protocol/messages.ts";
import { type ClientFlags, withClient, timeoutFlag } from "./common.ts";
import { json, out, progress, stdoutIsTTY } from "./output.ts";
import { regionsTable } from "./render.ts";

export async function copy(region: unknown, file: string | undefined, flags: ClientFlags): Promise<void> {
  const r = parseRegion(region); // before reading a byte or connecting
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
  await withClient(flags, async (c) => {
    const bar = progress(`copy ${r}:`);
    try {
      await c.copy(r, source, { onProgress: (n) => bar(n, total) });
    } finally {
      bar.end();
    }
  });
}

/** Streams a message's body to stdout with backpressure. */
async function bodyToStdout(m: Message, label: string): Promise<void> {
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
  }
}

export async function paste(region: unknown, flags: ClientFlags): Promise<void> {
  const r = parseRegion(region);
  await withClient(flags, async (c) => {
    const m = await c.pasteStream(r);
    try {
      await bodyToStdout(m, `paste ${r}:`);
    } finally {
      m.done();
    }
  });
}

export interface WaitFlags extends ClientFlags {
  timeout?: unknown;
  follow?: boolean;
  sep?: unknown;
  0?: boolean;
}

export async function wait(region: unknown, flags: WaitFlags): Promise<void> {
  const r = parseRegion(region);
  const timeout = timeoutFlag(flags.timeout);
  if (flags.sep !== undefined && flags[0]) throw new ClipError("USAGE", "--sep and -0 do not go together");
  if (!flags.follow && (flags.sep !== undefined || flags[0])) throw new ClipError("USAGE", "--sep and -0 go with --follow");
  await withClient(flags, async (c) => {
    if (!flags.follow) {
      const m = await c.waitStream(r, { timeout });
      try {
        await bodyToStdout(m, `wait ${r}:`);
      } finally {
        m.done();
      }
      return;
    }
    const sep = new TextEncoder().encode(flags[0] ? "\0" : flags.sep !== undefined ? unescape(String(flags.sep)) : "\n");
    // --timeout with --follow: give up if nothing at all arrives in time.
    const ctl = new AbortController();
    const timer = timeout !== undefined ? setTimeout(() => ctl.abort(new ClipError("TIMEOUT", `nothing arrived within ${timeout} s`)), timeout * 1000) : undefined;
    for await (const m of c.followStream(r, { signal: ctl.signal })) {
      clearTimeout(timer);
      await bodyToStdout(m, `wait ${r}:`);
      await out(sep);
    }
  });
}

/** --sep "\t" and friends, as a shell user types them. */
function unescape(s: string): string {
  return s.replace(/\\([nrt0\\])/g, (_, c: string) => ({ n: "\n", r: "\r", t: "\t", "0": "\0", "\\": "\\" })[c]!);
}

export async function list(flags: ClientFlags & { json?: boolean }): Promise<void> {
  const regions = await withClient(flags, (c) => c.list());
  if (flags.json) return json(regions);
  await out(regionsTable(regions, stdoutIsTTY()));
}
