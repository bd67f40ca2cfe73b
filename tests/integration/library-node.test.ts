// The library as a Node 20+ user gets it: `npm run build:lib` makes dist/lib
// (ESM and declarations), a consumer folder has node_modules/clip linked to
// this checkout, and `node` runs tests/helpers/node-client.mjs there against
// real servers (unix socket, loopback TCP with a token, TLS). Node is
// required, never skipped: CI has it (npm needs it).

import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type RunOptions, type ServerHandle, clip, randomBytes, sameBytes, startServer, tcpAddressOf, tempDir, waitFor } from "../helpers/clip.ts";

const ROOT = resolve(import.meta.dir, "../..");
const SCRIPT = join(ROOT, "tests/helpers/node-client.mjs");
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Node's path; fails (never skips) when there is none or it is older than 20. */
function node(): string {
  const path = Bun.which("node");
  if (!path) throw new Error("node is not on PATH: the library's Node tests need Node 20+ (CI has it: npm needs it)");
  const v = Bun.spawnSync([path, "--version"]).stdout.toString().trim();
  if (Number(/^v(\d+)/.exec(v)?.[1] ?? 0) < 20) throw new Error(`node ${v} is older than the library's Node 20`);
  return path;
}

let building: Promise<void> | null = null;
/** dist/lib from this checkout's source, once per run, with the package's own script. */
function buildLib(): Promise<void> {
  building ??= (async () => {
    const npm = Bun.which("npm");
    if (!npm) throw new Error("npm is not on PATH: dist/lib is built by `npm run build:lib`");
    const p = Bun.spawn([npm, "run", "--silent", "build:lib"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (code !== 0) throw new Error(`npm run build:lib failed (${code}):\n${out}\n${err}`);
  })();
  return building;
}

/** A folder laid out as a user's project: package.json and node_modules/clip → this checkout. */
function consumer(dir: string): void {
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  mkdirSync(join(dir, "node_modules/@types"), { recursive: true });
  symlinkSync(ROOT, join(dir, "node_modules/clip"));
  symlinkSync(join(ROOT, "node_modules/@types/node"), join(dir, "node_modules/@types/node"));
  copyFileSync(SCRIPT, join(dir, "client.mjs"));
}

interface Seen {
  runtime: string;
  resolved: string;
  server: string;
  copy3: { rev: number; size: number };
  copy7: { rev: number; size: number };
  paste4: { size: number; sha: string };
  wait: { text: string; rev: number; writtenRev: number };
  follow: { seen: { region: number; rev: number; size: number; sha: string }[]; revs: number[] };
  sealed: { opened: string; size: number; keyId: string; serverSays: string | null };
  kv: { events: { event: string; key: string; size: number | null; sha: string | null }[]; get: string; text: string };
}

/**
 * Runs the client script under `runtime` against `address` and checks what
 * it saw against what this side wrote and reads back through dist/clip.
 */
async function scenario(s: ServerHandle, address: string, runtime: string[], env: Record<string, string> = {}): Promise<Seen> {
  using d = tempDir("nl");
  const dir = String(d);
  consumer(dir);
  const big = randomBytes((8 << 20) + 3, 7); // past the socket buffers and the queue's 4 MiB low-water mark
  writeFileSync(join(dir, "big.bin"), big);
  const four = randomBytes((2 << 20) + 1, 11);
  expect((await s.run(["copy", "4"], { stdin: four, env })).code).toBe(0);
  const made = await s.run(["group", "create", "team"], { env });
  expect(made.code).toBe(0);
  const secret = made.text.trim();

  const p = Bun.spawn([...runtime, join(dir, "client.mjs"), address, dir], {
    cwd: dir,
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH, HOME: process.env.HOME, CLIP_SECRET: secret, ...env },
  });
  const timer = setTimeout(() => p.kill(9), 45_000);
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  // Exit 0 on its own, with nothing on stderr: no error, no warning, no handle left open (a kill is 137).
  expect({ code, err }).toEqual({ code: 0, err: "" });
  const seen = JSON.parse(out) as Seen;

  expect(seen.copy3.size).toBe(big.length);
  const pasted = await s.run(["paste", "3"], { env });
  expect(sameBytes(pasted.stdout, big)).toBe(true);
  expect(seen.copy7.size).toBe(big.length);
  expect(sameBytes((await s.run(["paste", "7"], { env })).stdout, big)).toBe(true);
  expect(seen.paste4).toEqual({ size: four.length, sha: sha(four) });
  expect(sameBytes(readFileSync(join(dir, "out4.bin")), four)).toBe(true);

  expect(seen.wait.text).toBe("wake up");
  expect(seen.wait.rev).toBe(seen.wait.writtenRev);

  const part = big.subarray(0, 1_500_001);
  expect(seen.follow.seen).toEqual([
    { region: 6, rev: seen.follow.revs[0], size: 3, sha: sha(new TextEncoder().encode("one")) },
    { region: 6, rev: seen.follow.revs[1], size: part.length, sha: sha(part) },
    { region: 6, rev: seen.follow.revs[2], size: 5, sha: sha(new TextEncoder().encode("three")) },
  ]);

  expect(seen.kv.events).toEqual([
    { event: "put", key: "job/1", size: 5, sha: sha(new TextEncoder().encode("first")) },
    { event: "put", key: "job/2", size: part.length, sha: sha(part) },
    { event: "del", key: "job/1", size: null, sha: null },
  ]);
  expect(seen.sealed).toEqual({ opened: sha(part), size: part.length, keyId: expect.stringMatching(/^[0-9a-f]{16}$/), serverSays: seen.sealed.keyId });
  expect((await s.run(["paste", "9"], { env })).code).not.toBe(0); // no key here: the CLI cannot open it
  expect(seen.kv.get).toBe(sha(part));
  expect(seen.kv.text).toBe("NOTFOUND");
  const got = await s.run(["kv", "get", "job/2", "-g", "team"], { env: { ...env, CLIP_SECRET: secret } });
  expect(sameBytes(got.stdout, part)).toBe(true);
  return seen;
}

describe("library under Node", () => {
  test("library-node - unix socket: values over 1 MiB each way (bytes and a file), wait, follow, kv watch, encryption; dist/lib through the exports", async () => {
    const nodePath = node();
    await buildLib();
    await using s = await startServer({ memory: true });
    const seen = await scenario(s, `unix:${s.socket}`, [nodePath]);
    expect(seen.runtime).toStartWith("node v");
    expect(seen.resolved).toBe(`file://${ROOT}/dist/lib/index.js`);
    // The in-process server stands on Bun: Node is told so by the exports map.
    expect(seen.server).toBe("ERR_PACKAGE_PATH_NOT_EXPORTED");
  });

  test("library-node - loopback TCP (port 0) with a cluster token", async () => {
    const nodePath = node();
    await buildLib();
    const env = { CLIP_TOKEN: "node-lib-token" };
    await using s = await startServer({ memory: true, args: ["--listen", "tcp:127.0.0.1:0"], env });
    await scenario(s, tcpAddressOf(s), [nodePath], env);
  });

  test("library-node - failures come as ClipError in our words: no server, a wrong token, a server that went away", async () => {
    const nodePath = node();
    await buildLib();
    const env = { CLIP_TOKEN: "node-lib-token" };
    await using s = await startServer({ memory: true, args: ["--listen", "tcp:127.0.0.1:0"], env });
    using d = tempDir("ne");
    const dir = String(d);
    consumer(dir);
    writeFileSync(
      join(dir, "errors.mjs"),
      `import { ClipError, connect } from "clip";
const [tcp, sock] = process.argv.slice(2);
const said = (e) => (e instanceof ClipError ? e.code + ": " + e.message : "not a ClipError: " + e);
console.log(await connect({ server: "unix:" + sock + ".none" }).then(() => "connected", said));
console.log(await connect({ server: tcp, token: "wrong" }).then((c) => c.list()).then(() => "listed", said));
const c = await connect({ server: tcp, token: "node-lib-token" });
await c.copy(1, "before");
console.log("ready");
process.stdin.once("data", async () => {
  console.log(await c.paste(1).then(() => "pasted", said));
  c.close();
});
`,
    );
    const p = Bun.spawn([nodePath, join(dir, "errors.mjs"), tcpAddressOf(s), s.socket], { cwd: dir, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    const timer = setTimeout(() => p.kill(9), 30_000);
    let text = "";
    const reader = (async () => {
      for await (const chunk of p.stdout) text += new TextDecoder().decode(chunk);
    })();
    await waitFor(() => text.includes("ready"), 20_000, "the script's connection");
    // The server goes away under an open connection: the next request fails as LOST, not a hang or a crash.
    await s.stop("SIGKILL");
    p.stdin.write("go\n");
    p.stdin.end();
    const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text(), reader]);
    clearTimeout(timer);
    expect({ code, err }).toEqual({ code: 0, err: "" });
    const lines = text.trim().split("\n");
    expect(lines[0]).toBe(`NOSERVER: no server at unix:${s.socket}.none (is \`clip serve\` running? start one, or pass --server)`);
    expect(lines[1]).toStartWith("AUTH: ");
    expect(lines[2]).toBe("ready");
    expect(lines[3]).toStartWith("LOST: ");
  });

  test.skipIf(!Bun.which("openssl"))("library-node - TLS over loopback TCP, trusting the server's certificate by its CA file", async () => {
    const nodePath = node();
    await buildLib();
    using d = tempDir("nt");
    const dir = String(d);
    const r = Bun.spawnSync(
      ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
        "-keyout", join(dir, "srv.key"), "-out", join(dir, "srv.pem"), "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
      { stdout: "ignore", stderr: "pipe" },
    );
    if (r.exitCode !== 0) throw new Error(`openssl failed: ${r.stderr}`);
    const other = Bun.spawnSync(
      ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
        "-keyout", join(dir, "other.key"), "-out", join(dir, "other.pem"), "-subj", "/CN=other"],
      { stdout: "ignore", stderr: "pipe" },
    );
    if (other.exitCode !== 0) throw new Error(`openssl failed: ${other.stderr}`);
    const env = { CLIP_TOKEN: "node-tls-token" };
    await using s = await startServer({ memory: true, args: ["--listen", "tcp:127.0.0.1:0", "--tls-cert", join(dir, "srv.pem"), "--tls-key", join(dir, "srv.key")], env });
    const run = (a: string[], o: RunOptions = {}) => clip([...a, "--server", tcpAddressOf(s), "--tls-ca", join(dir, "srv.pem")], { ...o, env: { ...env, ...o.env } });
    // dist/clip talks TLS to this server; the Node client must too, or every step below fails.
    await scenario({ ...s, run }, tcpAddressOf(s), [nodePath], { ...env, CLIP_TLS_CA: join(dir, "srv.pem") });
    // A certificate the client does not trust: no connection, said as NOSERVER (exit 3 in the CLI).
    consumer(dir);
    writeFileSync(join(dir, "untrusted.mjs"), `import { connect } from "clip";\nawait connect({ server: process.argv[2], token: "node-tls-token", tls: { ca: process.argv[3] } }).then((c) => c.list()).then(() => console.log("connected"), (e) => console.log(e.code));\n`);
    const p = Bun.spawnSync([nodePath, join(dir, "untrusted.mjs"), tcpAddressOf(s), join(dir, "other.pem")], { cwd: dir, stdout: "pipe", stderr: "pipe", timeout: 30_000 });
    expect({ out: p.stdout.toString().trim(), code: p.exitCode }).toEqual({ out: "NOSERVER", code: 0 });
  });

  test("library-node - Bun resolves the same package to its source (the exports' bun condition)", async () => {
    await using s = await startServer({ memory: true });
    const seen = await scenario(s, `unix:${s.socket}`, [process.execPath]);
    expect(seen.runtime).toBe("bun");
    expect(seen.resolved).toBe(`file://${ROOT}/src/index.ts`);
    expect(seen.server).toBe("startServer");
  });

  test("library-node - the declarations type-check a Node consumer (strict, nodenext, no skipLibCheck)", async () => {
    node();
    await buildLib();
    using d = tempDir("nd");
    const dir = String(d);
    consumer(dir);
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { module: "nodenext", moduleResolution: "nodenext", target: "es2022", strict: true, noEmit: true, skipLibCheck: false, types: ["node"] }, files: ["use.ts"] }),
    );
    writeFileSync(
      join(dir, "use.ts"),
      `import { ClipError, connect, type Clip, type KvEvent, type Written } from "clip";
const c = await connect({ server: "unix:/tmp/none.sock", tls: { ca: "ca.pem" } });
const w: Written = await c.copy(3, "hello", { type: "text/plain", ttl: 1000 });
const bytes: Uint8Array = await c.paste(3, { back: 1 });
const clip: Clip | null = await c.read(3);
for await (const r of c.follow(3, { since: w.rev })) console.log(r.region, r.rev, r.value.length);
const kv = await c.kv({ group: "team", secret: "s" });
for await (const e of kv.watch({ prefix: "job/" })) { const ev: KvEvent = e; console.log(ev.event, ev.key); }
try { await c.paste(9); } catch (e) { if (e instanceof ClipError) console.log(e.code satisfies string); }
// @ts-expect-error: a region is a number
await c.paste("three");
// @ts-expect-error: a copy's options are checked
await c.copy(3, "x", { ttl: "soon" });
console.log(bytes, clip);
c.close();
`,
    );
    // The @ts-expect-error lines fail the check if the types were missing (any): it reads ours.
    const p = Bun.spawnSync([join(ROOT, "node_modules/.bin/tsc"), "-p", dir], { cwd: dir, stdout: "pipe", stderr: "pipe", timeout: 50_000 });
    expect({ code: p.exitCode, out: p.stdout.toString() }).toEqual({ code: 0, out: "" });
  });
});
