// Load (`npm run load`, bench/hold.ts): one server holding many idle client connections
// (10,000 by default, on the unix socket and then on TCP with the token)
// while copy and paste still answer; RSS per connection; then the slow
// clients (a reader that stops reading, a waiter that never reads, unfinished
// handshakes) and what each costs the server. The npm script raises the
// descriptor limit for this process only (ulimit in a bash -c).
//
//   npm run load -- [--conns 10000]   (bench/load.ts is the issue-2 small-value generator)
//   npm run load -- --attack [--seconds 20]   token guessing, 1 / 200 / 1000 connections

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Client } from "../src/client/client.ts";
import { FrameType, encodeFrame } from "../src/protocol/frame.ts";
import { RawConn, type Target, fdCount, loggedTcpPort, rssKb } from "./harness.ts";

function flag(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

async function openIdle(t: Target, n: number, token?: string): Promise<RawConn[]> {
  const out: RawConn[] = [];
  const batch = 200;
  while (out.length < n) {
    const k = Math.min(batch, n - out.length);
    const got = await Promise.all(
      Array.from({ length: k }, async () => {
        for (let tries = 0; tries < 50; tries++) {
          try {
            const c = await RawConn.open(t);
            if (await c.handshake(token)) return c;
            c.end();
          } catch {}
          await Bun.sleep(10);
        }
        throw new Error(`could not open connection ${out.length}`);
      }),
    );
    out.push(...got);
  }
  return out;
}

async function roundTrips(server: string, token: string | undefined, n: number): Promise<{ medianMs: number; maxMs: number }> {
  const c = await Client.connect({ server, token });
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await c.copy(5, `load ${i}`);
    const got = new TextDecoder().decode(await c.paste(5));
    if (got !== `load ${i}`) throw new Error("paste returned other bytes");
    times.push(performance.now() - t0);
  }
  c.close();
  times.sort((a, b) => a - b);
  return { medianMs: times[Math.floor(n / 2)], maxMs: times[n - 1] };
}

if (import.meta.main && process.argv.includes("--attack")) {
  // npm run load -- --attack: how many token guesses an attacker gets checked.
  const { startServer } = await import("../tests/helpers/clip.ts");
  const { guessTokens } = await import("./harness.ts");
  const dir = mkdtempSync("/tmp/atk-");
  writeFileSync(`${dir}/token`, "attack-token", { mode: 0o600 });
  const srv = await startServer({ dir, memory: true, args: ["--listen", "tcp:127.0.0.1:0", "--token-file", `${dir}/token`] });
  try {
    const port = loggedTcpPort(srv.stderr());
    const seconds = flag("seconds", 20);
    for (const n of [1, 200, 1000]) {
      const r = await guessTokens({ host: "127.0.0.1", port }, n, seconds * 1000);
      console.log(`token guessing: ${n} connections for ${seconds} s: ${r.answered} guesses checked and answered = ${r.perSecond.toFixed(2)} per second`);
    }
  } finally {
    await srv[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
  }
} else if (import.meta.main) {
  const { startServer } = await import("../tests/helpers/clip.ts");
  const conns = flag("conns", 10_000);
  const dir = mkdtempSync("/tmp/ld-");
  writeFileSync(`${dir}/token`, "load-token", { mode: 0o600 });
  const srv = await startServer({ dir, memory: true, args: ["--listen", "tcp:127.0.0.1:0", "--token-file", `${dir}/token`] });
  const port = loggedTcpPort(srv.stderr());
  const lines: string[] = [];
  const out = (s: string) => {
    console.log(s);
    lines.push(s);
  };
  try {
    out(`server pid ${srv.pid}, descriptor limit of this run ${require("node:fs").readFileSync(`/proc/${srv.pid}/limits`, "utf8").match(/Max open files\s+(\d+)/)?.[1]}`);
    for (const [label, target, token, server] of [
      ["unix", { unix: srv.socket }, undefined, `unix:${srv.socket}`],
      ["tcp", { host: "127.0.0.1", port }, "load-token", `tcp:127.0.0.1:${port}`],
    ] as const) {
      const base = await roundTrips(server, token, 50);
      const rss0 = rssKb(srv.pid);
      const t0 = Date.now();
      const idle = await openIdle(target, conns, token);
      const openS = (Date.now() - t0) / 1000;
      await Bun.sleep(500);
      const rss1 = rssKb(srv.pid);
      const busy = await roundTrips(server, token, 50);
      const closed = idle.filter((c) => c.closed).length;
      out(
        `${label}: ${conns} idle connections opened in ${openS.toFixed(1)} s (handshake done), ${closed} closed by the server; ` +
          `server rss ${(rss0 / 1024).toFixed(1)} -> ${(rss1 / 1024).toFixed(1)} MiB = ${((rss1 - rss0) / conns).toFixed(1)} KiB per connection; fds ${fdCount(srv.pid)}; ` +
          `copy+paste round trip median ${base.medianMs.toFixed(2)} ms (max ${base.maxMs.toFixed(1)}) before, ${busy.medianMs.toFixed(2)} ms (max ${busy.maxMs.toFixed(1)}) while holding them`,
      );
      for (const c of idle) c.end();
      await Bun.sleep(1000);
    }

    // A reader that stops reading: 16 connections asking for 4 GiB each.
    const big = new Uint8Array(1 << 20).fill(3);
    const lib = await Client.connect({ server: `unix:${srv.socket}` });
    await lib.copy(1, big);
    let rss0 = rssKb(srv.pid);
    let peak = rss0;
    const readers: RawConn[] = [];
    for (let i = 0; i < 16; i++) {
      const c = await RawConn.open({ unix: srv.socket });
      await c.handshake();
      c.stopReading();
      for (let id = 1; id <= 1000; id++) c.write(encodeFrame(FrameType.REQ, id, { op: "paste", r: 1 }));
      readers.push(c);
    }
    for (let i = 0; i < 20; i++) {
      await Bun.sleep(100);
      peak = Math.max(peak, rssKb(srv.pid));
    }
    out(`slow readers: 16 connections x 1000 pastes of 1 MiB, never read: server rss ${(rss0 / 1024).toFixed(1)} -> peak ${(peak / 1024).toFixed(1)} MiB (${((peak - rss0) / 16 / 1024).toFixed(1)} MiB per connection; queue bound 64 MiB + kernel buffers)`);
    for (const c of readers) c.end();
    await Bun.sleep(500);

    // A waiter that never reads: 100 follow-waits on one region, 200 copies of 256 KiB.
    rss0 = rssKb(srv.pid);
    peak = rss0;
    const waiter = await RawConn.open({ unix: srv.socket });
    await waiter.handshake();
    for (let id = 1; id <= 100; id++) waiter.write(encodeFrame(FrameType.REQ, id, { op: "wait", r: 4, follow: true }));
    await Bun.sleep(200);
    waiter.stopReading();
    const v = new Uint8Array(256 << 10).fill(9);
    const t1 = Date.now();
    for (let i = 0; i < 200; i++) {
      await lib.copy(4, v);
      if (i % 20 === 0) peak = Math.max(peak, rssKb(srv.pid));
    }
    out(`slow waiter: 100 follow-waits never read, 200 copies of 256 KiB (5 GiB of events due): server rss ${(rss0 / 1024).toFixed(1)} -> peak ${(peak / 1024).toFixed(1)} MiB; the copies took ${((Date.now() - t1) / 1000).toFixed(1)} s`);
    waiter.end();

    // Unfinished handshakes (slowloris): 2,000 connections that send 3 bytes.
    rss0 = rssKb(srv.pid);
    const loris: RawConn[] = [];
    while (loris.length < 2000) {
      try {
        const c = await RawConn.open({ unix: srv.socket });
        c.write(new Uint8Array([0, 0, 0]));
        loris.push(c);
      } catch {
        await Bun.sleep(5);
      }
    }
    const rss1 = rssKb(srv.pid);
    const t2 = Date.now();
    while (loris.some((c) => !c.closed) && Date.now() - t2 < 30_000) await Bun.sleep(100);
    out(`slowloris: 2000 unfinished handshakes cost ${((rss1 - rss0) / 2000).toFixed(1)} KiB each; all closed by the server ${((Date.now() - t2) / 1000).toFixed(1)} s after the last opened (handshake deadline 10 s): ${loris.every((c) => c.closed)}`);
    for (const c of loris) c.end();
    lib.close();
  } finally {
    await srv[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
  }
  writeFileSync("/tmp/clip-load-report.txt", lines.join("\n") + "\n");
}
