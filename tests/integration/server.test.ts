// SPEC "The server" and "Addresses" through the compiled binary: sockets,
// persistence across kill -9, signals, TCP and its token, garbage on the wire.

import { describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../../src/index.ts";
import { ClipError } from "../../src/protocol/errors.ts";
import { FrameType, encodeFrame } from "../../src/protocol/frame.ts";
import { BIN, clip, randomBytes, sameBytes, spawnClip, startServer, tcpAddressOf, tempDir, waitFor } from "../helpers/clip.ts";

const mode = (p: string) => statSync(p).mode & 0o777;

/** An environment with no clip variables, so the default socket rule applies. */
function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("CLIP_") && k !== "XDG_RUNTIME_DIR") env[k] = v;
  return { ...env, NO_COLOR: "1", ...extra };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ClipError);
    return (e as ClipError).code;
  }
  return "none";
}

describe("server", () => {
  test("server - default socket under $XDG_RUNTIME_DIR/clip (0700, socket 0600), default data under $XDG_STATE_HOME/clip", async () => {
    using d = tempDir();
    const env = cleanEnv({ XDG_RUNTIME_DIR: String(d), XDG_STATE_HOME: join(String(d), "state") });
    const proc = Bun.spawn([BIN, "serve", "--name", "xdg"], { env, stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    try {
      const sock = join(String(d), "clip", "clip.sock");
      await waitFor(() => existsSync(sock), 10_000, "the default socket");
      expect(mode(join(String(d), "clip"))).toBe(0o700);
      expect(mode(sock)).toBe(0o600);
      await waitFor(async () => (await clip(["copy", "1"], { stdin: "via default", env })).code === 0, 10_000, "a copy on the default socket");
      const p = await clip(["paste", "1"], { env });
      expect(p.text).toBe("via default");
      expect(existsSync(join(String(d), "state", "clip", "state.db"))).toBe(true);
      // $CLIP_SOCKET wins over XDG_RUNTIME_DIR for clients.
      const other = await clip(["paste", "1"], { env: { ...env, CLIP_SOCKET: join(String(d), "elsewhere.sock") } });
      expect(other.code).toBe(3);
    } finally {
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    }
  });

  test("server - an existing default socket folder open to others is closed to 0700; another user's is refused", async () => {
    using d = tempDir();
    const folder = join(String(d), "clip");
    mkdirSync(folder, { mode: 0o755 });
    chmodSync(folder, 0o755);
    const env = cleanEnv({ XDG_RUNTIME_DIR: String(d) });
    {
      const proc = Bun.spawn([BIN, "serve", "--memory"], { env, stdin: "ignore", stdout: "ignore", stderr: "pipe" });
      try {
        await waitFor(() => existsSync(join(folder, "clip.sock")), 10_000, "the default socket");
        expect(mode(folder)).toBe(0o700);
      } finally {
        proc.kill("SIGTERM");
        expect(await proc.exited).toBe(0);
      }
    }
    // Only root can hand a folder to another user to try the refusal.
    if (process.getuid?.() === 0) {
      chownSync(folder, 65534, 65534);
      const res = await clip(["serve", "--memory"], { env, timeoutMs: 15_000 });
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(/^clip: the socket folder .* belongs to another user/m);
    }
  });

  test("server - --socket in a new folder creates it 0700 with the socket 0600", async () => {
    using d = tempDir();
    const dir = join(String(d), "sub", "deeper");
    await using s = await startServer({ memory: true, dir });
    expect(mode(dir)).toBe(0o700);
    expect(mode(s.socket)).toBe(0o600);
  });

  test("server - SIGTERM and SIGINT remove the socket file and exit 0", async () => {
    for (const sig of ["SIGTERM", "SIGINT"] as const) {
      await using s = await startServer({ memory: true });
      expect(existsSync(s.socket)).toBe(true);
      expect(await s.stop(sig)).toBe(0);
      expect(existsSync(s.socket)).toBe(false);
      expect(s.stderr()).toMatch(/stopping/);
      // Logs: one line per event, time, server name, level.
      for (const line of s.stderr().trimEnd().split("\n")) expect(line).toMatch(/^\d{4}-\d\d-\d\dT[0-9:.]+Z t (info|warn|error) +\S/);
    }
  });

  test("server - SIGTERM tells a waiting client, which exits 3", async () => {
    await using s = await startServer({ memory: true });
    const c = await connect({ server: s.socket });
    const waiting = codeOf(c.wait(1));
    await c.list(); // the wait is registered once a later request on the connection is answered
    await s.stop("SIGTERM");
    expect(await waiting).toBe("SHUTDOWN");
    c.close();
  });

  test("server - kill -9 then restart with the same --data keeps small and large values", async () => {
    using d = tempDir();
    const dir = String(d);
    const data = join(dir, "data");
    const big = randomBytes(300_000, 11);
    {
      await using s = await startServer({ dir, data });
      expect((await s.run(["copy", "1"], { stdin: "small value" })).code).toBe(0);
      expect((await s.run(["copy", "2"], { stdin: big })).code).toBe(0);
      expect((await s.run(["copy", "3"], { stdin: "" })).code).toBe(0);
      // Overwrite a large value: the replaced file must not come back.
      expect((await s.run(["copy", "4"], { stdin: randomBytes(100_000, 1) })).code).toBe(0);
      expect((await s.run(["copy", "4"], { stdin: "four" })).code).toBe(0);
      await s.stop("SIGKILL");
      // The stale socket stays behind...
      expect(existsSync(s.socket)).toBe(true);
    }
    // ...and the restart replaces it.
    await using s2 = await startServer({ dir, data });
    expect((await s2.run(["paste", "1"])).text).toBe("small value");
    expect(sameBytes((await s2.run(["paste", "2"])).stdout, big)).toBe(true);
    expect((await s2.run(["paste", "3"])).stdout.length).toBe(0);
    expect((await s2.run(["paste", "4"])).text).toBe("four");
    const rows = JSON.parse((await s2.run(["list", "--json"])).text);
    expect(rows[2].size).toBe(big.length);
  });

  test("server - --memory keeps nothing across a restart", async () => {
    using d = tempDir();
    const dir = String(d);
    {
      await using s = await startServer({ dir, memory: true });
      await s.run(["copy", "1"], { stdin: "gone" });
    }
    await using s2 = await startServer({ dir, memory: true });
    expect((await s2.run(["paste", "1"])).stdout.length).toBe(0);
  });

  test("server - a second server on a live socket is refused with a clear message", async () => {
    await using s = await startServer({ memory: true });
    const second = await clip(["serve", "--memory", "--socket", s.socket], { timeoutMs: 15_000 });
    expect(second.code).not.toBe(0);
    expect(second.stderr).toMatch(/clip: .*already running on/);
    // The first is untouched.
    expect(existsSync(s.socket)).toBe(true);
    expect((await s.run(["copy", "1"], { stdin: "still here" })).code).toBe(0);
  });

  test("server - a stale socket file (left by kill -9) is replaced", async () => {
    using d = tempDir();
    const dir = String(d);
    {
      await using s = await startServer({ dir, memory: true });
      await s.stop("SIGKILL");
      expect(existsSync(s.socket)).toBe(true);
      expect((await s.run(["paste", "1"])).code).toBe(3);
    }
    await using s = await startServer({ dir, memory: true });
    expect((await s.run(["copy", "1"], { stdin: "x" })).code).toBe(0);
    expect((await s.run(["paste", "1"])).text).toBe("x");
  });

  test("server - a --socket path holding a regular file is refused, and the file kept", async () => {
    using d = tempDir();
    const file = join(String(d), "notes.txt");
    writeFileSync(file, "precious");
    const res = await clip(["serve", "--memory", "--socket", file], { timeoutMs: 15_000 });
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/^clip: .*not a socket/m);
    expect(readFileSync(file, "utf8")).toBe("precious");
  });

  test("server - --listen adds a second unix socket that works like the first", async () => {
    using d = tempDir();
    const extra = join(String(d), "extra.sock");
    await using s = await startServer({ memory: true, args: ["--listen", `unix:${extra}`] });
    await waitFor(() => existsSync(extra), 5_000, "the extra socket");
    expect(mode(extra)).toBe(0o600);
    expect((await clip(["copy", "1", "--server", extra], { stdin: "two doors" })).code).toBe(0);
    expect((await s.run(["paste", "1"])).text).toBe("two doors");
    expect((await clip(["status", "--server", `unix:${extra}`])).code).toBe(0);
    await s.stop("SIGTERM");
    expect(existsSync(extra)).toBe(false);
  });

  test("server - a client waiting when the server is killed exits 3", async () => {
    await using s = await startServer({ memory: true });
    await using w = spawnClip(["wait", "1", "--server", `unix:${s.socket}`]);
    await waitFor(async () => (await s.run(["status", "--json"])).text.includes('"commands":2'), 10_000, "the waiting client to connect");
    await s.stop("SIGKILL");
    expect(await w.exited()).toBe(3);
    expect(w.stderr()).toMatch(/^clip: .*(lost|shutting down)/);
  });

  test("server - garbage on the socket does not hurt the server or its other clients", async () => {
    await using s = await startServer({ memory: true });
    const good = await connect({ server: s.socket });
    await good.copy(1, "before");
    const pending = good.wait(2);
    await good.list();
    const garbage = [
      new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
      Uint8Array.of(0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 0, 1, 0, 0), // claims 4 GiB
      Uint8Array.of(0, 0, 0, 20, 1, 1, 0, 0, 0, 1, 0, 5, 1, 2, 3), // truncated, then the peer leaves
      encodeFrame(FrameType.REQ, 1, { op: "copy", r: 1 }), // no hello first
      encodeFrame(FrameType.REQ, 1, { op: "nonsense" }),
      randomBytes(100_000, 3),
    ];
    for (const g of garbage) {
      // Each gets an answer (an ERR) or is dropped; a truncated frame just waits, so we leave.
      let answered = false;
      const sock = await Bun.connect({
        unix: s.socket,
        socket: {
          data() {
            answered = true;
          },
          close() {
            answered = true;
          },
        },
      });
      sock.write(g);
      if (g.length !== 15) await waitFor(() => answered, 5_000, "an answer to garbage");
      sock.end();
    }
    // Everyone else goes on.
    expect(new TextDecoder().decode(await good.paste(1))).toBe("before");
    await good.copy(2, "after");
    expect(new TextDecoder().decode((await pending).value)).toBe("after");
    expect((await s.run(["paste", "2"])).text).toBe("after");
    good.close();
  });

  test("server - hello with another protocol version is refused with VERSION", async () => {
    await using s = await startServer({ memory: true });
    const frames: Record<string, unknown>[] = [];
    const { FrameDecoder } = await import("../../src/protocol/frame.ts");
    const dec = new FrameDecoder();
    let closed = false;
    const sock = await Bun.connect({
      unix: s.socket,
      socket: {
        data(_s, chunk) {
          for (const f of dec.push(chunk)) frames.push({ type: f.type, ...f.meta });
        },
        close() {
          closed = true;
        },
      },
    });
    sock.write(encodeFrame(FrameType.REQ, 1, { op: "hello", v: 99, kind: "cli" }));
    await waitFor(() => closed, 5_000, "the server to close");
    expect(frames[0]).toMatchObject({ type: FrameType.ERR, code: "VERSION" });
  });
});

describe("server over TCP", () => {
  test("server - a TCP listener without a token refuses to start and says why", async () => {
    using d = tempDir();
    const res = await clip(["serve", "--memory", "--socket", join(String(d), "s.sock"), "--listen", "tcp:127.0.0.1:0"], {
      env: { CLIP_TOKEN: undefined },
      timeoutMs: 15_000,
    });
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/^clip: .*token/m);
    expect(res.stderr).not.toMatch(/\n\s+at /);
  });

  test("server - --insecure starts a TCP listener that clients use without a token", async () => {
    await using s = await startServer({ memory: true, args: ["--listen", "tcp:127.0.0.1:0", "--insecure"], env: { CLIP_TOKEN: "" } });
    const addr = tcpAddressOf(s);
    const env = { CLIP_TOKEN: undefined };
    expect((await clip(["copy", "1", "--server", addr], { stdin: "over tcp", env })).code).toBe(0);
    expect((await clip(["paste", "1", "--server", addr], { env })).text).toBe("over tcp");
  });

  test("server - a TCP client proves the token; a wrong or missing token is exit 4", async () => {
    using d = tempDir();
    const tokenFile = join(String(d), "token");
    writeFileSync(tokenFile, "s3cret-token\n");
    await using s = await startServer({ memory: true, args: ["--listen", "tcp:127.0.0.1:0", "--token-file", tokenFile] });
    const addr = tcpAddressOf(s);
    const none = { CLIP_TOKEN: undefined };
    // The right token, three ways.
    expect((await clip(["copy", "1", "--server", addr, "--token-file", tokenFile], { stdin: "tok", env: none })).code).toBe(0);
    expect((await clip(["paste", "1", "--server", addr], { env: { CLIP_TOKEN: "s3cret-token" } })).text).toBe("tok");
    const viaArgv = await clip(["paste", "1", "--server", addr, "--token", "s3cret-token"], { env: none });
    expect(viaArgv.text).toBe("tok");
    expect(viaArgv.stderr).toMatch(/warning: --token is visible/);
    const status = await clip(["status", "--json", "--server", addr, "--token-file", tokenFile], { env: none });
    expect(status.code).toBe(0);
    expect(JSON.parse(status.text).name).toBe("t");
    // Wrong token.
    const wrong = await clip(["paste", "1", "--server", addr, "--token", "nope"], { env: none });
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toMatch(/^clip: .*token/m);
    expect(wrong.stdout.length).toBe(0);
    // No token: status (an admin command) and the clipboard are both refused.
    const noTok = await clip(["status", "--server", addr], { env: none });
    expect(noTok.code).toBe(4);
    expect(noTok.stderr).toMatch(/token/);
    expect((await clip(["paste", "1", "--server", addr], { env: none })).code).toBe(4);
    // The unix socket needs no token, and may run admin commands.
    expect((await s.run(["status"], { env: none })).code).toBe(0);
    // The token never appears in the server's log.
    expect(s.stderr()).not.toContain("s3cret-token");
    expect(s.stderr()).not.toContain("nope");
  });

  test("server - the library proves the token over TCP and both sides check each other", async () => {
    await using s = await startServer({ memory: true, args: ["--listen", "tcp:127.0.0.1:0"], env: { CLIP_TOKEN: "lib-token" } });
    const addr = tcpAddressOf(s);
    expect(s.stderr()).not.toMatch(/warning/);
    const c = await connect({ server: addr, token: "lib-token" });
    expect(c.welcome.admin).toBe(true);
    await c.copy(3, "lib over tcp");
    expect(new TextDecoder().decode(await c.paste(3))).toBe("lib over tcp");
    expect((await c.status()).name).toBe("t");
    c.close();
    expect(await codeOf(connect({ server: addr, token: "wrong" }))).toBe("AUTH");
    expect(await codeOf(connect({ server: addr }))).toBe("AUTH");
  });

  test("server - --token on the server's command line works but warns", async () => {
    await using s = await startServer({ memory: true, args: ["--listen", "tcp:127.0.0.1:0", "--token", "argv-token"], env: { CLIP_TOKEN: "" } });
    expect(s.stderr()).toMatch(/warning: --token is visible/);
    const r = await clip(["paste", "1", "--server", tcpAddressOf(s)], { env: { CLIP_TOKEN: "argv-token" } });
    expect(r.code).toBe(0);
  });

  test.skipIf(!Bun.which("openssl"))("server - --tls-cert/--tls-key encrypt TCP; clients trust it with --tls-ca", async () => {
    using d = tempDir();
    const dir = String(d);
    const cert = (name: string, cn: string) => {
      const r = Bun.spawnSync(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
          "-keyout", join(dir, `${name}.key`), "-out", join(dir, `${name}.pem`), "-subj", `/CN=${cn}`, "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        { stdout: "ignore", stderr: "pipe" },
      );
      if (r.exitCode !== 0) throw new Error(`openssl failed: ${r.stderr}`);
      return join(dir, `${name}.pem`);
    };
    const ca = cert("srv", "localhost");
    const other = cert("other", "other");
    await using s = await startServer({
      memory: true,
      args: ["--listen", "tcp:127.0.0.1:0", "--tls-cert", ca, "--tls-key", join(dir, "srv.key")],
      env: { CLIP_TOKEN: "tls-token" },
    });
    const addr = tcpAddressOf(s);
    const env = { CLIP_TOKEN: "tls-token" };
    expect((await clip(["copy", "1", "--server", addr, "--tls-ca", ca], { stdin: "secret bytes", env })).code).toBe(0);
    expect((await clip(["paste", "1", "--server", addr, "--tls-ca", ca], { env })).text).toBe("secret bytes");
    // A certificate the client does not trust, or no TLS at all: no connection (exit 3).
    const untrusted = await clip(["paste", "1", "--server", addr, "--tls-ca", other], { env });
    expect(untrusted.code).toBe(3);
    expect(untrusted.stdout.length).toBe(0);
    expect((await clip(["paste", "1", "--server", addr], { env })).code).toBe(3);
  });

  test("server - token sources: --token-file, then CLIP_TOKEN, then --token", async () => {
    using d = tempDir();
    const good = join(String(d), "good");
    const bad = join(String(d), "bad");
    writeFileSync(good, "right\n");
    writeFileSync(bad, "wrong\n");
    await using s = await startServer({ memory: true, args: ["--listen", "tcp:127.0.0.1:0"], env: { CLIP_TOKEN: "right" } });
    const addr = tcpAddressOf(s);
    const paste = (args: string[], env: Record<string, string | undefined>) => clip(["paste", "1", "--server", addr, ...args], { env });
    expect((await paste(["--token-file", good], { CLIP_TOKEN: "wrong" })).code).toBe(0);
    expect((await paste(["--token-file", bad], { CLIP_TOKEN: "right" })).code).toBe(4);
    expect((await paste(["--token", "wrong"], { CLIP_TOKEN: "right" })).code).toBe(0);
    expect((await paste(["--token", "right"], { CLIP_TOKEN: "wrong" })).code).toBe(4);
    const missing = await paste(["--token-file", join(String(d), "none")], { CLIP_TOKEN: undefined });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`clip: cannot read the token file ${join(String(d), "none")}: no such file\n`);
  });

  test("server - listens on IPv6 loopback too", async () => {
    await using s = await startServer({ memory: true, args: ["--listen", "tcp:[::1]:0", "--insecure"] });
    const addr = tcpAddressOf(s);
    expect(addr).toMatch(/^tcp:\[::1\]:[0-9]+$/);
    expect((await clip(["copy", "1", "--server", addr], { stdin: "v6" })).code).toBe(0);
    expect((await clip(["paste", "1", "--server", addr])).text).toBe("v6");
  });

  test("server - a TCP port already taken is a one-line error, and the half-started server cleans up", async () => {
    await using s = await startServer({ memory: true, args: ["--listen", "tcp:127.0.0.1:0", "--insecure"] });
    using d = tempDir();
    const sock = join(String(d), "second.sock");
    const res = await clip(["serve", "--memory", "--socket", sock, "--listen", tcpAddressOf(s), "--insecure"], { timeoutMs: 15_000 });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^clip: cannot listen on tcp:127\.0\.0\.1:[0-9]+: .*in use/m);
    expect(existsSync(sock)).toBe(false);
    expect((await s.run(["copy", "1"], { stdin: "first" })).code).toBe(0);
  });

  test("server - a TCP address nobody listens on is exit 3", async () => {
    // Bind then release a port so that nothing listens there.
    const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = l.port;
    l.stop(true);
    const res = await clip(["paste", "1", "--server", `tcp:127.0.0.1:${port}`, "--token", "x"]);
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/^clip: no server at tcp:127\.0\.0\.1:/m);
  });
});

describe("server data folder", () => {
  test("server - an unusable --data folder is a one-line error, not a stack trace", async () => {
    using d = tempDir();
    const data = join(String(d), "data");
    mkdirSync(data);
    writeFileSync(join(data, "state.db"), "this is not sqlite".repeat(100));
    const res = await clip(["serve", "--socket", join(String(d), "s.sock"), "--data", data], { timeoutMs: 15_000 });
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/^clip: cannot read the data/m);
    expect(res.stderr).not.toMatch(/\n\s+at /);
  });
});
