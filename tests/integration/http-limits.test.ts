// The HTTP door's bounds, against the compiled binary: a 1 GiB PUT and GET
// streamed with the server's memory bounded; bodies over --max-size refused
// (413) before anything is stored; clients that vanish mid-upload leave
// nothing; slow readers of an event stream and of a download cut off; a
// flood of requests and connections capped while the socket keeps serving;
// a clean stop with streams open; and /metrics, checked by promtool.

import { describe, expect, test } from "bun:test";
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { connect } from "../../src/index.ts";
import { randomBytes, waitFor } from "../helpers/clip.ts";
import { readEvents, startHttpServer } from "../helpers/http.ts";

const MiB = 1 << 20;

function peakRss(pid: number): number {
  const m = /VmHWM:\s+([0-9]+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error("no VmHWM");
  return Number(m[1]) * 1024;
}

/** Raw bytes to the HTTP port; resolves with what came back (or "" when the server closed at once). */
function raw(url: string, head: string, body: Uint8Array | null, opts: { closeAfterMs?: number } = {}): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect(Number(u.port), u.hostname);
    let got = "";
    s.on("data", (d) => (got += d.toString("latin1")));
    s.on("error", () => {});
    s.on("close", () => resolve(got));
    s.write(head);
    if (body) s.write(body);
    if (opts.closeAfterMs !== undefined) setTimeout(() => s.destroy(), opts.closeAfterMs);
  });
}

function metric(text: string, name: string, labels = ""): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  if (!line) throw new Error(`no ${name}${labels} in the metrics`);
  return Number(line.slice(line.lastIndexOf(" ") + 1));
}

const HAVE_CURL = Bun.which("curl") !== null;
if (!HAVE_CURL) {
  if (process.env.CI) throw new Error("curl is missing: .ci/run installs it");
  console.warn("http-limits: curl missing (apt-get install curl); the 1 GiB test is skipped here");
}

const HAVE_PROMTOOL = existsSync("/usr/bin/promtool");
if (!HAVE_PROMTOOL) {
  if (process.env.CI) throw new Error("promtool is missing: .ci/run installs Debian's prometheus package");
  console.warn("http-limits: promtool missing (apt-get install prometheus); its check is skipped here");
}

describe("http limits", () => {
  test.skipIf(!HAVE_CURL)("stream - a 1 GiB PUT then GET through HTTP arrive byte-exact; the server's memory stays bounded", async () => {
    // Values on tmpfs when there is one: the test is about memory, not the disk.
    const base = existsSync("/dev/shm") ? "/dev/shm" : "/tmp";
    const dir = mkdtempSync(`${base}/ch-big-`);
    try {
      await using h = await startHttpServer({ data: join(dir, "data") });
      const src = join(dir, "src.bin");
      const fd = openSync(src, "w");
      const block = randomBytes(64 * MiB, 5);
      for (let i = 0; i < 16; i++) {
        block[0] = i; // no two blocks alike
        writeSync(fd, block);
      }
      closeSync(fd);
      const before = peakRss(h.s.pid);
      const auth = `Authorization: Bearer ${h.token}`;
      const t0 = performance.now();
      const up = Bun.spawnSync(["curl", "-sS", "-f", "-H", auth, "-T", src, `${h.url}/v1/regions/1`]);
      const t1 = performance.now();
      expect(up.exitCode).toBe(0);
      expect(JSON.parse(up.stdout.toString())).toMatchObject({ size: 1 << 30 });
      const dst = join(dir, "dst.bin");
      const down = Bun.spawnSync(["curl", "-sS", "-f", "-H", auth, "-o", dst, "-D", "-", `${h.url}/v1/regions/1`]);
      const t2 = performance.now();
      expect(down.exitCode).toBe(0);
      expect(down.stdout.toString()).toMatch(/content-length: 1073741824/i);
      expect(statSync(dst).size).toBe(1 << 30);
      expect(Bun.spawnSync(["cmp", "-s", src, dst]).exitCode).toBe(0);
      const peak = peakRss(h.s.pid);
      console.log(`http 1 GiB: PUT ${((1 << 30) / MiB / ((t1 - t0) / 1000)).toFixed(0)} MiB/s, GET ${((1 << 30) / MiB / ((t2 - t1) / 1000)).toFixed(0)} MiB/s; server peak RSS ${(before / MiB).toFixed(0)} MiB before, ${(peak / MiB).toFixed(0)} MiB after`);
      expect(peak).toBeLessThan(256 * MiB);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);

  test("size - a body over --max-size is 413 before anything is stored, declared or chunked; the region keeps its value", async () => {
    await using h = await startHttpServer({ args: ["--max-size", "1M"] });
    const c = await connect({ server: h.s.socket });
    try {
      await c.copy(2, "kept");
      const blobs = () => readdirSync(join(h.s.data, "blobs"));
      // Declared: refused from the header, before the body is read.
      const declared = await raw(h.url, `PUT /v1/regions/2 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.token}\r\nContent-Length: ${2 * MiB}\r\n\r\n`, null, { closeAfterMs: 10_000 });
      expect(declared).toStartWith("HTTP/1.1 413");
      expect(declared).toContain('"error":"TOOBIG"');
      // Chunked: counted as it streams, stopped at the limit.
      const r = await fetch(`${h.url}/v1/regions/2`, {
        method: "PUT",
        headers: h.auth,
        body: new ReadableStream({
          pull(ctl) {
            ctl.enqueue(new Uint8Array(256 * 1024));
          },
        }),
      }).catch((e) => e as Error);
      if (r instanceof Response) {
        expect(r.status).toBe(413);
        expect(((await r.json()) as { error: string }).error).toBe("TOOBIG");
      }
      expect(new TextDecoder().decode(await c.paste(2))).toBe("kept");
      expect(blobs().filter((f) => f.endsWith(".part"))).toEqual([]);
      // The server goes on.
      expect((await fetch(`${h.url}/v1/regions/2`, { headers: h.auth })).status).toBe(200);
    } finally {
      await c.close();
    }
  });

  test("vanish - a client gone mid-upload (declared or chunked, large or small) leaves nothing stored and no staging file", async () => {
    await using h = await startHttpServer({});
    const c = await connect({ server: h.s.socket });
    try {
      await c.copy(3, "before");
      const auth = `Authorization: Bearer ${h.token}`;
      const cases = [
        `PUT /v1/regions/3 HTTP/1.1\r\nHost: x\r\n${auth}\r\nContent-Length: 5000000\r\n\r\n`,
        `PUT /v1/regions/3 HTTP/1.1\r\nHost: x\r\n${auth}\r\nContent-Length: 100\r\n\r\n`,
        `PUT /v1/regions/3 HTTP/1.1\r\nHost: x\r\n${auth}\r\nTransfer-Encoding: chunked\r\n\r\n${(3 * MiB).toString(16)}\r\n`,
      ];
      for (const head of cases) {
        const part = new Uint8Array(head.includes("100\r\n") ? 40 : 2 * MiB).fill(120);
        await raw(h.url, head, part, { closeAfterMs: 300 });
      }
      await Bun.sleep(300);
      expect(new TextDecoder().decode(await c.paste(3))).toBe("before");
      expect((await c.read(3))?.rev).toBe((await c.list())[3].rev);
      expect(readdirSync(join(h.s.data, "blobs")).filter((f) => f.endsWith(".part"))).toEqual([]);
      expect(readdirSync(join(h.s.data, "blobs"))).toEqual([]);
    } finally {
      await c.close();
    }
  });

  test("slow - an event stream whose reader stops is cut off 64 events behind; the rest go on; the cut is counted", async () => {
    await using h = await startHttpServer({ memory: true });
    const c = await connect({ server: h.s.socket });
    try {
      // A reader that never reads, with a tiny receive buffer.
      const u = new URL(h.url);
      const stuck = net.connect({ port: Number(u.port), host: u.hostname });
      let stuckClosed = false;
      stuck.on("close", () => (stuckClosed = true));
      stuck.on("error", () => {});
      stuck.pause();
      stuck.write(`GET /v1/regions/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.token}\r\n\r\n`);
      // One that reads.
      const good = readEvents(await fetch(`${h.url}/v1/regions/events`, { headers: h.auth }));
      await waitFor(async () => metric(await (await fetch(`${h.url}/metrics`, { headers: h.auth })).text(), "clip_watchers", '{transport="http"}') === 2, 5000, "two streams");
      const value = randomBytes(60_000, 9);
      let last = 0;
      for (let i = 0; i < 400 && !stuckClosed; i++) last = (await c.copy(i % 10, value)).rev;
      await waitFor(() => stuckClosed, 15_000, "the stuck reader to be cut off");
      // The reader that keeps up got everything, in order.
      let seen = 0;
      while (seen < last) seen = Number((await good.next()).id);
      expect(seen).toBe(last);
      const m = await (await fetch(`${h.url}/metrics`, { headers: h.auth })).text();
      expect(metric(m, "clip_slow_readers_cut_total", '{transport="http"}')).toBe(1);
      expect(metric(m, "clip_watchers", '{transport="http"}')).toBe(1);
      good.close();
      stuck.destroy();
    } finally {
      await c.close();
    }
  }, 60_000);

  test("slow - a download whose reader stops is cut off by the idle timeout (CLIP_HTTP_IDLE_SECONDS)", async () => {
    await using h = await startHttpServer({ env: { CLIP_HTTP_IDLE_SECONDS: "2" } });
    const c = await connect({ server: h.s.socket });
    try {
      await c.copy(4, randomBytes(64 * MiB, 4));
      const u = new URL(h.url);
      const s = net.connect({ port: Number(u.port), host: u.hostname });
      let closed = false;
      let got = 0;
      s.on("data", (d) => (got += d.length));
      s.on("close", () => (closed = true));
      s.on("error", () => {});
      s.write(`GET /v1/regions/4 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.token}\r\n\r\n`);
      await waitFor(() => got > 0, 5000, "the download to start");
      s.pause();
      const t0 = Date.now();
      // The server drops the request (its count of requests in progress falls to the scrape's own)...
      const inProgress = async () => metric(await (await fetch(`${h.url}/metrics`, { headers: h.auth })).text(), "clip_clients", '{transport="http"}');
      expect(await inProgress()).toBe(2);
      await waitFor(async () => (await inProgress()) === 1, 30_000, "the stalled download to be cut off");
      const cutAfter = Date.now() - t0;
      // ...and the client, reading again, finds the connection closed short of the value.
      s.resume();
      await waitFor(() => closed, 10_000, "the connection to close");
      expect(got).toBeLessThan(64 * MiB);
      console.log(`a stalled download was cut after ${(cutAfter / 1000).toFixed(1)} s, having taken ${(got / MiB).toFixed(1)} MiB`);
      expect((await fetch(`${h.url}/v1/status`, { headers: h.auth })).status).toBe(200);
    } finally {
      await c.close();
    }
  }, 60_000);

  test("flood - requests past the cap are 503 with Retry-After while the socket keeps serving; idle connections do not starve it", async () => {
    await using h = await startHttpServer({ memory: true, env: { CLIP_MAX_CONNECTIONS: "16" } });
    const c = await connect({ server: h.s.socket });
    const idle: net.Socket[] = [];
    try {
      const polls = Array.from({ length: 16 }, () => fetch(`${h.url}/v1/regions/0?wait=30`, { headers: h.auth }));
      await waitFor(async () => {
        const r = await fetch(`${h.url}/v1/status`, { headers: h.auth });
        if (r.status === 503) return r;
        return null;
      }, 10_000, "the cap to be reached");
      const over = await fetch(`${h.url}/v1/regions`, { headers: h.auth });
      expect(over.status).toBe(503);
      expect(over.headers.get("retry-after")).toBe("1");
      expect(((await over.json()) as { error: string }).error).toBe("BUSY");
      // 500 connections that send nothing.
      const u = new URL(h.url);
      for (let i = 0; i < 500; i++) {
        const s = net.connect({ port: Number(u.port), host: u.hostname });
        s.on("error", () => {});
        idle.push(s);
      }
      // The socket side serves meanwhile; a write wakes every poll.
      const w = await c.copy(0, "wake up");
      expect(new TextDecoder().decode(await c.paste(0))).toBe("wake up");
      const answers = await Promise.all(polls);
      expect(answers.map((r) => r.status)).toEqual(Array(16).fill(200));
      expect(answers.map((r) => r.headers.get("etag"))).toEqual(Array(16).fill(`"${w.rev}"`));
      // Below the cap again: HTTP answers.
      const m = await (await fetch(`${h.url}/metrics`, { headers: h.auth })).text();
      expect(metric(m, "clip_refused_total", '{transport="http"}')).toBeGreaterThanOrEqual(2);
    } finally {
      for (const s of idle) s.destroy();
      await c.close();
    }
  }, 60_000);

  test("stop - SIGTERM with a long poll and an event stream open: the poll gets 503, the stream ends, exit 0", async () => {
    await using h = await startHttpServer({ memory: true });
    const poll = fetch(`${h.url}/v1/regions/0?wait=60`, { headers: h.auth });
    const es = readEvents(await fetch(`${h.url}/v1/regions/events`, { headers: h.auth }));
    await Bun.sleep(100);
    const t0 = Date.now();
    expect(await h.s.stop("SIGTERM")).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    const r = await poll;
    expect(r.status).toBe(503);
    expect(((await r.json()) as { error: string }).error).toBe("SHUTDOWN");
    await waitFor(() => es.ended, 5000, "the stream to end");
  });

  test.skipIf(!HAVE_PROMTOOL)("metrics - promtool passes a live server's /metrics; writes, bytes, clients, children, watchers and durations per transport", async () => {
    await using h = await startHttpServer({ args: ["--listen", "tcp:127.0.0.1:0"], memory: true });
    const tcp = /listening: .*?tcp:(127\.0\.0\.1:[0-9]+)/.exec(h.s.stderr())![1];
    // A child joined to it: clip_children.
    await using child = await startHttpServer({ memory: true, name: "child", args: ["--connect", tcp] });
    await waitFor(async () => metric(await (await fetch(`${h.url}/metrics`, { headers: h.auth })).text(), "clip_children") === 1, 10_000, "the child");
    const c = await connect({ server: h.s.socket });
    try {
      await c.copy(1, randomBytes(100_000, 1));
      await c.paste(1);
      const waiter = h.s.run(["wait", "2", "--timeout", "10"]);
      const es = readEvents(await fetch(`${h.url}/v1/regions/events`, { headers: h.auth }));
      await fetch(`${h.url}/v1/regions/3`, { method: "PUT", headers: h.auth, body: "via http" });
      await waitFor(async () => metric(await (await fetch(`${h.url}/metrics`, { headers: h.auth })).text(), "clip_watchers", '{transport="unix"}') >= 1, 5000, "the waiter");
      const text = await (await fetch(`${h.url}/metrics`, { headers: h.auth })).text();
      const check = Bun.spawnSync(["promtool", "check", "metrics"], { stdin: new TextEncoder().encode(text) });
      expect(check.stdout.toString() + check.stderr.toString()).toBe("");
      expect(check.exitCode).toBe(0);
      expect(metric(text, "clip_writes_applied_total")).toBe(2);
      expect(metric(text, "clip_revision")).toBe(2);
      expect(metric(text, "clip_lag_revisions")).toBe(0);
      expect(metric(text, "clip_children")).toBe(1);
      expect(metric(text, "clip_received_bytes_total", '{transport="unix"}')).toBeGreaterThan(100_000);
      expect(metric(text, "clip_sent_bytes_total", '{transport="unix"}')).toBeGreaterThan(100_000);
      // The child's link came in over TCP: its snapshot went out there.
      expect(metric(text, "clip_sent_bytes_total", '{transport="tcp"}')).toBeGreaterThan(100_000);
      expect(metric(text, "clip_received_bytes_total", '{transport="http"}')).toBe(8);
      expect(metric(text, "clip_clients", '{transport="unix"}')).toBeGreaterThanOrEqual(2);
      expect(metric(text, "clip_watchers", '{transport="http"}')).toBe(1);
      expect(metric(text, "clip_request_duration_seconds_count", '{transport="unix"}')).toBeGreaterThanOrEqual(3);
      expect(metric(text, "clip_request_duration_seconds_count", '{transport="http"}')).toBeGreaterThanOrEqual(3);
      expect(metric(text, "clip_request_duration_seconds_bucket", '{transport="http",le="+Inf"}')).toBe(metric(text, "clip_request_duration_seconds_count", '{transport="http"}'));
      // The child, a server of its own, says how far behind the root it is.
      const ct = await waitFor(async () => {
        const t = await (await fetch(`${child.url}/metrics`, { headers: child.auth })).text();
        return metric(t, "clip_revision") === 2 ? t : null;
      }, 10_000, "the child to catch up");
      expect(metric(ct, "clip_lag_revisions")).toBe(0);
      expect(metric(ct, "clip_writes_applied_total")).toBe(2);
      es.close();
      await c.copy(2, "done");
      expect((await waiter).code).toBe(0);
    } finally {
      await c.close();
    }
  });
});
