// clip in pipelines: wait --follow with its separators, and a reader that
// goes away (| head) ending every command quietly, as cat does.

import { describe, expect, test } from "bun:test";
import { connect } from "../../src/index.ts";
import { BIN, randomBytes, spawnClip, startServer, waitFor } from "../helpers/clip.ts";

/**
 * Starts `clip wait R --follow ...` and returns once it is surely
 * subscribed: probe values are written until one comes out; the caller's
 * values are then whatever follows the probe's separator.
 */
async function follower(socket: string, r: number, extra: string[], sep: string) {
  const f = spawnClip(["wait", String(r), "--follow", ...extra, "--server", `unix:${socket}`]);
  const c = await connect(`unix:${socket}`);
  await waitFor(async () => {
    await c.copy(r, "probe");
    return f.text().includes(`probe${sep}`);
  }, 10_000, "the follower to subscribe");
  // Probes written while we polled all come before this fence, in order.
  await c.copy(r, "fence");
  await waitFor(() => f.text().endsWith(`fence${sep}`), 10_000, "the fence");
  const start = f.stdout().length;
  return { f, c, after: () => f.stdout().subarray(start) };
}

/** Reads the first bytes of a command's stdout, then closes the pipe under it. */
async function readThenClose(args: string[], bytes: number, feed?: string): Promise<{ code: number; stderr: string }> {
  const p = Bun.spawn([BIN, ...args], { stdin: feed !== undefined ? new TextEncoder().encode(feed) : "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  const reader = (p.stdout as ReadableStream<Uint8Array>).getReader();
  let got = 0;
  while (got < bytes) {
    const { value, done } = await reader.read();
    if (done) break;
    got += value.length;
  }
  await reader.cancel(); // the reader is gone: the next write gets EPIPE
  const stderr = await new Response(p.stderr).text();
  return { code: await p.exited, stderr };
}

describe("pipeline", () => {
  test("pipeline - wait --follow writes every later write, each followed by a newline", async () => {
    await using s = await startServer({ memory: true });
    const { f, c, after } = await follower(s.socket, 2, [], "\n");
    try {
      await c.copy(2, "one");
      await c.copy(2, "two\n");
      await c.copy(2, new Uint8Array(0));
      await c.copy(2, "three");
      await waitFor(() => after().toString().endsWith("three\n"), 10_000, "four values");
      expect(after().toString()).toBe("one\ntwo\n\n\nthree\n");
    } finally {
      c.close();
      f.proc.kill("SIGINT");
      await f.exited();
    }
  });

  test("pipeline - --sep and -0 choose the separator; binary values pass through exactly", async () => {
    await using s = await startServer({ memory: true });
    const bin = randomBytes(200_000, 3);
    {
      const { f, c, after } = await follower(s.socket, 5, ["--sep", "\\n---\\n"], "\n---\n");
      try {
        await c.copy(5, "a");
        await c.copy(5, "b");
        await waitFor(() => after().toString().endsWith("b\n---\n"), 10_000, "two values");
        expect(after().toString()).toBe("a\n---\nb\n---\n");
      } finally {
        c.close();
        f.proc.kill("SIGINT");
        await f.exited();
      }
    }
    {
      const { f, c, after } = await follower(s.socket, 6, ["-0"], "\0");
      try {
        await c.copy(6, bin);
        await c.copy(6, "x y");
        await waitFor(() => after().length === bin.length + 1 + 4, 10_000, "binary then text");
        const got = after();
        expect(Buffer.compare(got.subarray(0, bin.length), Buffer.from(bin))).toBe(0);
        expect(got.subarray(bin.length).toString()).toBe("\0x y\0");
      } finally {
        c.close();
        f.proc.kill("SIGINT");
        await f.exited();
      }
    }
  });

  test("pipeline - wait flags are checked: --sep and -0 need --follow and exclude each other; --timeout ends a silent follow", async () => {
    await using s = await startServer({ memory: true });
    expect((await s.run(["wait", "1", "--sep", ","])).code).toBe(2);
    expect((await s.run(["wait", "1", "--follow", "--sep", ",", "-0"])).code).toBe(2);
    const t = await s.run(["wait", "1", "--follow", "--timeout", "0.3"]);
    expect(t.code).toBe(124);
    expect(t.stderr).toMatch(/^clip: nothing arrived within 0.3 s/);
  });

  test("pipeline - a reader that goes away ends paste, wait --follow, shell and chat quietly (exit 141)", async () => {
    await using s = await startServer({ memory: true });
    const addr = `unix:${s.socket}`;
    const c = await connect(addr);
    try {
      await c.copy(3, randomBytes(8 << 20, 9));
      const paste = await readThenClose(["paste", "3", "--server", addr], 1);
      expect(paste).toEqual({ code: 141, stderr: "" });

      // wait --follow: the first value is read, then the pipe closes; the next write hits EPIPE.
      const f = Bun.spawn([BIN, "wait", "4", "--follow", "--server", addr], { stdout: "pipe", stderr: "pipe" });
      const reader = (f.stdout as ReadableStream<Uint8Array>).getReader();
      // Writes go on until the follower notices its reader is gone and exits.
      const feeding = (async () => {
        for (let i = 0; i < 2000 && f.exitCode === null; i++) await c.copy(4, `value ${i}`);
      })();
      await reader.read();
      await reader.cancel();
      expect(await f.exited).toBe(141);
      await feeding;
      expect(await new Response(f.stderr).text()).toBe("");

      const shell = await readThenClose(["shell", "--server", addr], 10, "list\n".repeat(2000));
      expect(shell).toEqual({ code: 141, stderr: "" });

      const chat = await readThenClose(["chat", "room", "--name", "n", "--server", addr], 10, "hello\n".repeat(500));
      expect(chat).toEqual({ code: 141, stderr: "" });
    } finally {
      c.close();
    }
  });
});

describe("stdin from a file", () => {
  test("stdin from a file - what a shell's read took first is not stored: copy and kv put store the rest, its size announced", async () => {
    await using s = await startServer();
    const dir = s.socket.replace(/\/s\.sock$/, "");
    const big = randomBytes(3 << 20, 7); // over 1 MiB: the path that names files
    const file = `${dir}/input`;
    await Bun.write(file, Buffer.concat([Buffer.from("first line\n"), big]));
    const c = await connect(`unix:${s.socket}`);
    const S = await c.groups.create("app");
    for (const [what, cmd] of [
      ["copy", `${BIN} copy 3 --server unix:${s.socket}`],
      ["kv put", `CLIP_SECRET=${S} ${BIN} kv put k --group app --server unix:${s.socket}`],
    ] as const) {
      const sh = Bun.spawn(["sh", "-c", `(read first; ${cmd}) < ${file}`], { stdout: "pipe", stderr: "pipe" });
      const [code, stderr] = [await sh.exited, await new Response(sh.stderr).text()];
      expect({ what, code, stderr }).toEqual({ what, code: 0, stderr: "" });
    }
    expect(Buffer.from(await c.paste(3)).equals(big)).toBe(true);
    const kv = await c.kv({ group: "app", secret: S });
    expect(Buffer.from(await kv.get("k")).equals(big)).toBe(true);
    c.close();
  }, 60_000);
});

describe("output", () => {
  test("output - list previews text and says 'binary, 3.2 MB' otherwise; --json keeps exact sizes", async () => {
    await using s = await startServer({ memory: true });
    const c = await connect(`unix:${s.socket}`);
    try {
      await c.copy(1, "  some\n\ttext  ");
      await c.copy(2, randomBytes(3_200_000, 5));
    } finally {
      c.close();
    }
    const r = await s.run(["list"]);
    const rows = r.text.split("\n");
    expect(rows[0]).toMatch(/^REGION +SIZE +TYPE +WRITTEN +BY +PREVIEW$/);
    expect(rows[2]).toMatch(/^1 +14 +text +\S+ ago +t +some text$/);
    expect(rows[3]).toMatch(/^2 +3200000 +application\/octet-stream +\S+ ago +t +binary, 3\.2 MB$/);
    // columns line up
    const col = (row: string) => row.indexOf(row.split(/ +/)[1]);
    expect(new Set(rows.slice(0, 11).map(col)).size).toBe(1);
    const j = JSON.parse((await s.run(["list", "--json"])).text);
    expect(j[2]).toMatchObject({ region: 2, size: 3_200_000, binary: true, type: "application/octet-stream" });
    expect(j[1]).toMatchObject({ region: 1, size: 14, binary: false, preview: "some text", type: "text/plain;charset=utf-8" });
  });
});
