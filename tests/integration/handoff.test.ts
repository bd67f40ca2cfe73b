// Values handed over by path on the unix socket (docs/PROTOCOL.md "Values by
// path"): `clip copy R FILE` names the file and the server reads it; `clip
// paste R` to stdout takes the value's file and copies it itself. Each is
// checked byte for byte, both ways (CLIP_HANDOFF=0 forces the bytes on the
// socket), and `clip status --json` (handoffs.in/out) tells which way a value
// went. The CLI's fallbacks (a file that vanished, was replaced, or differs)
// are driven by a fake server that speaks the protocol, so they are seen
// without racing a real one.

import { describe, expect, test } from "bun:test";
import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ClipError } from "../../src/protocol/errors.ts";
import { connect } from "../../src/index.ts";
import { FrameDecoder, FrameType, encodeFrame, type Frame } from "../../src/protocol/frame.ts";
import { BIN, randomBytes, sameBytes, spawnClip, startServer, tcpAddressOf, tempDir } from "../helpers/clip.ts";

const MiB = 1 << 20;

async function handoffs(s: { run: (a: string[]) => Promise<{ text: string }> }): Promise<{ in: number; out: number }> {
  return JSON.parse((await s.run(["status", "--json"])).text).handoffs;
}

function describeFile(path: string) {
  const st = statSync(path, { bigint: true });
  return { path, dev: String(st.dev), ino: String(st.ino), size: Number(st.size) };
}

/** A shell line's exit code (redirections the harness cannot make: >, >>). */
function sh(line: string): number {
  return Bun.spawnSync(["sh", "-c", line], { stdout: "ignore", stderr: "inherit" }).exitCode;
}

/**
 * A fake server on a unix socket that offers handoff, for the CLI's
 * fallbacks: `paste` asked with `file: true` is answered by `named()` (a
 * file reference, which the test makes stale), plain `paste` with `value`'s
 * bytes; `copy` with `from` gets NOTFOUND, a streamed copy is kept in
 * `received`. Every request's meta is recorded.
 */
function fakeServer(path: string, value: Uint8Array, named: () => Record<string, unknown>) {
  const seen: Record<string, unknown>[] = [];
  const received: Uint8Array[] = [];
  type S = { dec: FrameDecoder; out: Uint8Array[] };
  // What the kernel did not take yet, written again on drain (a value is larger than the socket's buffer).
  const flush = (s: { data: S; write(b: Uint8Array): number }) => {
    while (s.data.out.length > 0) {
      const head = s.data.out[0];
      const n = s.write(head);
      if (n === head.length) s.data.out.shift();
      else {
        s.data.out[0] = head.subarray(Math.max(n, 0));
        return;
      }
    }
  };
  const server = Bun.listen<S>({
    unix: path,
    socket: {
      open(s) {
        s.data = { dec: new FrameDecoder(), out: [] };
      },
      drain: flush,
      data(s, chunk) {
        for (const f of s.data.dec.push(chunk) as Frame[]) {
          const write = (b: Uint8Array) => {
            s.data.out.push(b);
            if (s.data.out.length === 1) flush(s);
          };
          const send = (type: FrameType, meta: object | null, payload?: Uint8Array, fin = true) => write(encodeFrame(type, f.id, meta, payload, fin));
          if (f.type === FrameType.DATA) {
            received.push(f.payload.slice());
            if (f.fin) send(FrameType.RES, { rev: 2, size: received.reduce((n, c) => n + c.length, 0) });
            continue;
          }
          if (f.type !== FrameType.REQ) continue;
          seen.push(f.meta);
          if (f.meta.op === "hello") send(FrameType.RES, { v: 2, server: "fake", id: "fake", auth: "none", admin: true, handoff: true });
          else if (f.meta.op === "paste" && f.meta.file === true) send(FrameType.RES, { r: 3, size: value.length, at: 1, by: "fake", rev: 1, file: named() });
          else if (f.meta.op === "paste") {
            send(FrameType.RES, { r: 3, size: value.length, at: 1, by: "fake", rev: 1 }, value.subarray(0, MiB), false);
            for (let o = MiB; o < value.length; o += MiB) write(encodeFrame(FrameType.DATA, f.id, null, value.subarray(o, o + MiB), o + MiB >= value.length));
          } else if (f.meta.op === "copy" && f.meta.from !== undefined) send(FrameType.ERR, { code: "NOTFOUND", message: "not that file" });
          else if (f.meta.op === "copy") {
            received.push(f.payload.slice());
            if (f.fin) send(FrameType.RES, { rev: 2, size: f.payload.length });
          }
        }
      },
    },
  });
  return { seen, received, stop: () => server.stop(true) };
}

describe("handoff", () => {
  test("handoff - clip copy R FILE is read by the server from the path, byte-exact; CLIP_HANDOFF=0 sends the bytes", async () => {
    await using s = await startServer();
    using d = tempDir();
    const file = join(String(d), "v.bin");
    const value = randomBytes(3 * MiB + 17, 11);
    writeFileSync(file, value);
    expect(await handoffs(s)).toEqual({ in: 0, out: 0 });

    const c = await s.run(["copy", "1", file]);
    expect(c.stderr).toBe("");
    expect(c.code).toBe(0);
    expect((await handoffs(s)).in).toBe(1);
    expect(sameBytes((await s.run(["paste", "1"], { env: { CLIP_HANDOFF: "0" } })).stdout, value)).toBe(true);

    // The same copy with the bytes on the socket: stored the same, not counted.
    const other = randomBytes(2 * MiB, 12);
    writeFileSync(join(String(d), "w.bin"), other);
    expect((await s.run(["copy", "2", join(String(d), "w.bin")], { env: { CLIP_HANDOFF: "0" } })).code).toBe(0);
    expect((await handoffs(s)).in).toBe(1);
    expect(sameBytes((await s.run(["paste", "2"], { env: { CLIP_HANDOFF: "0" } })).stdout, other)).toBe(true);
    // The stored value is a copy: changing the file afterwards changes nothing.
    writeFileSync(file, other.subarray(0, value.length));
    expect(sameBytes((await s.run(["paste", "1"])).stdout, value)).toBe(true);
  });

  test("handoff - stdin from a file goes by path; a pipe, a deleted file, a small file and a server that does not offer it get bytes", async () => {
    await using s = await startServer();
    using d = tempDir();
    const file = join(String(d), "v.bin");
    const value = randomBytes(2 * MiB + 5, 21);
    writeFileSync(file, value);

    expect(sh(`'${BIN}' copy 3 --server unix:${s.socket} < '${file}'`)).toBe(0);
    expect((await handoffs(s)).in).toBe(1);
    expect(sameBytes((await s.run(["paste", "3"], { env: { CLIP_HANDOFF: "0" } })).stdout, value)).toBe(true);
    // Not read from its start (the shell read a line first): never by path, which would send the whole file.
    writeFileSync(join(String(d), "lines"), Buffer.concat([Buffer.from("first\n"), value]));
    sh(`(read -r x; '${BIN}' copy 3 --server unix:${s.socket} 2>/dev/null) < '${join(String(d), "lines")}'`);
    expect((await handoffs(s)).in).toBe(1);

    // A pipe is streamed.
    expect(sh(`cat '${file}' | '${BIN}' copy 4 --server unix:${s.socket}`)).toBe(0);
    expect((await handoffs(s)).in).toBe(1);
    expect(sameBytes((await s.run(["paste", "4"])).stdout, value)).toBe(true);
    // A file with no name left (Bun hands a spawned process its stdin bytes as a deleted memfd): streamed.
    const piped = randomBytes(2 * MiB, 22);
    expect((await s.run(["copy", "4"], { stdin: piped })).code).toBe(0);
    expect((await handoffs(s)).in).toBe(1);
    expect(sameBytes((await s.run(["paste", "4"])).stdout, piped)).toBe(true);

    // Under a megabyte the bytes cost less than the handoff.
    const small = join(String(d), "small");
    writeFileSync(small, randomBytes(100 << 10, 23));
    expect((await s.run(["copy", "5", small])).code).toBe(0);
    expect((await handoffs(s)).in).toBe(1);
    expect(sameBytes((await s.run(["paste", "5"])).stdout, readFileSync(small))).toBe(true);

    // A server that does not offer it (no `handoff` in its welcome) gets the bytes, and never names a file.
    await using off = await startServer({ env: { CLIP_HANDOFF: "0" } });
    expect((await off.run(["copy", "1", file])).code).toBe(0);
    expect(sameBytes((await off.run(["paste", "1"])).stdout, value)).toBe(true);
    expect(await handoffs(off)).toEqual({ in: 0, out: 0 });
  });

  test("handoff - clip paste copies the value's file to stdout itself: a pipe, a file, a file opened to append; --memory has no file", async () => {
    await using s = await startServer();
    using d = tempDir();
    const file = join(String(d), "v.bin");
    const value = randomBytes(5 * MiB + 3, 31);
    writeFileSync(file, value);
    expect((await s.run(["copy", "6", file])).code).toBe(0);

    const p = await s.run(["paste", "6"]); // stdout: a pipe
    expect(p.code).toBe(0);
    expect(sameBytes(p.stdout, value)).toBe(true);
    expect((await handoffs(s)).out).toBe(1);

    const out = join(String(d), "out");
    writeFileSync(`${out}.app`, "head:");
    expect(sh(`'${BIN}' paste 6 --server unix:${s.socket} > '${out}' && '${BIN}' paste 6 --server unix:${s.socket} >> '${out}.app'`)).toBe(0);
    expect(sameBytes(readFileSync(out), value)).toBe(true);
    const appended = readFileSync(`${out}.app`);
    expect(appended.subarray(0, 5).toString()).toBe("head:");
    expect(sameBytes(appended.subarray(5), value)).toBe(true);
    expect((await handoffs(s)).out).toBe(3);

    const streamed = await s.run(["paste", "6"], { env: { CLIP_HANDOFF: "0" } });
    expect(sameBytes(streamed.stdout, value)).toBe(true);
    expect((await handoffs(s)).out).toBe(3);

    await using m = await startServer({ memory: true });
    expect((await m.run(["copy", "1", file])).code).toBe(0);
    expect(sameBytes((await m.run(["paste", "1"])).stdout, value)).toBe(true);
    expect(await handoffs(m)).toEqual({ in: 1, out: 0 });
  });

  test("handoff - a value replaced while pastes run: every paste is one whole value, never a mix", async () => {
    await using s = await startServer();
    using d = tempDir();
    const a = randomBytes(4 * MiB, 41);
    const b = randomBytes(4 * MiB + 1, 42);
    writeFileSync(join(String(d), "a"), a);
    writeFileSync(join(String(d), "b"), b);
    expect((await s.run(["copy", "7", join(String(d), "a")])).code).toBe(0);
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop && i < 200; i++) await s.run(["copy", "7", join(String(d), i % 2 ? "a" : "b")]);
    })();
    let seenA = 0;
    let seenB = 0;
    for (let i = 0; i < 12; i++) {
      const p = await s.run(["paste", "7"]);
      expect(p.code).toBe(0);
      if (sameBytes(p.stdout, a)) seenA++;
      else if (sameBytes(p.stdout, b)) seenB++;
      else throw new Error(`paste ${i} returned ${p.stdout.length} bytes that are neither value`);
    }
    stop = true;
    await writer;
    expect(seenA + seenB).toBe(12);
    expect((await handoffs(s)).out).toBeGreaterThan(0);
  });

  test("handoff - the server checks the file it opens: another inode, another size, a fifo, a TCP peer, DATA after `from` are refused and store nothing", async () => {
    using d = tempDir();
    const token = join(String(d), "token");
    writeFileSync(token, "tok-tok-tok\n");
    await using s = await startServer({ args: ["--listen", "tcp:127.0.0.1:0", "--token-file", token] });
    const file = join(String(d), "v.bin");
    const value = randomBytes(2 * MiB, 51);
    writeFileSync(file, value);
    await using c = await connect({ server: `unix:${s.socket}` });
    const ref = describeFile(file);
    const refused = async (meta: Record<string, unknown>, code: ClipError["code"]) => {
      const e = await c.call("copy", { r: 1, size: value.length, ...meta }).then(() => null, (x) => x);
      expect(e).toBeInstanceOf(ClipError);
      expect((e as ClipError).code).toBe(code);
    };

    expect(await c.call("copy", { r: 1, size: value.length, from: ref })).toMatchObject({ size: value.length });
    expect(sameBytes(await c.paste(1), value)).toBe(true);

    await refused({ r: 2, from: { ...ref, ino: String(BigInt(ref.ino) + 1n) } }, "NOTFOUND");
    await refused({ r: 2, from: { ...ref, dev: "12345" } }, "NOTFOUND");
    await refused({ r: 2, size: value.length + 1, from: { ...ref, size: value.length + 1 } }, "NOTFOUND");
    await refused({ r: 2, from: { ...ref, path: join(String(d), "gone") } }, "NOTFOUND");
    await refused({ r: 2, from: { ...ref, path: "relative/path" } }, "PROTOCOL");
    const fifo = join(String(d), "fifo");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    await refused({ r: 2, from: { ...describeFile(fifo), size: value.length } }, "NOTFOUND"); // opened non-blocking: no hang
    await refused({ r: 2, size: undefined, from: { ...ref, size: undefined } }, "PROTOCOL");
    // A file swapped in under the same name since it was described.
    writeFileSync(`${file}.new`, value);
    renameSync(`${file}.new`, file);
    await refused({ r: 2, from: ref }, "NOTFOUND");
    expect((await c.paste(2)).length).toBe(0);

    // Over TCP a path means nothing: refused even to a peer that proved the token.
    await using t = await connect({ server: tcpAddressOf(s), token: "tok-tok-tok" });
    const overTcp = await t.call("copy", { r: 2, size: value.length, from: describeFile(file) }).then(() => null, (x) => x);
    expect((overTcp as ClipError).code).toBe("NOTFOUND");

    // Bytes after a request whose value comes from a file: a protocol error, nothing stored.
    const dec = new FrameDecoder();
    const replies: Frame[] = [];
    const raw = await Bun.connect({ unix: s.socket, socket: { data: (_s, chunk) => void replies.push(...dec.push(chunk)) } });
    raw.write(Buffer.concat([
      encodeFrame(FrameType.REQ, 1, { op: "hello", v: 2, kind: "lib" }),
      encodeFrame(FrameType.REQ, 2, { op: "copy", r: 2, size: value.length, from: describeFile(file) }),
      // As many bytes as announced: taken, they would make a whole (wrong) value.
      encodeFrame(FrameType.DATA, 2, null, new Uint8Array(MiB), false),
      encodeFrame(FrameType.DATA, 2, null, new Uint8Array(MiB), true),
    ]));
    const end = Date.now() + 10_000;
    while (!replies.some((f) => f.id === 2) && Date.now() < end) await Bun.sleep(10);
    raw.end();
    const r2 = replies.find((f) => f.id === 2)!;
    expect(r2.type).toBe(FrameType.ERR);
    expect(r2.meta.code).toBe("PROTOCOL");
    expect(String(r2.meta.message)).toContain("read from a file");
    expect((await c.paste(2)).length).toBe(0);
    expect((await handoffs(s)).in).toBe(1);
  });

  test("handoff - a file by path over --max-size is refused (TOOBIG) and the region keeps its value", async () => {
    await using s = await startServer({ args: ["--max-size", "1M"] });
    using d = tempDir();
    const big = join(String(d), "big");
    writeFileSync(big, randomBytes(3 * MiB, 71));
    expect((await s.run(["copy", "1"], { stdin: "kept" })).code).toBe(0);
    const over = await s.run(["copy", "1", big]);
    expect(over.code).toBe(1);
    expect(over.stderr).toMatch(/max-size/);
    expect((await s.run(["paste", "1"])).text).toBe("kept");
    expect((await handoffs(s)).in).toBe(0);
  });

  test("handoff - the CLI falls back to the bytes: a named file that vanished, was replaced or differs; a copy the server could not take by path", async () => {
    using d = tempDir();
    const sock = join(String(d), "fake.sock");
    const value = randomBytes(3 * MiB + 1, 61);
    const stale = join(String(d), "stale");
    writeFileSync(stale, value);
    let named = describeFile(stale);
    const fake = fakeServer(sock, value, () => named);
    try {
      const paste = async () => {
        await using p = spawnClip(["paste", "3", "--server", `unix:${sock}`]);
        expect(await p.exited()).toBe(0);
        return p.stdout();
      };
      // Replaced: same path, another inode (another value's bytes there now).
      const other = randomBytes(value.length, 62);
      writeFileSync(`${stale}.new`, other);
      renameSync(`${stale}.new`, stale);
      expect(sameBytes(await paste(), value)).toBe(true);
      expect(fake.seen.filter((m) => m.op === "paste").map((m) => m.file === true)).toEqual([true, false]);
      // The right file by device and inode, but not the size the reply announced.
      writeFileSync(stale, randomBytes(value.length + 1, 63));
      named = describeFile(stale);
      expect(sameBytes(await paste(), value)).toBe(true);
      // Gone.
      rmSync(stale);
      expect(sameBytes(await paste(), value)).toBe(true);
      expect(fake.seen.filter((m) => m.op === "paste").length).toBe(6);
      // The proof that the check matters: a reference that does match is copied from the file, not asked again.
      writeFileSync(stale, other);
      named = describeFile(stale);
      expect(sameBytes(await paste(), other)).toBe(true);
      expect(fake.seen.filter((m) => m.op === "paste").length).toBe(7);

      // copy: NOTFOUND to `from`, then the bytes.
      const file = join(String(d), "up");
      writeFileSync(file, value);
      await using c = spawnClip(["copy", "3", file, "--server", `unix:${sock}`]);
      expect(await c.exited()).toBe(0);
      const copies = fake.seen.filter((m) => m.op === "copy");
      expect(copies.length).toBe(2);
      expect(copies[0].from).toMatchObject({ path: file, size: value.length });
      expect(copies[1].from).toBeUndefined();
      expect(sameBytes(Buffer.concat(fake.received), value)).toBe(true);

    } finally {
      fake.stop();
    }
  });
});
