// The bridge's rules (no echo, no storm, start, reconnect, expiry, size,
// bursts, crashes) against an in-memory desktop and region: fast, exact
// counts. The same bridge against real displays is in
// tests/integration/desktop-*.test.ts.

import { expect, test } from "bun:test";
import type { DesktopBackend, Tick } from "../../src/desktop/backend.ts";
import type { BridgeOptions } from "../../src/desktop/bridge.ts";
import { digest } from "../../src/desktop/exec.ts";
import { FakeRegion, startBridge } from "../helpers/desktop.ts";
import { waitFor } from "../helpers/clip.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null | undefined) => (b ? new TextDecoder().decode(b) : null);

/** A desktop clipboard in memory: applications copy to it, the bridge reads and writes it. */
class FakeDesktop implements DesktopBackend {
  name = "fake";
  content: { bytes: Uint8Array; types: string[] } | null = null;
  writes = 0;
  clears = 0;
  reads = 0;
  failReads = false;
  /** Runs as a read starts (an application copying right then). */
  onRead: (() => void) | null = null;
  private listeners = new Set<(t: Tick) => void>();
  private crash: ((e: Error) => void) | null = null;
  /** What the desktop does to what it is given (a re-encoding desktop changes the bytes). */
  constructor(private transform: (b: Uint8Array, type: string) => Uint8Array = (b) => b) {}

  /** An application copies. */
  copy(bytes: Uint8Array | string, types = ["UTF8_STRING", "text/plain;charset=utf-8", "TEXT"]) {
    this.content = { bytes: typeof bytes === "string" ? enc(bytes) : bytes, types };
    this.emit({ fresh: true });
  }
  /** The owning application quits. */
  ownerGone() {
    this.content = null;
    this.emit({ fresh: true });
  }
  emit(t: Tick) {
    for (const l of this.listeners) l(t);
  }
  crashWatcher() {
    this.crash?.(new Error("watcher killed"));
  }
  text() {
    return dec(this.content?.bytes);
  }

  async types() {
    return this.content?.types ?? [];
  }
  async read(_type: string, max: number, keep = true) {
    this.reads++;
    const hook = this.onRead;
    this.onRead = null;
    hook?.();
    if (!this.content) return { ok: false as const, why: "failed" as const, detail: "no owner" };
    if (this.failReads) return { ok: false as const, why: "failed" as const, detail: "owner died mid-transfer" };
    const b = this.content.bytes;
    if (b.length > max) return { ok: false as const, why: "toobig" as const, detail: "big" };
    return { ok: true as const, out: keep ? b : new Uint8Array(0), digest: digest(b), size: b.length };
  }
  async write(bytes: Uint8Array, type: string) {
    this.writes++;
    this.content = { bytes: this.transform(bytes, type), types: type.startsWith("text/") ? [type, "UTF8_STRING"] : [type] };
    this.emit({ fresh: true });
    return digest(this.content.bytes);
  }
  async clear() {
    this.clears++;
    this.content = null;
  }
  async *watch(signal: AbortSignal): AsyncIterable<Tick> {
    const q: Tick[] = [];
    let wake: (() => void) | null = null;
    let err: Error | null = null;
    const l = (t: Tick) => {
      q.push(t);
      wake?.();
    };
    this.listeners.add(l);
    this.crash = (e) => {
      err = e;
      wake?.();
    };
    const stop = () => wake?.();
    signal.addEventListener("abort", stop);
    try {
      yield { fresh: false };
      while (!signal.aborted) {
        if (err) throw err;
        const t = q.shift();
        if (t) {
          yield t;
          continue;
        }
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    } finally {
      this.listeners.delete(l);
      signal.removeEventListener("abort", stop);
    }
  }
  close() {}
}

/** The bridge on region 3 against the in-memory desktop, retrying fast. */
const bridge = (region: FakeRegion, desktop: FakeDesktop, o: Partial<BridgeOptions> = {}) => startBridge(region, desktop, { region: 3, maxBackoffMs: 100, ...o });

/** Lets every queued tick, debounce and step run (the debounce is 50 ms; a settle window for asserting that nothing more happens). */
const settle = () => Bun.sleep(250);

test("desktop bridge - a desktop copy is one write with its type; a write elsewhere sets the desktop once; nothing echoes", async () => {
  const region = new FakeRegion();
  const desk = new FakeDesktop();
  await using b = await bridge(region, desk);
  desk.copy("hello");
  await waitFor(() => region.portWrites === 1, 5000, "the copy to reach R");
  expect(region.current()?.type).toBe("text/plain;charset=utf-8");
  expect(dec(region.current()?.bytes)).toBe("hello");
  region.writeElsewhere("from elsewhere");
  await waitFor(() => desk.text() === "from elsewhere", 5000, "the write to reach the desktop");
  await settle();
  expect(region.portWrites).toBe(1); // the value it put there was not written back
  expect(desk.writes).toBe(1); // its own write came back from R and was not put there again
  expect(b.lines.filter((l) => l.includes("->"))).toHaveLength(2);
});

test("desktop bridge - its own write is not put back on the desktop, even when the owner quit meanwhile", async () => {
  const region = new FakeRegion();
  const desk = new FakeDesktop();
  await using _b = await bridge(region, desk);
  region.onPortWrite = () => desk.ownerGone(); // the application quits just after the copy was read
  desk.copy("copied, then its owner quit");
  await waitFor(() => region.portWrites === 1, 5000);
  await settle();
  expect(desk.writes).toBe(0);
  expect(desk.content).toBeNull();
});

test("desktop bridge - another copy between listing the types and reading: nothing mixed is written, the newer copy is", async () => {
  const region = new FakeRegion();
  const desk = new FakeDesktop();
  await using _b = await bridge(region, desk);
  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0xff]);
  // The text's types are listed; then an image editor takes the clipboard before the bytes are read.
  desk.onRead = () => desk.copy(png, ["image/png"]);
  desk.copy("some text", ["UTF8_STRING"]);
  await waitFor(() => region.portWrites >= 1, 5000);
  await settle();
  expect(region.writesSince(0).map((c) => c.kind === "write" && c.type)).toEqual(["image/png"]);
});

test("desktop bridge - a desktop that re-encodes what it is given does not echo it back", async () => {
  const region = new FakeRegion();
  // Like an image editor holding the clipboard: same picture, other bytes.
  const desk = new FakeDesktop((b) => new Uint8Array([...b, 0x00, 0x01]));
  await using _b = await bridge(region, desk);
  region.writeElsewhere(new Uint8Array([0x89, 0x50, 0x4e, 0x47]), "image/png");
  await waitFor(() => desk.writes === 1, 5000);
  await settle();
  expect(region.portWrites).toBe(0);
  // The person copies the very same (re-encoded) picture again: still ours, no write.
  desk.copy(desk.content!.bytes, ["image/png"]);
  await settle();
  expect(region.portWrites).toBe(0);
  // Something new is written, once.
  desk.copy(new Uint8Array([1, 2, 3]), ["image/png", "image/bmp"]);
  await waitFor(() => region.portWrites === 1, 5000);
  expect(region.current()?.type).toBe("image/png");
});

test("desktop bridge - two machines bridged to one region settle after one write", async () => {
  const region = new FakeRegion();
  const a = new FakeDesktop();
  const b = new FakeDesktop((x) => new Uint8Array([...x, 0x0a])); // B's desktop adds a newline to text it is given
  await using _a = await bridge(region, a);
  await using _b = await bridge(region, b);
  a.copy("ping");
  await waitFor(() => b.text() === "ping\n", 5000);
  await settle();
  expect(region.log.filter((c) => c.kind === "write")).toHaveLength(1);
  expect(a.writes).toBe(0);
  expect(b.writes).toBe(1);
  b.copy("pong");
  await waitFor(() => a.text() === "pong", 5000);
  await settle();
  expect(region.log.filter((c) => c.kind === "write")).toHaveLength(2);
});

test("desktop bridge - a copy equal to R's current value and type is not written; a burst of changes is one write", async () => {
  const region = new FakeRegion();
  region.writeElsewhere("same");
  const desk = new FakeDesktop();
  // One way from the desktop, so that "same" is not there as the bridge's own value.
  await using _b = await bridge(region, desk, { toDesktop: false });
  desk.copy("same");
  await settle();
  expect(region.portWrites).toBe(0);
  desk.copy("same", ["text/html"]); // equal bytes, another type: a write
  await waitFor(() => region.portWrites === 1, 5000);
  // An application setting the clipboard five times, 10 ms apart.
  for (let i = 0; i < 5; i++) {
    desk.copy(`burst ${i}`);
    await Bun.sleep(10);
  }
  await waitFor(() => region.portWrites >= 2, 5000);
  await settle();
  expect(region.portWrites).toBe(2);
  expect(dec(region.current()?.bytes)).toBe("burst 4");
});

test("desktop bridge - a clipboard that never stops changing is still looked at, not postponed for ever", async () => {
  const region = new FakeRegion();
  const desk = new FakeDesktop();
  await using _b = await bridge(region, desk);
  // A change every 20 ms for 1.2 s: each resets the 50 ms window, which is capped at 10 windows.
  const end = Date.now() + 1200;
  let writesDuring = 0;
  for (let i = 0; Date.now() < end; i++) {
    desk.copy(`flap ${i}`);
    await Bun.sleep(20);
    writesDuring = region.portWrites;
  }
  expect(writesDuring).toBeGreaterThanOrEqual(1);
  expect(writesDuring).toBeLessThanOrEqual(4);
});

test("desktop bridge - on start R's value goes to the desktop only if it differs; what the desktop held goes to R only when it changes", async () => {
  const region = new FakeRegion();
  region.writeElsewhere("in R");
  const same = new FakeDesktop();
  same.copy("in R");
  await using _s = await bridge(region, same);
  expect(same.writes).toBe(0);

  const other = new FakeDesktop();
  other.copy("on the desktop");
  await using _o = await bridge(region, other);
  expect(other.text()).toBe("in R");
  expect(other.writes).toBe(1);
  await settle();
  expect(region.portWrites).toBe(0);

  const empty = new FakeRegion();
  const held = new FakeDesktop();
  held.copy("held before start");
  await using _h = await bridge(empty, held);
  await settle();
  expect(empty.portWrites).toBe(0);
  held.copy("copied after start");
  await waitFor(() => empty.portWrites === 1, 5000);
});

test("desktop bridge - after the server comes back, R's current value goes to the desktop; one line each way", async () => {
  const region = new FakeRegion();
  region.writeElsewhere("before");
  const desk = new FakeDesktop();
  await using b = await bridge(region, desk);
  region.goDown();
  await waitFor(() => b.lines.some((l) => l.startsWith("lost the server")), 5000);
  desk.copy("copied while down");
  await waitFor(() => b.lines.some((l) => l.includes("not written to region 3")), 5000);
  region.writeElsewhere("written while this one was cut off");
  await Bun.sleep(300); // several reconnection attempts fail meanwhile
  region.up();
  await waitFor(() => desk.text() === "written while this one was cut off", 5000);
  expect(b.lines.filter((l) => l.startsWith("lost the server"))).toHaveLength(1);
  expect(b.lines.filter((l) => l.startsWith("server is back"))).toHaveLength(1);
  await settle();
  expect(region.portWrites).toBe(0);
});

test("desktop bridge - a copy made while the server was away, after R's last write, is written when it is back; R's older value stays off the desktop", async () => {
  const region = new FakeRegion();
  region.writeElsewhere("before");
  const desk = new FakeDesktop();
  await using b = await bridge(region, desk);
  region.goDown();
  await waitFor(() => b.lines.some((l) => l.startsWith("lost the server")), 5000);
  region.writeElsewhere("written while this one was cut off");
  await Bun.sleep(5); // the desktop copy comes later, by the clock
  desk.copy("copied while down");
  await waitFor(() => b.lines.some((l) => l.includes("not written to region 3")), 5000);
  region.up();
  await waitFor(() => dec(region.current()?.bytes) === "copied while down", 5000, "the copy to be written");
  await settle();
  expect(region.portWrites).toBe(1);
  expect(desk.text()).toBe("copied while down");
  expect(b.lines.filter((l) => l.startsWith("server is back"))).toHaveLength(1);
});

test("desktop bridge - expiry clears the desktop that still holds the value, not one that moved on", async () => {
  const region = new FakeRegion();
  const desk = new FakeDesktop();
  await using b = await bridge(region, desk);
  // A value written elsewhere, put here by the bridge, expires.
  region.writeElsewhere("password");
  await waitFor(() => desk.text() === "password", 5000);
  region.expire();
  await waitFor(() => desk.clears === 1, 5000);
  expect(desk.content).toBeNull();
  expect(b.lines.some((l) => l.includes("expired: desktop clipboard cleared"))).toBe(true);

  // A value copied here, whose write to R then expires: the desktop holds it still, so it goes too.
  desk.copy("copied here");
  await waitFor(() => region.portWrites === 1, 5000);
  region.expire();
  await waitFor(() => desk.clears === 2, 5000);

  // The desktop moved on to something R never had (no tick: as with a one-way bridge): left alone.
  region.writeElsewhere("third");
  await waitFor(() => desk.text() === "third", 5000);
  desk.content = { bytes: enc("private"), types: ["UTF8_STRING"] };
  region.expire();
  await settle();
  expect(desk.clears).toBe(2);
  expect(desk.text()).toBe("private");
});

test("desktop bridge - a value over --max-desktop is skipped both ways, one line each", async () => {
  const region = new FakeRegion();
  const desk = new FakeDesktop();
  await using b = await bridge(region, desk, { maxDesktop: 10 });
  region.writeElsewhere("x".repeat(11));
  await waitFor(() => b.lines.some((l) => l.includes("is over --max-desktop")), 5000);
  expect(desk.writes).toBe(0);
  desk.copy("y".repeat(11));
  await waitFor(() => b.lines.some((l) => l.includes("desktop copy (text/plain;charset=utf-8) is over --max-desktop")), 5000);
  desk.emit({ fresh: false }); // polled again: not logged again
  await settle();
  expect(region.portWrites).toBe(0);
  expect(b.lines.filter((l) => l.includes("over --max-desktop"))).toHaveLength(2);
  desk.copy("small");
  await waitFor(() => region.portWrites === 1, 5000, `the small copy: ${b.lines.join(" | ")}`);
});

test("desktop bridge - a watcher that dies is logged once and watched again; a half-read clipboard writes nothing", async () => {
  const region = new FakeRegion();
  const desk = new FakeDesktop();
  await using b = await bridge(region, desk);
  desk.crashWatcher();
  await waitFor(() => b.lines.some((l) => l.startsWith("watching the desktop clipboard failed: watcher killed")), 5000);
  await Bun.sleep(400); // it watches again after its backoff
  desk.copy("after the crash");
  await waitFor(() => region.portWrites === 1, 5000);
  desk.failReads = true;
  desk.copy("half read");
  await waitFor(() => b.lines.some((l) => l.includes("could not read the desktop clipboard: owner died mid-transfer")), 5000);
  await settle();
  expect(region.portWrites).toBe(1);
  desk.failReads = false;
  desk.ownerGone();
  await settle();
  expect(region.portWrites).toBe(1);
  expect(dec(region.current()?.bytes)).toBe("after the crash");
});

test("desktop bridge - one way: --to-desktop never writes R, --from-desktop never sets the desktop", async () => {
  const region = new FakeRegion();
  const to = new FakeDesktop();
  const from = new FakeDesktop();
  await using _t = await bridge(region, to, { fromDesktop: false });
  await using _f = await bridge(region, from, { toDesktop: false });
  region.writeElsewhere("out");
  await waitFor(() => to.text() === "out", 5000);
  to.copy("not sent");
  from.copy("sent");
  await waitFor(() => region.portWrites === 1, 5000);
  await settle();
  expect(region.portWrites).toBe(1);
  expect(dec(region.current()?.bytes)).toBe("sent");
  expect(from.writes).toBe(0);
  expect(to.text()).toBe("sent");
});

test("desktop bridge - a value the port cannot open leaves the desktop alone, with the reason", async () => {
  const region = new FakeRegion();
  const desk = new FakeDesktop();
  desk.copy("mine");
  await using b = await bridge(region, desk);
  region.log.push({ kind: "unreadable", rev: 99, reason: "region 3 is encrypted with key 1a2b: pass --key-file" });
  region.writeElsewhere("nudge"); // wakes the stream, which then yields both in order
  await waitFor(() => b.lines.some((l) => l.includes("not put on the desktop: region 3 is encrypted")), 5000);
});

test("desktop bridge - R unreadable at start (sealed, no key): the desktop is left alone, and the log says why", async () => {
  const region = new FakeRegion();
  const desk = new FakeDesktop();
  desk.copy("mine");
  const port = { ...region.port(), current: async () => ({ rev: 7, value: null, unreadable: "region 3 is encrypted with key 0123456789abcdef: pass --key-file" }) };
  await using b = await bridge(region, desk, { port });
  await settle();
  expect(desk.text()).toBe("mine");
  expect(desk.writes).toBe(0);
  expect(b.lines).toContain("region 3 rev 7 not put on the desktop: region 3 is encrypted with key 0123456789abcdef: pass --key-file");
});

test("desktop bridge - a copy written while R's current value was being read (after a reconnect) stays on the desktop", async () => {
  const region = new FakeRegion();
  const desk = new FakeDesktop();
  region.writeElsewhere("old");
  const base = region.port();
  let first = true;
  const port = {
    ...base,
    // The first current() is slow: meanwhile someone copies, and that copy is written (a newer revision).
    async current(o?: Parameters<typeof base.current>[0]) {
      const st = await base.current(o);
      if (first) {
        first = false;
        desk.copy("newer copy");
        await waitFor(() => region.portWrites === 1, 5000, "the copy to be written");
      }
      return st;
    },
  };
  await using _b = await bridge(region, desk, { port });
  await settle();
  expect(desk.text()).toBe("newer copy");
  expect(dec(region.current()?.bytes)).toBe("newer copy");
  expect(desk.writes).toBe(0);
  expect(region.portWrites).toBe(1);
});
