// SPEC "Clipboard" through the compiled binary: copy, paste, wait, list,
// atomic copies, binary safety, large values streamed, --max-size.

import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startServer as startInProcess } from "../../src/server/serve.ts";
import { silentLogger } from "../../src/server/log.ts";
import { BIN, clip, randomBytes, sameBytes, spawnClip, startServer, tempDir, waitFor } from "../helpers/clip.ts";

const MiB = 1 << 20;

/** Peak resident memory of a process, in bytes (VmHWM). */
function peakRss(pid: number): number {
  const m = /VmHWM:\s+([0-9]+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error("no VmHWM");
  return Number(m[1]) * 1024;
}

/**
 * A child's peak RSS, read from /proc until it exits (getrusage's maxrss
 * would count the test process's memory from before exec).
 */
async function watchPeakRss(proc: { pid: number; exitCode: number | null; signalCode: unknown }): Promise<number> {
  let peak = 0;
  while (proc.exitCode === null && proc.signalCode === null) {
    try {
      peak = Math.max(peak, peakRss(proc.pid));
    } catch {
      break; // gone between the check and the read
    }
    await Bun.sleep(10);
  }
  return peak;
}

async function sha256OfFile(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const c of Bun.file(path).stream()) h.update(c);
  return h.digest("hex");
}

describe("clipboard", () => {
  test("clipboard - 10 MiB of random binary round trips byte-exact (stdin pipe and FILE)", async () => {
    await using s = await startServer();
    using d = tempDir();
    const value = randomBytes(10 * MiB, 7);
    const c = await s.run(["copy", "1"], { stdin: value });
    expect(c.stderr).toBe("");
    expect(c.code).toBe(0);
    const p = await s.run(["paste", "1"]);
    expect(p.code).toBe(0);
    expect(sameBytes(p.stdout, value)).toBe(true);

    const file = join(String(d), "v.bin");
    const other = randomBytes(10 * MiB + 3, 8);
    writeFileSync(file, other);
    expect((await s.run(["copy", "2", file])).code).toBe(0);
    expect(sameBytes((await s.run(["paste", "2"])).stdout, other)).toBe(true);
    // Region 1 kept its own value.
    expect(sameBytes((await s.run(["paste", "1"])).stdout, value)).toBe(true);
  });

  test("clipboard - every byte value survives, in a memory server too", async () => {
    await using s = await startServer({ memory: true });
    const all = Uint8Array.from({ length: 256 * 4 }, (_, i) => i & 0xff);
    expect((await s.run(["copy", "0"], { stdin: all })).code).toBe(0);
    expect([...(await s.run(["paste", "0"])).stdout]).toEqual([...all]);
  });

  test("clipboard - 200 MiB round trip with the server's peak RSS under twice the value", async () => {
    await using s = await startServer();
    using d = tempDir();
    const size = 200 * MiB;
    const src = join(String(d), "in.bin");
    const dst = join(String(d), "out.bin");
    writeFileSync(src, randomBytes(size, 3));
    const before = peakRss(s.pid);
    const copy = Bun.spawn([BIN, "copy", "4", "--server", `unix:${s.socket}`], { stdin: Bun.file(src), stdout: "ignore", stderr: "pipe" });
    const copyPeak = watchPeakRss(copy);
    expect(await copy.exited).toBe(0);
    const paste = Bun.spawn([BIN, "paste", "4", "--server", `unix:${s.socket}`], { stdin: "ignore", stdout: Bun.file(dst), stderr: "pipe" });
    const pastePeak = watchPeakRss(paste);
    expect(await paste.exited).toBe(0);
    expect(statSync(dst).size).toBe(size);
    expect(await sha256OfFile(dst)).toBe(await sha256OfFile(src));
    const peak = peakRss(s.pid);
    const clients = [await copyPeak, await pastePeak];
    console.log(
      `server peak RSS ${(before / MiB).toFixed(0)} MiB at start, ${(peak / MiB).toFixed(0)} MiB after a 200 MiB copy and paste; ` +
        `copy client ${(clients[0] / MiB).toFixed(0)} MiB, paste client ${(clients[1] / MiB).toFixed(0)} MiB`,
    );
    expect(peak).toBeLessThan(2 * size);
    // Neither client holds the value either.
    for (const c of clients) expect(c).toBeLessThan(2 * size);
  }, 120_000);

  test("clipboard - values from a pipe stay inline up to 64 KiB and go to a file past it", async () => {
    await using s = await startServer({ args: ["--history", "0"] });
    const blobs = () => readdirSync(join(s.data, "blobs"));
    const small = randomBytes(64 * 1024, 51);
    expect((await s.run(["copy", "1"], { stdin: small })).code).toBe(0);
    expect(blobs()).toEqual([]);
    const big = randomBytes(64 * 1024 + 1, 52);
    expect((await s.run(["copy", "2"], { stdin: big })).code).toBe(0);
    expect(blobs().length).toBe(1);
    expect(sameBytes((await s.run(["paste", "1"])).stdout, small)).toBe(true);
    expect(sameBytes((await s.run(["paste", "2"])).stdout, big)).toBe(true);
    // With no history kept, replacing the large value with a small one removes its
    // file (off the acknowledgement's path, so soon after it rather than before it).
    expect((await s.run(["copy", "2"], { stdin: "tiny" })).code).toBe(0);
    await waitFor(() => blobs().length === 0, 5_000, "the replaced value's file to go");
  });

  test("clipboard - copy FILE of a fifo (a process substitution) streams it: no size is announced", async () => {
    await using s = await startServer({ memory: true });
    const fifo = join(s.dir, "fifo");
    Bun.spawnSync(["mkfifo", fifo]);
    const value = randomBytes(200_000, 61);
    writeFileSync(join(s.dir, "value"), value);
    // A writer that blocks until the copy opens the fifo, as bash's <(...) does.
    const writer = Bun.spawn(["sh", "-c", `cat '${join(s.dir, "value")}' > '${fifo}'`]);
    const r = await s.run(["copy", "1", fifo]);
    await writer.exited;
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(sameBytes((await s.run(["paste", "1"])).stdout, value)).toBe(true);
  });

  test("clipboard - an empty copy pastes as empty; a never-written region pastes nothing", async () => {
    await using s = await startServer();
    const never = await s.run(["paste", "5"]);
    expect(never.code).toBe(0);
    expect(never.stdout.length).toBe(0);
    expect((await s.run(["copy", "6"], { stdin: "not empty" })).code).toBe(0);
    expect((await s.run(["copy", "6"], { stdin: "" })).code).toBe(0);
    const p = await s.run(["paste", "6"]);
    expect(p.code).toBe(0);
    expect(p.stdout.length).toBe(0);
  });

  test("clipboard - bad regions exit 2 before reading stdin or contacting a server", async () => {
    using d = tempDir();
    const env = { CLIP_SERVER: join(String(d), "nothing-here.sock") };
    for (const r of ["10", "-1", "abc", "3.5", "03", "3.0", ""]) {
      for (const cmd of [["copy", r], ["paste", r], ["wait", r], ["wait", r, "--follow"]]) {
        const res = await clip(cmd, { env });
        expect(res.code).toBe(2);
        expect(res.stderr).toMatch(/^clip: .*region/);
        expect(res.stderr.trim().split("\n").length).toBe(1);
      }
    }
    // A copy with a stdin that never ends still fails at once: nothing was read.
    await using p = spawnClip(["copy", "12"], { stdin: "pipe", env });
    expect(await p.exited()).toBe(2);
  });

  test("clipboard - with no server at all, a good command exits 3", async () => {
    using d = tempDir();
    const res = await clip(["paste", "3"], { env: { CLIP_SERVER: join(String(d), "none.sock") } });
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/^clip: no server at unix:/);
  });

  test("clipboard - wait --timeout with no write exits 124 and prints nothing", async () => {
    await using s = await startServer({ memory: true });
    const res = await s.run(["wait", "3", "--timeout", "0.3"]);
    expect(res.code).toBe(124);
    expect(res.stdout.length).toBe(0);
    expect(res.stderr).toMatch(/^clip: /);
    // With --follow, --timeout is how long to wait for the first value.
    const follow = await s.run(["wait", "3", "--follow", "--timeout", "0.3"]);
    expect(follow.code).toBe(124);
    expect(follow.stdout.length).toBe(0);
    // The connection is still fine for others.
    expect((await s.run(["copy", "3"], { stdin: "x" })).code).toBe(0);
  });

  test("clipboard - wait returns the next write, not the current value", async () => {
    // The server in-process, so the test knows when the wait is in place before it writes.
    using d = tempDir();
    const socket = join(String(d), "s.sock");
    const server = await startInProcess({ socket, dataDir: null, maxSize: 1 << 20, log: silentLogger });
    try {
      expect((await clip(["copy", "3", "--server", socket], { stdin: "old" })).code).toBe(0);
      await using w = spawnClip(["wait", "3", "--server", `unix:${socket}`]);
      await waitFor(() => server.node.watchers.count("r/3") === 1 || w.proc.exitCode !== null, 15_000, "the wait to be registered");
      // Registered, and not answered with the value already there.
      expect(w.proc.exitCode).toBe(null);
      expect(w.text()).toBe("");
      expect((await clip(["copy", "3", "--server", socket], { stdin: "new" })).code).toBe(0);
      expect(await w.exited()).toBe(0);
      expect(w.text()).toBe("new");
    } finally {
      await server.stop();
    }
  });

  test("clipboard - wait --follow writes every later value with --sep, -0 and the newline default", async () => {
    await using s = await startServer({ memory: true });
    const server = `unix:${s.socket}`;
    for (const [flags, sep] of [
      [[], "\n"],
      [["--sep", "==>"], "==>"],
      [["--sep=---"], "---"],
      [["--sep", "\\t"], "\t"],
      [["-0"], "\0"],
    ] as [string[], string][]) {
      await using f = spawnClip(["wait", "7", "--follow", ...flags, "--server", server]);
      // Prime until the follower sees writes, then two known values.
      await waitFor(async () => {
        if (f.proc.exitCode !== null) throw new Error(`the follower exited: ${f.stderr()}`);
        await s.run(["copy", "7"], { stdin: "prime" });
        return f.text().length > 0;
      }, 15_000, "the follower to start");
      await s.run(["copy", "7"], { stdin: "one" });
      await s.run(["copy", "7"], { stdin: "two\n" });
      const tail = `one${sep}two\n${sep}`;
      await waitFor(() => f.text().endsWith(tail), 10_000, `follow output ending ${JSON.stringify(tail)}`);
      const head = f.text().slice(0, -tail.length);
      expect(head).toBe(`prime${sep}`.repeat(head.length / `prime${sep}`.length));
      expect(f.proc.exitCode).toBe(null);
    }
  });

  test("clipboard - --sep with -0, or --sep without --follow, is a usage error", async () => {
    await using s = await startServer({ memory: true });
    expect((await s.run(["wait", "1", "--follow", "--sep", "x", "-0"])).code).toBe(2);
    expect((await s.run(["wait", "1", "--sep", "x"])).code).toBe(2);
    expect((await s.run(["wait", "1", "--timeout", "soon"])).code).toBe(2);
  });

  test("clipboard - list --json has one row per region with size, time, server and preview", async () => {
    await using s = await startServer({ memory: true, name: "alpha" });
    const t0 = Date.now();
    await s.run(["copy", "2"], { stdin: "hello   world\nline two" });
    await s.run(["copy", "8"], { stdin: Uint8Array.of(0, 1, 2, 255) });
    const res = await s.run(["list", "--json"]);
    expect(res.code).toBe(0);
    const rows = JSON.parse(res.text);
    expect(rows.length).toBe(10);
    expect(rows.map((r: { region: number }) => r.region)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(rows[2]).toMatchObject({ region: 2, size: 22, by: "alpha", preview: "hello world line two", binary: false });
    expect(rows[2].at).toBeGreaterThanOrEqual(t0 - 1000);
    expect(rows[8]).toMatchObject({ region: 8, size: 4, binary: true });
    expect(rows[0]).toMatchObject({ region: 0, size: 0, at: 0 });
    const table = await s.run(["list"]);
    expect(table.code).toBe(0);
    expect(table.text).toMatch(/^REGION\s+SIZE/);
    expect(table.text).toContain("hello world line two");
    expect(table.text).not.toContain("\x1b[");
  });

  test("clipboard - a copy killed half-way leaves the region as it was", async () => {
    await using s = await startServer();
    expect((await s.run(["copy", "3"], { stdin: "the old value" })).code).toBe(0);
    await using c = spawnClip(["copy", "3", "--server", `unix:${s.socket}`], { stdin: "pipe" });
    const stdin = c.proc.stdin as import("bun").FileSink;
    const chunk = randomBytes(MiB, 9);
    for (let i = 0; i < 4; i++) {
      stdin.write(chunk);
      await stdin.flush();
    }
    // The server is staging the half value on disk...
    const blobs = join(s.data, "blobs");
    const parts = () => (existsSync(blobs) ? readdirSync(blobs).filter((f) => f.endsWith(".part")) : []);
    await waitFor(() => parts().some((f) => statSync(join(blobs, f)).size >= 2 * MiB), 10_000, "a staged upload");
    c.proc.kill(9);
    await c.proc.exited;
    // ...and drops it when the client dies.
    await waitFor(() => parts().length === 0, 10_000, "the staged upload to be dropped");
    const p = await s.run(["paste", "3"]);
    expect(p.text).toBe("the old value");
  });

  test("clipboard - a value over --max-size is refused with a clear error and the old value kept", async () => {
    await using s = await startServer({ args: ["--max-size", "64k"] });
    using d = tempDir();
    await s.run(["copy", "1"], { stdin: "keep me" });
    // Announced size (a FILE) and unannounced (a pipe).
    const file = join(String(d), "big");
    writeFileSync(file, randomBytes(100_000));
    const a = await s.run(["copy", "1", file]);
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/^clip: .*max-size/);
    const b = await s.run(["copy", "1"], { stdin: randomBytes(3 * MiB) });
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/^clip: .*max-size/);
    expect((await s.run(["paste", "1"])).text).toBe("keep me");
    // Exactly the limit is fine.
    const ok = randomBytes(64 * 1024, 5);
    expect((await s.run(["copy", "1"], { stdin: ok })).code).toBe(0);
    expect(sameBytes((await s.run(["paste", "1"])).stdout, ok)).toBe(true);
  });

  test("clipboard - copy of a missing file or a folder fails as cat does (exit 1), not as a usage error", async () => {
    await using s = await startServer({ memory: true });
    using d = tempDir();
    expect((await s.run(["copy", "1", join(String(d), "nope")])).code).toBe(1);
    expect((await s.run(["copy", "1", String(d)])).code).toBe(1);
  });
});
