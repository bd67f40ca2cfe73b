// The bridge on real X servers: two Xvfb displays, a bridge on each, one
// in-memory region standing in for the clip tree between them. Applications
// are played by xclip (copying with `-i`, pasting with `-o`).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type BridgeOptions, runBridge } from "../../src/desktop/bridge.ts";
import { x11Backend } from "../../src/desktop/x11.ts";
import { selectionEvents } from "../../src/desktop/x11events.ts";
import { tempDir, waitFor } from "../helpers/clip.ts";
import { type Display, childPids, FakeRegion, fakePng, haveXvfb, startBridge, startXvfb, xauthFile } from "../helpers/desktop.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

if (!haveXvfb) test.skip("desktop x11 - needs the Debian packages xvfb and xclip (.ci/run installs them)", () => {});

describe.skipIf(!haveXvfb)("desktop x11", () => {
  let A: Display;
  let B: Display;
  const apps: ReturnType<typeof Bun.spawn>[] = [];
  beforeAll(async () => {
    [A, B] = await Promise.all([startXvfb(), startXvfb()]);
  });
  afterAll(async () => {
    for (const p of apps) if (p.exitCode === null && p.signalCode === null) p.kill(9);
    await A?.stop();
    await B?.stop();
  });

  /** An application copies: it owns the clipboard until someone else does (or it is killed). */
  async function copy(d: Display, bytes: Uint8Array | string, target = "UTF8_STRING") {
    const b = typeof bytes === "string" ? enc(bytes) : bytes;
    const p = Bun.spawn(["xclip", "-selection", "clipboard", "-i", "-quiet", "-t", target], {
      env: { ...process.env, ...d.env },
      stdin: b,
      stdout: "ignore",
      stderr: "ignore",
    });
    apps.push(p);
    // Owned once it serves our bytes. Large values are not asked for here at all: xclip 0.13
    // serves one INCR transfer (> 1 MB) at a time and drops other requests meanwhile, and the
    // bridge is reading it; the caller waits for the bridge's log line instead.
    if (b.length < 65536) {
      await waitFor(async () => Buffer.from((await paste(d, target)).out).equals(Buffer.from(b)), 10_000, "the copy to own the clipboard").catch(async (e) => {
        throw new Error(`${e.message}: the app ${p.exitCode === null ? "runs" : `exited ${p.exitCode ?? p.signalCode}`}, the clipboard offers ${JSON.stringify(await targets(d))}`);
      });
    }
    return p;
  }
  const paste = (d: Display, target = "UTF8_STRING") => d.sh(["xclip", "-selection", "clipboard", "-o", "-t", target]);
  const targets = async (d: Display) => dec((await paste(d, "TARGETS")).out).split("\n").filter(Boolean);
  /** Waits for a line in a bridge's log, after `from` lines. */
  const logged = (lines: string[], text: string, from = 0) =>
    waitFor(() => lines.slice(from).some((l) => l.includes(text)), 15_000, `"${text}"`).catch((e) => {
      const ps = Bun.spawnSync(["ps", "-eo", "pid,ppid,stat,etimes,args"]).stdout.toString().split("\n").filter((l) => l.includes("xclip"));
      throw new Error(`${e.message}: log ${lines.join(" | ")} // ${ps.join(" / ")}`);
    });

  /** The bridge on display d, by XFIXES events (or polling, with `poll`). */
  const bridge = (region: FakeRegion, d: Display, o: Partial<BridgeOptions> & { poll?: boolean } = {}) => {
    const lines: string[] = [];
    const backend = x11Backend({ display: d.env.DISPLAY, signal: o.poll ? "poll" : "events", pollMs: 200, log: (l) => lines.push(l) });
    return startBridge(region, backend, { log: (l) => lines.push(l), ...o }).then((b) => Object.assign(b, { lines }));
  };
  /** A settle window: time for an echo or a storm to show itself, were there one (a bridge acts within ~100 ms). */
  const settle = () => Bun.sleep(400);

  test("desktop x11 - a copy on display A is pasteable on B: text under every text name, a 1 MB PNG byte-exact; no echo, no storm", async () => {
    const region = new FakeRegion();
    await using a = await bridge(region, A);
    await using b = await bridge(region, B);

    await copy(A, "héllo from A");
    await logged(b.lines, "rev 1 -> desktop");
    expect(dec((await paste(B)).out)).toBe("héllo from A");
    for (const t of ["STRING", "TEXT", "text/plain", "text/plain;charset=utf-8"]) expect(dec((await paste(B, t)).out)).toBe("héllo from A");
    expect(await targets(B)).toContain("UTF8_STRING");

    const png = fakePng(1 << 20);
    await copy(B, png, "image/png");
    await logged(b.lines, "desktop -> region 0 rev 2: 1.0 MiB image/png");
    await logged(a.lines, "rev 2 -> desktop: 1.0 MiB image/png");
    await settle(); // the bridge reads its own value back once more (its own owner event)
    expect(await targets(A)).toContain("image/png");
    expect(Buffer.from((await paste(A, "image/png")).out).equals(Buffer.from(png))).toBe(true);

    await settle();
    expect(region.portWrites).toBe(2); // one per copy: nothing came back
    expect(region.writesSince(0).map((c) => c.kind === "write" && c.type)).toEqual(["text/plain;charset=utf-8", "image/png"]);
    expect(a.lines.filter((l) => l.includes("-> desktop"))).toHaveLength(1); // the image
    expect(b.lines.filter((l) => l.includes("-> desktop"))).toHaveLength(1); // the text

    // A write made elsewhere reaches both, and neither writes it back.
    region.writeElsewhere("from the tree");
    // (Waiting on the bridges, not by pasting: A's xclip is still serving the 1 MB image, one paste at a time.)
    await logged(a.lines, "rev 3 -> desktop");
    await logged(b.lines, "rev 3 -> desktop");
    expect(dec((await paste(A)).out)).toBe("from the tree");
    expect(dec((await paste(B)).out)).toBe("from the tree");
    await settle();
    expect(region.portWrites).toBe(2);

    // Copying on A what R holds already (equal bytes and type): no write.
    await copy(A, "from the tree");
    await settle();
    expect(region.portWrites).toBe(2);
    // Copying the same text twice in a row (a re-copy: a new owner, same bytes) after R moved on: one write.
    region.writeElsewhere("moved on");
    await logged(a.lines, "rev 4 -> desktop");
    expect(dec((await paste(A)).out)).toBe("moved on");
    await copy(A, "again");
    await waitFor(() => region.portWrites === 3, 10_000, "the copy").catch((e) => { throw new Error(`${e.message}: ${a.lines.join(" | ")}`); });
    region.writeElsewhere("moved on again");
    await logged(a.lines, "rev 6 -> desktop");
    expect(dec((await paste(A)).out)).toBe("moved on again");
    await copy(A, "again");
    await waitFor(() => region.portWrites === 4, 10_000, "the re-copy of equal bytes to be seen").catch((e) => { throw new Error(`${e.message}: ${a.lines.join(" | ")}`); });
  });

  test("desktop x11 - the owner going away leaves R as it was; the bridge's own xclip killed: nothing written, it goes on", async () => {
    const region = new FakeRegion();
    await using a = await bridge(region, A);
    const app = await copy(A, "owned by an app");
    await waitFor(() => region.portWrites === 1, 10_000);
    app.kill(9);
    await waitFor(async () => (await targets(A)).length === 0, 10_000, "the selection to have no owner").catch(async (e) => {
      const ps = Bun.spawnSync(["ps", "-eo", "pid,ppid,stat,args"]).stdout.toString().split("\n").filter((l) => l.includes("xclip"));
      throw new Error(`${e.message}: ${JSON.stringify(await targets(A))} ${dec((await paste(A)).out)} ${a.lines.join(" | ")} ${ps.join(" / ")} app=${app.pid}`);
    });
    await settle();
    expect(region.portWrites).toBe(1);
    expect(dec(region.current()!.bytes!)).toBe("owned by an app");

    // The xclip the bridge started to hold a value dies: nothing is written, later writes still arrive.
    region.writeElsewhere("held by the bridge's xclip");
    await logged(a.lines, "rev 2 -> desktop");
    await settle(); // the bridge reads its own value once more (its own owner event): not while it is killed
    const owners = childPids("xclip", "-i");
    expect(owners.length).toBeGreaterThan(0);
    for (const pid of owners) process.kill(pid, "SIGKILL");
    await waitFor(async () => (await targets(A)).length === 0, 10_000);
    region.writeElsewhere("after the crash");
    await logged(a.lines, "rev 3 -> desktop");
    expect(dec((await paste(A)).out)).toBe("after the crash");
    await copy(A, "and back");
    await waitFor(() => region.portWrites === 2, 10_000);
    expect(a.lines.filter((l) => l.includes("could not"))).toEqual([]);
  });

  test("desktop x11 - expiry clears display A, which still holds the value, and not B, where someone copied since", async () => {
    const region = new FakeRegion();
    await using a = await bridge(region, A);
    await using b = await bridge(region, B, { fromDesktop: false });
    region.writeElsewhere("hunter2");
    await logged(a.lines, "rev 1 -> desktop");
    await logged(b.lines, "rev 1 -> desktop");
    expect(dec((await paste(A)).out)).toBe("hunter2");
    expect(dec((await paste(B)).out)).toBe("hunter2");
    await copy(B, "not a secret");
    region.expire();
    await waitFor(async () => (await targets(A)).length === 0, 10_000, "A's clipboard to be emptied");
    await settle();
    expect(dec((await paste(B)).out)).toBe("not a secret");
  });

  test("desktop x11 - at start R's value goes to the desktop if it differs, and what the desktop held is not written", async () => {
    const region = new FakeRegion();
    region.writeElsewhere("R at start");
    await copy(A, "A at start");
    await using _a = await bridge(region, A);
    expect(dec((await paste(A)).out)).toBe("R at start");
    await settle();
    expect(region.portWrites).toBe(0);
  });

  test("desktop x11 - without XFIXES events (polling), copies still go both ways; measured poll cost is in docs/DESKTOP.md", async () => {
    const region = new FakeRegion();
    await using a = await bridge(region, A, { poll: true });
    await settle(); // past the first look at the clipboard: what follows is found by a poll
    await copy(A, "seen by polling");
    await waitFor(() => region.portWrites === 1, 10_000);
    region.writeElsewhere("put by a polling bridge");
    await logged(a.lines, "rev 2 -> desktop");
    expect(dec((await paste(A)).out)).toBe("put by a polling bridge");
    await settle();
    expect(region.portWrites).toBe(1);
  });
});


test.skipIf(!haveXvfb)("desktop x11 - a server that wants a cookie: events with the right one; refused, said why, with a wrong one", async () => {
  using dir = tempDir("cxa");
  const good = xauthFile(`${dir}/good`, crypto.getRandomValues(new Uint8Array(16)));
  const bad = xauthFile(`${dir}/bad`, crypto.getRandomValues(new Uint8Array(16)));
  await using X = await startXvfb(good);
  // Without the cookie, X clients are turned away (so the cookie is what lets the bridge in).
  expect((await X.sh(["xclip", "-selection", "clipboard", "-o", "-t", "TARGETS"])).code).not.toBe(0);
  const ac = new AbortController();
  const refused = selectionEvents(X.env.DISPLAY, ac.signal, undefined, bad)[Symbol.asyncIterator]().next();
  await expect(refused).rejects.toThrow(/^the X server refused us: /);

  const region = new FakeRegion();
  const lines: string[] = [];
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  const run = runBridge({ region: 0, port: region.port(), backend: x11Backend({ display: X.env.DISPLAY, env: { ...process.env, ...X.env }, log: (l) => lines.push(l) }), log: (l) => lines.push(l), signal: ac.signal, onReady: ready });
  await isReady;
  await Bun.sleep(400); // past the first look at the clipboard: what follows comes by an event
  const app = Bun.spawn(["xclip", "-selection", "clipboard", "-i", "-quiet"], { env: { ...process.env, ...X.env }, stdin: new TextEncoder().encode("with a cookie"), stdout: "ignore", stderr: "ignore" });
  try {
    await waitFor(() => region.portWrites === 1, 10_000, `the copy: ${lines.join(" | ")}`);
    expect(lines.filter((l) => l.includes("XFIXES"))).toEqual([]); // events, not the poll
  } finally {
    app.kill(9);
    ac.abort();
    await run;
  }
});
