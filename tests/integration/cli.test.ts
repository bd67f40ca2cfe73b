// SPEC "Exit codes and errors" and the CLI's surface: usage errors are exit 2,
// every error is one `clip: ` line on stderr, data goes to stdout only.

import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { clip, startServer, tempDir } from "../helpers/clip.ts";

/** One line, `clip: ` first, no stack trace. */
function oneLine(stderr: string): void {
  expect(stderr).toMatch(/^clip: [^\n]+\n$/);
  expect(stderr).not.toMatch(/\n\s+at \S/);
}

describe("cli", () => {
  test("cli - unknown flags, unknown commands and missing arguments exit 2", async () => {
    using d = tempDir();
    const env = { CLIP_SERVER: join(String(d), "none.sock") };
    for (const args of [
      ["paste", "3", "--bogus"],
      ["copy", "3", "--frobnicate=1"],
      ["list", "-x"],
      ["frobnicate"],
      ["paste"],
      ["wait"],
    ]) {
      const r = await clip(args, { env });
      expect(r.code, args.join(" ")).toBe(2);
      oneLine(r.stderr);
      expect(r.stdout.length).toBe(0);
    }
  });

  test("cli - serve refuses bad flags with exit 2 and one line, listening on nothing", async () => {
    using d = tempDir();
    const sock = join(String(d), "s.sock");
    for (const args of [["--bogus"], ["--max-size", "lots"], ["--listen", "nonsense"], ["--listen", "tcp:127.0.0.1:70000", "--insecure"]]) {
      const r = await clip(["serve", "--memory", "--socket", sock, ...args], { timeoutMs: 15_000 });
      expect(r.code, args.join(" ")).toBe(2);
      oneLine(r.stderr);
    }
    expect(existsSync(sock)).toBe(false);
  });

  test("cli - bad addresses are exit 2, before connecting", async () => {
    for (const addr of ["nonsense", "tcp:host", "host:99999", "tcp:[::1]"]) {
      const r = await clip(["paste", "1", "--server", addr]);
      expect(r.code, addr).toBe(2);
      oneLine(r.stderr);
      expect(r.stderr).toContain("bad address");
    }
    const env = await clip(["list"], { env: { CLIP_SERVER: "nonsense" } });
    expect(env.code).toBe(2);
  });

  test("cli - no server is exit 3 with a hint, for every client command", async () => {
    using d = tempDir();
    const env = { CLIP_SERVER: `unix:${join(String(d), "none.sock")}` };
    for (const args of [["paste", "1"], ["copy", "1"], ["wait", "1"], ["list"], ["status"]]) {
      const r = await clip(args, { env, stdin: "x" });
      expect(r.code, args.join(" ")).toBe(3);
      oneLine(r.stderr);
      expect(r.stderr).toContain("clip serve");
    }
  });

  test("cli - -s and --server and CLIP_SERVER all name the server; the flag wins", async () => {
    await using s = await startServer({ memory: true });
    using d = tempDir();
    const dead = join(String(d), "dead.sock");
    expect((await clip(["copy", "1", "-s", s.socket], { stdin: "short flag" })).code).toBe(0);
    expect((await clip(["paste", "1"], { env: { CLIP_SERVER: s.socket } })).text).toBe("short flag");
    expect((await clip(["paste", "1", "--server", `unix:${s.socket}`], { env: { CLIP_SERVER: dead } })).text).toBe("short flag");
  });

  test("cli - --version and --help; every command's help has an example", async () => {
    const v = await clip(["--version"]);
    expect(v.code).toBe(0);
    expect(v.text).toMatch(/[0-9]+\.[0-9]+\.[0-9]+/);
    const h = await clip(["--help"]);
    expect(h.code).toBe(0);
    for (const cmd of ["serve", "copy", "paste", "wait", "list", "status"]) {
      expect(h.text).toContain(cmd);
      const ch = await clip([cmd, "--help"]);
      expect(ch.code, cmd).toBe(0);
      expect(ch.text, cmd).toMatch(/Examples?:/);
    }
  });

  test("cli - output has no colour when NO_COLOR is set or stdout is not a terminal", async () => {
    await using s = await startServer({ memory: true });
    await s.run(["copy", "1"], { stdin: "x" });
    for (const env of [{ NO_COLOR: "1" }, { NO_COLOR: undefined, FORCE_COLOR: undefined }]) {
      for (const args of [["list"], ["status"], ["--help"]]) {
        const r = await s.run(args, { env });
        expect(r.code).toBe(0);
        expect(r.text).not.toContain("\x1b[");
        expect(r.stderr).not.toContain("\x1b[");
      }
    }
    expect(s.stderr()).not.toContain("\x1b[");
  });

  test.skipIf(!Bun.which("script"))("cli - on a terminal: progress for large transfers, colour unless NO_COLOR", async () => {
    await using s = await startServer({ memory: true });
    await s.run(["copy", "1"], { stdin: new Uint8Array(12 << 20) });
    // script(1) gives the command a terminal; its output is what the terminal saw.
    const onTty = async (cmd: string, env: Record<string, string | undefined> = {}) => {
      const p = Bun.spawn(["script", "-qec", cmd, "/dev/null"], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, TERM: "xterm", ...env } });
      const out = await new Response(p.stdout).text();
      expect(await p.exited).toBe(0);
      return out;
    };
    const bin = (await import("../helpers/clip.ts")).BIN;
    const paste = await onTty(`'${bin}' paste 1 --server 'unix:${s.socket}' > /dev/null`, { NO_COLOR: undefined });
    expect(paste).toMatch(/paste 1: .*100%/);
    const list = await onTty(`'${bin}' list --server 'unix:${s.socket}'`, { NO_COLOR: undefined });
    expect(list).toContain("\x1b[1m");
    const plain = await onTty(`'${bin}' list --server 'unix:${s.socket}'`, { NO_COLOR: "1" });
    expect(plain).toMatch(/REGION/);
    expect(plain).not.toContain("\x1b[1m");
    // Not a terminal: no progress at all.
    expect((await s.run(["paste", "1"])).stderr).toBe("");
  });

  test("cli - status over the unix socket reports this server", async () => {
    await using s = await startServer({ name: "box-1" });
    await s.run(["copy", "2"], { stdin: "a" });
    const j = JSON.parse((await s.run(["status", "--json"])).text);
    expect(j).toMatchObject({ name: "box-1", role: "root", regions: 1, persistent: true });
    expect(typeof j.id).toBe("string");
    expect(j.rev).toBeGreaterThanOrEqual(1);
    const t = await s.run(["status"]);
    expect(t.text).toMatch(/name\s+box-1/);
  });

  test("cli - a closed stdout does not produce an error message", async () => {
    await using s = await startServer({ memory: true });
    const big = new Uint8Array(8 << 20);
    await s.run(["copy", "1"], { stdin: big });
    const proc = Bun.spawn(["sh", "-c", `"$0" paste 1 --server "unix:$1" | head -c 10 >/dev/null`, (await import("../helpers/clip.ts")).BIN, s.socket], {
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1" },
    });
    const err = await new Response(proc.stderr).text();
    await proc.exited;
    expect(err).not.toMatch(/\n\s+at \S/);
    expect(err.split("\n").filter(Boolean).length).toBeLessThanOrEqual(1);
  });
});
