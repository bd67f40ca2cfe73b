// Security checks as tests: who may connect, what a wrong token costs an
// attacker, and where the token must never show up (logs, ps, errors).

import { describe, expect, test } from "bun:test";
import { statSync, writeFileSync } from "node:fs";
import { RawConn, guessTokens, loggedTcpPort } from "../../bench/harness.ts";
import { clientProof, nonce } from "../../src/protocol/proof.ts";
import { FrameType, PROTOCOL_VERSION } from "../../src/protocol/frame.ts";
import { BIN, clip, startServer, tempDir, waitFor } from "../helpers/clip.ts";

const TOKEN = "s3cret-cluster-token-0123456789";

async function tokenServer(dir: string, extra: string[] = []) {
  writeFileSync(`${dir}/token`, TOKEN, { mode: 0o600 });
  writeFileSync(`${dir}/bad`, "not-the-token-9876543210", { mode: 0o600 });
  const srv = await startServer({ dir, memory: true, args: ["--listen", "tcp:127.0.0.1:0", "--token-file", `${dir}/token`, ...extra] });
  const port = loggedTcpPort(srv.stderr());
  return { srv, port, addr: `tcp:127.0.0.1:${port}` };
}

/** True once `path` exists and is a socket. */
function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

describe("security", () => {
  test("security - the default socket folder is 0700 and the socket 0600", async () => {
    using dir = tempDir("sec");
    const proc = Bun.spawn([BIN, "serve", "--memory"], { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: { ...process.env, CLIP_SOCKET: "", XDG_RUNTIME_DIR: String(dir) } });
    try {
      await waitFor(() => isSocket(`${dir}/clip/clip.sock`), 10_000, "the default socket");
      expect(statSync(`${dir}/clip`).mode & 0o777).toBe(0o700);
      expect(statSync(`${dir}/clip/clip.sock`).mode & 0o777).toBe(0o600);
    } finally {
      proc.kill(9);
      await proc.exited;
    }
  });

  test("security - a TCP listener without a token refuses to start and says why", async () => {
    using dir = tempDir("sec");
    const r = await clip(["serve", "--socket", `${dir}/s.sock`, "--memory", "--listen", "tcp:127.0.0.1:0"], { env: { CLIP_TOKEN: "" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^clip: .*token/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  test("security - over TCP, no token and a wrong token are refused with exit 4 and 'bad token'", async () => {
    using dir = tempDir("sec");
    const { srv, addr } = await tokenServer(String(dir));
    await using _ = srv;
    const none = await clip(["list", "-s", addr], { env: { CLIP_TOKEN: "" } });
    expect(none.code).toBe(4);
    const wrong = await clip(["list", "-s", addr, "--token-file", `${dir}/bad`], { env: { CLIP_TOKEN: "" } });
    expect(wrong.stderr).toMatch(/bad token/);
    expect(wrong.code).toBe(4);
    const right = await clip(["list", "-s", addr, "--token-file", `${dir}/token`], { env: { CLIP_TOKEN: "" } });
    expect(right.code).toBe(0);
  });

  test("security - admin commands over TCP need the proved token; before it nothing runs", async () => {
    using dir = tempDir("sec");
    const { srv, port, addr } = await tokenServer(String(dir));
    await using _ = srv;
    const st = await clip(["status", "-s", addr], { env: { CLIP_TOKEN: "" } });
    expect(st.code).toBe(4);
    // A raw peer that skips the proof gets AUTH for every op, admin or not.
    const c = await RawConn.open({ host: "127.0.0.1", port });
    try {
      const w = await c.call(1, { op: "hello", v: PROTOCOL_VERSION, kind: "lib" });
      expect(w?.meta.auth).toBe("token");
      for (const [i, op] of ["status", "list", "paste", "copy"].entries()) {
        const r = await c.call(10 + i, { op, r: 1 });
        expect(r?.type).toBe(FrameType.ERR);
        expect(r?.meta.code).toBe("AUTH");
      }
    } finally {
      c.end();
    }
    const ok = await clip(["status", "-s", addr, "--token-file", `${dir}/token`], { env: { CLIP_TOKEN: "" } });
    expect(ok.code).toBe(0);
  });

  test("security - one connection gets one token guess: pipelined proofs are not all checked", async () => {
    using dir = tempDir("sec");
    const { srv, port } = await tokenServer(String(dir));
    await using _ = srv;
    const c = await RawConn.open({ host: "127.0.0.1", port });
    try {
      const w = await c.call(1, { op: "hello", v: PROTOCOL_VERSION, kind: "lib" });
      const snonce = String(w?.meta.nonce);
      // 50 wrong guesses then the right one, all at once: an attacker who can
      // pipeline learns 51 answers for the price of one delay.
      const { encodeFrame } = await import("../../src/protocol/frame.ts");
      for (let i = 0; i < 50; i++) {
        const cn = nonce();
        c.write(encodeFrame(FrameType.REQ, 100 + i, { op: "auth", cnonce: cn, proof: clientProof(`guess${i}`, snonce, cn) }));
      }
      const cn = nonce();
      c.write(encodeFrame(FrameType.REQ, 200, { op: "auth", cnonce: cn, proof: clientProof(TOKEN, snonce, cn) }));
      await c.until(() => c.closed || !!c.reply(200), 10_000);
      expect(c.reply(200)?.type).not.toBe(FrameType.RES);
    } finally {
      c.end();
    }
  });

  test("security - wrong tokens are slowed for all sources together, however many connections guess", async () => {
    using dir = tempDir("sec");
    const { srv, port } = await tokenServer(String(dir));
    await using _ = srv;
    // 200 connections guessing for 6 s. Only an upper bound is checked: a
    // slower machine can only lower the rate.
    const r = await guessTokens({ host: "127.0.0.1", port }, 200, 6000);
    expect(r.answered).toBeLessThanOrEqual(6 * 10 + 20);
    // A client with the right token gets in once the line has drained (it may be told BUSY just after the attack).
    await waitFor(async () => (await clip(["list", "-s", `tcp:127.0.0.1:${port}`, "--token-file", `${dir}/token`], { env: { CLIP_TOKEN: "" } })).code === 0, 20_000, "the right token to get in");
  }, 40_000);

  test("security - the token never appears in logs, ps or error messages; --token warns", async () => {
    using dir = tempDir("sec");
    const { srv, addr } = await tokenServer(String(dir));
    await using _ = srv;
    const bad = await clip(["status", "-s", addr, "--token-file", `${dir}/bad`], { env: { CLIP_TOKEN: "" } });
    const good = await clip(["status", "-s", addr], { env: { CLIP_TOKEN: TOKEN } });
    expect(good.code).toBe(0);
    const ps = Bun.spawnSync(["ps", "-o", "args=", "-p", String(srv.pid)]).stdout.toString();
    expect(ps).toContain("serve");
    for (const text of [srv.stderr(), bad.stderr, bad.text, good.stderr, good.text, ps]) {
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain("not-the-token-9876543210");
    }
    // argv is readable by every user: --token works but warns, on both sides.
    const argv = await clip(["list", "-s", addr, "--token", TOKEN], { env: { CLIP_TOKEN: "" } });
    expect(argv.code).toBe(0);
    expect(argv.stderr).toMatch(/warning: --token is visible/);
    expect(argv.stderr).not.toContain(TOKEN);
  });

  test("security - a client of group A cannot read, write, list or watch group B's keys", async () => {
    await using srv = await startServer({ memory: true });
    const { connect } = await import("../../src/index.ts");
    const admin = await connect({ server: `unix:${srv.socket}` });
    const secretA = await admin.groups.create("ga");
    const secretB = await admin.groups.create("gb");
    await (await admin.kv({ group: "gb", secret: secretB })).put("private", "b's value");
    admin.close();
    // The wrong secret, and A's secret for B, are one and the same refusal.
    const wrong = await srv.run(["kv", "get", "private", "-g", "gb"], { env: { CLIP_SECRET: secretA } });
    expect(wrong.code).toBe(4);
    expect(wrong.text).toBe("");
    // A connection that proved A asks for B by name on every kv op.
    const c = await RawConn.open({ unix: srv.socket });
    try {
      expect(await c.handshake()).toBe(true);
      expect((await c.call(2, { op: "kv.auth", group: "ga", secret: secretA }))?.type).toBe(FrameType.RES);
      const { encodeFrame } = await import("../../src/protocol/frame.ts");
      c.write(encodeFrame(FrameType.REQ, 3, { op: "kv.put", group: "gb", key: "private", size: 1 }, new Uint8Array([120])));
      for (const [id, op] of [[4, "kv.get"], [5, "kv.del"], [6, "kv.list"], [7, "kv.watch"]] as const) c.write(encodeFrame(FrameType.REQ, id, { op, group: "gb", key: "private", prefix: "" }));
      await c.until(() => [3, 4, 5, 6, 7].every((id) => !!c.reply(id)), 5000);
      for (const id of [3, 4, 5, 6, 7]) {
        expect(c.reply(id)?.type).toBe(FrameType.ERR);
        expect(c.reply(id)?.meta.code).toBe("AUTH");
      }
      expect(c.frames.some((f) => f.type === FrameType.EVT)).toBe(false);
    } finally {
      c.end();
    }
    const still = await srv.run(["kv", "get", "private", "-g", "gb"], { env: { CLIP_SECRET: secretB } });
    expect(still.text).toBe("b's value");
  });

  test("security - a group secret on argv works but warns (ps shows argv); the env way is silent", async () => {
    await using srv = await startServer({ memory: true });
    const secret = (await srv.run(["group", "create", "gw"])).text.trim();
    expect(secret.length).toBeGreaterThan(20);
    const argv = await srv.run(["kv", "put", "-g", "gw", "--secret", secret, "k", "v"], { env: { CLIP_SECRET: "" } });
    expect(argv.code).toBe(0);
    expect(argv.stderr).toMatch(/^clip: warning: --secret is visible to other users/);
    expect(argv.stderr).not.toContain(secret);
    const env = await srv.run(["kv", "get", "-g", "gw", "k"], { env: { CLIP_SECRET: secret } });
    expect(env.text).toBe("v");
    expect(env.stderr).toBe("");
    const wrong = await srv.run(["kv", "get", "-g", "gw", "k"], { env: { CLIP_SECRET: `${secret}x` } });
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).not.toContain(secret);
    expect(srv.stderr()).not.toContain(secret);
  });

  test("security - a default socket folder made by someone else is refused; one of ours left open is closed to 0700", async () => {
    using dir = tempDir("sec");
    const { chownSync, chmodSync, mkdirSync } = await import("node:fs");
    const env = { CLIP_SOCKET: "", XDG_RUNTIME_DIR: String(dir) };
    // Another user got there first (a shared /tmp/clip-UID): they could swap the socket.
    mkdirSync(`${dir}/clip`, { mode: 0o777 });
    chmodSync(`${dir}/clip`, 0o777);
    if (process.getuid?.() === 0) {
      chownSync(`${dir}/clip`, 4242, 4242);
      const r = await clip(["serve", "--memory"], { env, timeoutMs: 10_000 });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(new RegExp(`^clip: the socket folder ${dir}/clip belongs to another user`));
      chownSync(`${dir}/clip`, 0, 0);
    }
    // Ours, but open to everyone: tightened before the socket appears.
    const proc = Bun.spawn([BIN, "serve", "--memory"], { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: { ...process.env, ...env } });
    try {
      await waitFor(() => isSocket(`${dir}/clip/clip.sock`), 10_000, "the default socket");
      expect(statSync(`${dir}/clip`).mode & 0o777).toBe(0o700);
    } finally {
      proc.kill(9);
      await proc.exited;
    }
  });

  test("security - keys written by another app cannot drive the terminal through kv list (control characters shown escaped)", async () => {
    await using srv = await startServer({ memory: true });
    const secret = (await srv.run(["group", "create", "gt"])).text.trim();
    const env = { CLIP_SECRET: secret, CLIP_GROUP: "gt" };
    const key = "\x1b]0;pwned\x07\x1b[2Jk\ttab";
    expect((await srv.run(["kv", "put", key, "v"], { env })).code).toBe(0);
    const r = await srv.run(["kv", "list"], { env });
    expect(r.code).toBe(0);
    expect(r.text).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    expect(r.text).toContain("\\x1b]0;pwned\\x07\\x1b[2Jk\\ttab");
    // The data itself is still exact: get prints the value, --json keeps the key.
    const j = await srv.run(["kv", "list", "--json"], { env });
    expect(j.text).toContain(JSON.stringify(key).slice(1, -1));
  });
});
