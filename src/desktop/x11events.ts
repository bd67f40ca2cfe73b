// X11 clipboard change events without polling: a minimal X11 client that
// speaks just enough of the core protocol and the XFIXES extension to be told
// each time the CLIPBOARD selection changes owner (a copy in any
// application, also a re-copy of the same text) or loses it (owner gone).
// No Debian package gives these events to a script (clipnotify is not
// packaged), and a poll costs CPU forever and misses a re-copy of equal
// bytes; five requests on one socket cost nothing while idle.
// The messages themselves are in x11wire.ts.

import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import type { Tick } from "./backend.ts";
import { cookieFor, parseDisplay, parseSetup, parseXauthority, req, type XMessage, XReader } from "./x11wire.ts";

/**
 * Ticks for each change of the CLIPBOARD selection's owner, until `signal`
 * aborts. Throws when it cannot connect or subscribe (the backend then
 * polls), or when the server goes away.
 */
export async function* selectionEvents(display: string, signal: AbortSignal, subscribed?: () => void, xauthority = process.env.XAUTHORITY): AsyncIterable<Tick> {
  const addr = parseDisplay(display);
  if (!addr) throw new Error(`cannot read DISPLAY=${display}`);
  let auth: { name: string; data: Uint8Array } | null = null;
  try {
    const file = xauthority || `${homedir()}/.Xauthority`;
    auth = cookieFor(parseXauthority(readFileSync(file)), addr);
  } catch {
    // no Xauthority: servers that allow local clients (Xvfb, many sessions) need none
  }

  const queue: Tick[] = [];
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  const notify = () => {
    wake?.();
    wake = null;
  };
  const replies = new Map<number, (m: XMessage) => void>();
  let seq = 0;
  let setupDone: ((r: ReturnType<typeof parseSetup>) => void) | null = null;
  let setupBuf = new Uint8Array(0);
  let firstEvent = -1;
  const reader = new XReader();

  const fail = (e: Error) => {
    if (failure) return;
    failure = e;
    const waiting = [...replies.values()];
    replies.clear();
    for (const r of waiting) r({ kind: "error", seq: 0, code: -1 });
    setupDone?.({ ok: false, reason: e.message, size: 0 });
    notify();
  };
  const onData = (chunk: Uint8Array) => {
    try {
      if (setupDone) {
        setupBuf = Buffer.concat([setupBuf, chunk]);
        const s = parseSetup(setupBuf);
        if ("need" in s) return;
        const done = setupDone;
        setupDone = null;
        const rest = setupBuf.subarray(s.size);
        done(s);
        if (!rest.length) return;
        chunk = rest;
      }
      for (const m of reader.push(chunk)) {
        if (m.kind === "event") {
          // XFixesSelectionNotify is the extension's event 0.
          if (m.code === firstEvent) queue.push({ fresh: true });
        } else {
          const r = replies.get(m.seq);
          replies.delete(m.seq);
          r?.(m);
        }
      }
      if (queue.length) notify();
    } catch (e) {
      fail(e as Error);
      sock?.end();
    }
  };
  const handlers = {
    data: (_s: unknown, d: Uint8Array) => onData(new Uint8Array(d)),
    close: () => fail(new Error("the X server closed the connection")),
    error: (_s: unknown, e: Error) => fail(e),
  };

  const setup = new Promise<ReturnType<typeof parseSetup>>((r) => (setupDone = r));
  let sock: Awaited<ReturnType<typeof Bun.connect>> | undefined;
  sock = addr.kind === "unix" ? await Bun.connect({ unix: addr.path, socket: handlers }) : await Bun.connect({ hostname: addr.host, port: addr.port, socket: handlers });
  const stop = () => {
    sock?.end();
    notify();
  };
  signal.addEventListener("abort", stop, { once: true });
  try {
    sock.write(req.setup(auth));
    const s = await setup;
    if (!("ok" in s) || !s.ok) throw new Error(`the X server refused us: ${"reason" in s ? s.reason : "?"}`);
    const ask = (bytes: Uint8Array) =>
      new Promise<XMessage>((resolve) => {
        seq = (seq + 1) & 0xffff;
        replies.set(seq, resolve);
        sock!.write(bytes);
      });
    const [atom, ext] = await Promise.all([ask(req.internAtom("CLIPBOARD")), ask(req.queryExtension("XFIXES"))]);
    if (atom.kind !== "reply" || ext.kind !== "reply") throw failure ?? new Error("the X server refused InternAtom/QueryExtension");
    if (!ext.body[8]) throw new Error("the X server has no XFIXES extension");
    const major = ext.body[9];
    firstEvent = ext.body[10];
    const clipboard = new DataView(atom.body.buffer, atom.body.byteOffset).getUint32(8, true);
    const ver = await ask(req.xfixesQueryVersion(major));
    if (ver.kind !== "reply") throw failure ?? new Error("XFIXES QueryVersion failed");
    // SelectSelectionInput has no reply: an error would come back with its sequence number.
    seq = (seq + 1) & 0xffff;
    const selectSeq = seq;
    replies.set(selectSeq, (m) => fail(new Error(`XFIXES SelectSelectionInput failed (error ${m.kind === "error" ? m.code : "?"})`)));
    sock.write(req.xfixesSelectSelectionInput(major, s.root, clipboard));
    // A round trip (GetInputFocus) so that an error for the above has arrived before we say we are subscribed.
    const sync = await ask(new Uint8Array([43, 0, 1, 0]));
    if (failure) throw failure;
    if (sync.kind !== "reply") throw new Error("the X server did not answer");
    subscribed?.();
    yield { fresh: false }; // watching from here on
    while (!signal.aborted) {
      if (failure) throw failure;
      if (queue.length) {
        queue.length = 0; // a burst of owner changes is one tick
        yield { fresh: true };
        continue;
      }
      await new Promise<void>((r) => {
        wake = r;
        if (queue.length || failure || signal.aborted) r();
      });
    }
  } finally {
    signal.removeEventListener("abort", stop);
    sock.end();
  }
}
