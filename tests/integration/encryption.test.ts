// SPEC "End-to-end encryption" through the compiled binary and the library
// against a real server: clip keygen; copy/kv put --encrypt (and
// CLIP_ENCRYPT) and every reading command opening sealed values with the
// key; without it, with another, or tampered with (a flipped byte, cut
// short, chunks swapped, moved to another region or key, an unknown format
// version): nothing but verified chunks on stdout, exit 4 (1 for the
// version), SPEC's line; bad key files refused in one line; servers listing
// "encrypted" and never a preview; --max-size leaving room for the sealing.

import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Client, ClipError, collect, connect, Key } from "../../src/index.ts";
import { DEFAULT_CHUNK, SEAL_HEADER_BYTES, TAG_BYTES, sealedLength } from "../../src/crypto/seal.ts";
import { type RunOptions, clip, randomBytes, sameBytes, spawnClip, startServer, tempDir, waitFor } from "../helpers/clip.ts";

const MiB = 1 << 20;
const REC = DEFAULT_CHUNK + TAG_BYTES;
const enc = (s: string) => new TextEncoder().encode(s);

/** A machine's key setup: XDG_CONFIG_HOME in a temp folder, so the default key file is there; nothing from the test's own environment. */
function machine(dir: string, name: string) {
  const config = join(dir, name);
  const env = { XDG_CONFIG_HOME: config, CLIP_KEY_FILE: "", CLIP_ENCRYPT: "" };
  return { config, keyFile: join(config, "clip", "key"), env, opts: (o: RunOptions = {}): RunOptions => ({ ...o, env: { ...env, ...o.env } }) };
}

/** A server, a library client on it, and two machines' key folders (A has a key, B will too, C never). */
async function setup(args: string[] = []) {
  const s = await startServer({ args });
  const d = tempDir("ce");
  const a = machine(String(d), "a");
  const b = machine(String(d), "b");
  const c = machine(String(d), "c");
  const gen = await clip(["keygen"], a.opts());
  expect(gen.code).toBe(0);
  const raw = await connect({ server: s.socket });
  return {
    s,
    a,
    b,
    c,
    id: gen.text.trim(),
    raw,
    /** The stored bytes of a region, as the server holds them (the library's protocol call: nothing opened). */
    async stored(r: number): Promise<{ meta: Record<string, unknown>; bytes: Uint8Array }> {
      const m = await raw.request("paste", { r });
      const bytes = await collect(m.body, m.meta.size as number);
      m.done();
      return { meta: m.meta, bytes };
    },
    /** Writes bytes as they are (a plain upload: how a server or an attacker would put back a changed value). */
    async put(r: number, bytes: Uint8Array): Promise<void> {
      await raw.upload("copy", { r }, bytes);
    },
    async [Symbol.asyncDispose]() {
      raw.close();
      await s[Symbol.asyncDispose]();
      d[Symbol.dispose]();
    },
  };
}

function expectRefused(r: { code: number; stdout: Uint8Array; stderr: string }, line: string | RegExp, code = 4): void {
  expect(r.stdout.length).toBe(0);
  if (typeof line === "string") expect(r.stderr).toBe(`clip: ${line}\n`);
  else expect(r.stderr).toMatch(line);
  expect(r.stderr.trim().split("\n").length).toBe(1);
  expect(r.code).toBe(code);
}

describe("encryption - keygen", () => {
  test("encryption - keygen prints the key id alone, writes the key 0600 in a 0700 folder, never overwrites without --force", async () => {
    await using s = await startServer({ memory: true });
    using d = tempDir();
    const m = machine(String(d), "cfg");
    const g = await clip(["keygen"], m.opts());
    expect(g.code).toBe(0);
    expect(g.stderr).toBe("");
    expect(g.text).toMatch(/^[0-9a-f]{16}\n$/);
    const id = g.text.trim();
    expect(statSync(m.keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(m.config, "clip")).mode & 0o777).toBe(0o700);
    expect(statSync(m.config).mode & 0o777).toBe(0o700);
    const line = readFileSync(m.keyFile, "utf8");
    expect(line).toMatch(/^clip-key-1 [A-Za-z0-9+/]{43}=\n$/);
    expect(line).not.toContain(id);

    const again = await clip(["keygen"], m.opts());
    expect(again.code).toBe(1);
    expect(again.stdout.length).toBe(0);
    expect(again.stderr).toBe(`clip: ${m.keyFile} exists already: it is not replaced (clip keygen --force replaces it, and values sealed with it can no longer be opened)\n`);
    expect(readFileSync(m.keyFile, "utf8")).toBe(line);

    const forced = await clip(["keygen", "--force"], m.opts());
    expect(forced.code).toBe(0);
    expect(forced.text.trim()).not.toBe(id);
    expect(readFileSync(m.keyFile, "utf8")).not.toBe(line);

    // A FILE of its own, and CLIP_KEY_FILE: where the other commands will look.
    const own = join(String(d), "sub", "k");
    const o = await clip(["keygen", own], m.opts());
    expect(o.code).toBe(0);
    expect(statSync(own).mode & 0o777).toBe(0o600);
    const viaEnv = join(String(d), "env.key");
    const e = await clip(["keygen"], m.opts({ env: { CLIP_KEY_FILE: viaEnv } }));
    expect(e.code).toBe(0);
    expect(statSync(viaEnv).mode & 0o777).toBe(0o600);
    expect(await s.run(["copy", "1", "--encrypt"], m.opts({ stdin: "via env", env: { CLIP_KEY_FILE: viaEnv } }))).toMatchObject({ code: 0 });
    expect((await s.run(["paste", "1", "--key-file", viaEnv], m.opts())).text).toBe("via env");
  });
});

describe("encryption - round trips", () => {
  test("encryption - text, stdin, a 100 MiB binary file: sealed on the wire and on the server, opened by paste on another machine with the key", async () => {
    await using t = await setup();
    using d = tempDir();
    // Machine B gets A's key file, as the README says (a copy of the file).
    mkdirSync(join(t.b.config, "clip"), { recursive: true, mode: 0o700 });
    writeFileSync(t.b.keyFile, readFileSync(t.a.keyFile), { mode: 0o600 });

    const text = "the quarterly numbers, before anyone else\n";
    expect((await t.s.run(["copy", "1", "--encrypt"], t.a.opts({ stdin: text }))).code).toBe(0);
    const st = await t.stored(1);
    expect(st.bytes.length).toBe(sealedLength(enc(text).length));
    expect(Buffer.from(st.bytes).includes(Buffer.from("quarterly"))).toBe(false);
    expect(st.meta.encrypted).toBe(t.id);
    const p = await t.s.run(["paste", "1"], t.b.opts());
    expect(p.stderr).toBe("");
    expect(p.code).toBe(0);
    expect(p.text).toBe(text);

    // CLIP_ENCRYPT=1 does what --encrypt does; the shell's copy takes --encrypt.
    expect((await t.s.run(["copy", "2"], t.a.opts({ stdin: "by env", env: { CLIP_ENCRYPT: "1" } }))).code).toBe(0);
    expect((await t.stored(2)).meta.encrypted).toBe(t.id);
    const sh = await t.s.run(["shell"], t.a.opts({ stdin: "copy 3 --encrypt from the shell\npaste 3\n" }));
    expect(sh.code).toBe(0);
    expect(sh.text).toBe("from the shell\n");
    expect((await t.stored(3)).meta.encrypted).toBe(t.id);

    // 100 MiB of binary from a FILE (size announced) and from a pipe (not).
    const big = randomBytes(100 * MiB + 7, 11);
    const file = join(String(d), "big.bin");
    writeFileSync(file, big);
    const c = await t.s.run(["copy", "4", file, "--encrypt", "--json"], t.a.opts());
    expect(c.code).toBe(0);
    expect(JSON.parse(c.text).size).toBe(sealedLength(big.length));
    const back = await t.s.run(["paste", "4"], t.b.opts({ timeoutMs: 60_000 }));
    expect(back.code).toBe(0);
    expect(sameBytes(back.stdout, big)).toBe(true);
    const piped = await t.s.run(["copy", "5", "--encrypt"], t.a.opts({ stdin: new Blob([big]), timeoutMs: 60_000 }));
    expect(piped.code).toBe(0);
    const back2 = await t.s.run(["paste", "5"], t.a.opts({ timeoutMs: 60_000 }));
    expect(sameBytes(back2.stdout, big)).toBe(true);
  }, 120_000);

  test("encryption - list, history and --json show encrypted with the key id and the plaintext's type, never a preview", async () => {
    await using t = await setup();
    const png = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...enc("secret-pixels"));
    expect((await t.s.run(["copy", "6", "--encrypt"], t.a.opts({ stdin: png }))).code).toBe(0);
    expect((await t.s.run(["copy", "6", "--encrypt"], t.a.opts({ stdin: "secret words" }))).code).toBe(0);
    const list = JSON.parse((await t.s.run(["list", "--json"])).text);
    expect(list[6]).toMatchObject({ region: 6, encrypted: t.id, type: "text/plain;charset=utf-8", size: sealedLength(12), preview: "" });
    const table = (await t.s.run(["list"])).text;
    expect(table).toMatch(new RegExp(`^6 .*encrypted \\(key ${t.id}\\)$`, "m"));
    expect(table).not.toContain("secret");
    const hist = JSON.parse((await t.s.run(["history", "6", "--json"])).text);
    expect(hist.map((h: { type: string; encrypted: string }) => [h.type, h.encrypted])).toEqual([
      ["text/plain;charset=utf-8", t.id],
      ["image/png", t.id],
    ]);
    expect((await t.s.run(["history", "6"])).text).not.toContain("secret");
    // paste --rev and --back open the older sealed value.
    const older = await t.s.run(["paste", "6", "--back", "1"], t.a.opts());
    expect(sameBytes(older.stdout, png)).toBe(true);
    expect(sameBytes((await t.s.run(["paste", "6", "--rev", String(hist[1].rev)], t.a.opts())).stdout, png)).toBe(true);
    // History without the key still lists; reading the value without it is refused.
    expect((await t.s.run(["history", "6"], t.c.opts())).code).toBe(0);
    expectRefused(await t.s.run(["paste", "6", "--back", "1"], t.c.opts()), `region 6 is encrypted with key ${t.id}: pass --key-file`);
  });

  test("encryption - wait and wait --follow open each sealed write; plain writes come as they are, key or not", async () => {
    await using t = await setup();
    // From the current revision on (--since): every later write, whenever the waits get going.
    const now = String((await t.raw.status()).rev);
    const w = spawnClip(["wait", "7", "--since", now, "--server", `unix:${t.s.socket}`], { env: t.a.env });
    const f = spawnClip(["wait", "7", "--follow", "--since", now, "--server", `unix:${t.s.socket}`], { env: t.a.env });
    expect((await t.s.run(["copy", "7", "--encrypt"], t.a.opts({ stdin: "first, sealed" }))).code).toBe(0);
    expect((await t.s.run(["copy", "7"], t.a.opts({ stdin: "second, plain" }))).code).toBe(0);
    expect((await t.s.run(["copy", "7", "--encrypt"], t.a.opts({ stdin: "third, sealed" }))).code).toBe(0);
    expect(await w.exited()).toBe(0);
    expect(w.text()).toBe("first, sealed");
    await waitFor(() => f.text() === "first, sealed\nsecond, plain\nthird, sealed\n", 10_000, "the follow to print three writes");
    f.proc.kill("SIGINT");
    await f.exited();
    // Without the key, a follow stops at the first sealed write: exit 4, nothing of it printed.
    const g = spawnClip(["wait", "7", "--follow", "--since", String((await t.raw.status()).rev), "--server", `unix:${t.s.socket}`], { env: t.c.env });
    expect((await t.s.run(["copy", "7"], t.a.opts({ stdin: "plain again" }))).code).toBe(0);
    await waitFor(() => g.text() === "plain again\n", 10_000, "the plain write");
    expect((await t.s.run(["copy", "7", "--encrypt"], t.a.opts({ stdin: "not for you" }))).code).toBe(0);
    expect(await g.exited()).toBe(4);
    expect(g.text()).toBe("plain again\n");
    expect(g.stderr()).toBe(`clip: region 7 is encrypted with key ${t.id}: pass --key-file\n`);
  });
});

describe("encryption - refusals", () => {
  test("encryption - no key, another key: nothing on stdout, exit 4, SPEC's line; plain values read with any --key-file", async () => {
    await using t = await setup();
    expect((await t.s.run(["copy", "1", "--encrypt"], t.a.opts({ stdin: "for A only" }))).code).toBe(0);
    expectRefused(await t.s.run(["paste", "1"], t.c.opts()), `region 1 is encrypted with key ${t.id}: pass --key-file`);
    const otherKey = await clip(["keygen"], t.b.opts());
    expectRefused(await t.s.run(["paste", "1"], t.b.opts()), `region 1 is encrypted with key ${t.id}: pass --key-file`);
    expect(otherKey.text.trim()).not.toBe(t.id);
    // --key-file names the right one.
    expect((await t.s.run(["paste", "1", "--key-file", t.a.keyFile], t.b.opts())).text).toBe("for A only");
    // Plain values: no key, a missing --key-file, an unsafe key file: none is even looked at.
    expect((await t.s.run(["copy", "2"], t.c.opts({ stdin: "plain" }))).code).toBe(0);
    expect((await t.s.run(["paste", "2"], t.c.opts())).text).toBe("plain");
    expect((await t.s.run(["paste", "2", "--key-file", "/nonexistent/key"], t.c.opts())).text).toBe("plain");
    const loose = join(t.c.config, "loose.key");
    mkdirSync(t.c.config, { recursive: true });
    writeFileSync(loose, readFileSync(t.a.keyFile));
    chmodSync(loose, 0o644);
    expect((await t.s.run(["paste", "2", "--key-file", loose], t.c.opts())).text).toBe("plain");
    // ...but a sealed value read with the unsafe file is refused for the file, exit 1.
    expectRefused(await t.s.run(["paste", "1", "--key-file", loose], t.c.opts()), `key file ${loose} is open to other users (mode 0644), so it is not used: chmod 600 ${loose}`, 1);
  });

  test("encryption - --encrypt with no usable key is exit 1 and one line, and writes nothing (missing, folder, wrong size, world-readable, not a key)", async () => {
    await using t = await setup();
    await t.s.run(["copy", "1"], t.c.opts({ stdin: "before" }));
    const dir = join(t.c.config, "keys");
    mkdirSync(dir, { recursive: true });
    const short = join(dir, "short");
    writeFileSync(short, `clip-key-1 ${Buffer.alloc(16).toString("base64")}\n`, { mode: 0o600 });
    const open = join(dir, "open");
    writeFileSync(open, readFileSync(t.a.keyFile));
    chmodSync(open, 0o604);
    const junk = join(dir, "junk");
    writeFileSync(junk, "-----BEGIN OPENSSH PRIVATE KEY-----\n", { mode: 0o600 });
    const cases: [string[], Record<string, string>, string][] = [
      [["--encrypt"], {}, "no key: run clip keygen"],
      [[], { CLIP_ENCRYPT: "1" }, "no key: run clip keygen"],
      [["--encrypt", "--key-file", join(dir, "missing")], {}, `no key: ${join(dir, "missing")} does not exist: run clip keygen ${join(dir, "missing")}`],
      [["--encrypt"], { CLIP_KEY_FILE: dir }, `key file ${dir} is not a regular file`],
      [["--encrypt", "--key-file", short], {}, `${short}: the key is 16 bytes, not 32 (damaged when copied?)`],
      [["--encrypt", "--key-file", open], {}, `key file ${open} is open to other users (mode 0604), so it is not used: chmod 600 ${open}`],
      [["--encrypt", "--key-file", junk], {}, `${junk} is not a clip key file (expected one line "clip-key-1 BASE64"): make one with clip keygen`],
    ];
    for (const [flags, env, line] of cases) {
      const r = await t.s.run(["copy", "1", ...flags], t.c.opts({ stdin: "must not be stored", env }));
      expectRefused(r, line, 1);
      const k = await t.s.run(["kv", "put", "k", "v", ...flags], t.c.opts({ env: { ...env, CLIP_GROUP: "nope", CLIP_SECRET: "x" } }));
      expectRefused(k, line, 1); // before the group is even asked for
    }
    expect(await t.s.run(["copy", "1"], t.c.opts({ stdin: "x", env: { CLIP_ENCRYPT: "maybe" } }))).toMatchObject({ code: 2, stderr: 'clip: bad CLIP_ENCRYPT "maybe": 1 to seal every copy and put, 0 not to\n' });
    expect((await t.s.run(["paste", "1"])).text).toBe("before");
    expect((await t.raw.list())[1].rev).toBe(1);
  });

  test("encryption - a flipped byte, a cut, swapped chunks, a value moved to another region: exit 4 with at most the verified chunks; a new format version: exit 1", async () => {
    await using t = await setup();
    const plain = randomBytes(40 * DEFAULT_CHUNK + 99, 21); // 41 chunks, over two 1 MiB frames
    expect((await t.s.run(["copy", "1", "--encrypt"], t.a.opts({ stdin: plain }))).code).toBe(0);
    const sealed = (await t.stored(1)).bytes;
    const at = (i: number) => SEAL_HEADER_BYTES + i * REC;
    const paste = (r: number) => t.s.run(["paste", String(r)], t.a.opts());
    /** What a failed paste wrote: a prefix of the plaintext, whole chunks only, short of the bad one. */
    const partial = (r: { stdout: Uint8Array }, bad: number) => {
      expect(r.stdout.length % DEFAULT_CHUNK).toBe(0);
      expect(r.stdout.length).toBeLessThanOrEqual(bad * DEFAULT_CHUNK);
      expect(sameBytes(r.stdout, plain.subarray(0, r.stdout.length))).toBe(true);
    };
    const fail = (r: { code: number; stderr: string }, line: RegExp, code = 4) => {
      expect(r.stderr).toMatch(line);
      expect(r.stderr.trim().split("\n").length).toBe(1);
      expect(r.code).toBe(code);
    };

    // Each damaged copy is put back in region 1, where it was sealed for.
    const flipped = sealed.slice();
    flipped[at(30) + 500] ^= 0x20;
    await t.put(1, flipped);
    const f = await paste(1);
    fail(f, /^clip: region 1 failed verification at chunk 30: /);
    partial(f, 30);
    expect(f.stdout.length).toBeGreaterThan(0); // the first frame's chunks were verified and written

    const swapped = sealed.slice();
    swapped.set(sealed.subarray(at(21), at(22)), at(20));
    swapped.set(sealed.subarray(at(20), at(21)), at(21));
    await t.put(1, swapped);
    const s = await paste(1);
    fail(s, /^clip: region 1 failed verification at chunk 20: /);
    partial(s, 20);

    for (const [cut, chunk] of [
      [at(40), 39], // at a chunk boundary: the last chunk left was not sealed as the last
      [at(40) + 50, 40], // inside the last chunk
      [at(12) + 7, 12],
    ]) {
      await t.put(1, sealed.subarray(0, cut));
      const c = await paste(1);
      fail(c, new RegExp(`^clip: region 1 (failed verification at chunk ${chunk}|is cut short)`));
      partial(c, chunk);
    }
    await t.put(1, sealed.subarray(0, 30));
    expectRefused(await paste(1), "region 1 is cut short (it ends inside its header)");

    // The same bytes, whole and untouched, in another region: refused (the region is bound in).
    await t.put(3, sealed);
    const moved = await paste(3);
    fail(moved, /^clip: region 3 failed verification at chunk 0: /);
    expect(moved.stdout.length).toBe(0);
    // And where they came from, they still open.
    await t.put(1, sealed);
    expect(sameBytes((await paste(1)).stdout, plain)).toBe(true);

    const v2 = sealed.slice();
    v2[8] = 2;
    await t.put(1, v2);
    expectRefused(await paste(1), "region 1 is sealed in format version 2, which this clip cannot read: upgrade clip", 1);
  });
});

describe("encryption - keys", () => {
  test("encryption - kv put --encrypt; get, get --rev, watch (lines, --json, --exec) open it; another key name refuses it", async () => {
    await using t = await setup();
    const secret = (await t.s.run(["group", "create", "app"])).text.trim();
    const g = { CLIP_GROUP: "app", CLIP_SECRET: secret };
    const kv = (args: string[], o: RunOptions = {}, m = t.a) => t.s.run(["kv", ...args], m.opts({ ...o, env: { ...g, ...o.env } }));
    const now = String((await t.raw.status()).rev);
    const on = ["--since", now, "--server", `unix:${t.s.socket}`];
    const lines = spawnClip(["kv", "watch", "--prefix", "", "--count", "3", ...on], { env: { ...t.a.env, ...g } });
    const json = spawnClip(["kv", "watch", "db/pass", "--json", "--count", "2", ...on], { env: { ...t.a.env, ...g } });
    const exec = spawnClip(["kv", "watch", "db/pass", "--count", "2", "--exec", 'printf "%s=%s;" "$CLIP_EVENT" "$(cat)"', ...on], { env: { ...t.a.env, ...g } });
    expect((await kv(["put", "db/pass", "hunter2", "--encrypt"])).code).toBe(0);
    expect((await kv(["put", "db/pass", "--encrypt"], { stdin: "correct horse" })).code).toBe(0);
    expect((await kv(["put", "other", "plain one"])).code).toBe(0);
    expect(await lines.exited()).toBe(0);
    expect(lines.text()).toBe("put db/pass hunter2\nput db/pass correct horse\nput other plain one\n");
    expect(await json.exited()).toBe(0);
    const evs = json.text().trim().split("\n").map((l) => JSON.parse(l));
    expect(evs.map((e) => [e.value, e.encrypted, e.size])).toEqual([
      ["hunter2", t.id, 7],
      ["correct horse", t.id, 13],
    ]);
    expect(await exec.exited()).toBe(0);
    expect(exec.text()).toBe("put=hunter2;put=correct horse;");

    expect((await kv(["get", "db/pass"])).text).toBe("correct horse");
    expect((await kv(["get", "db/pass", "--back", "1"])).text).toBe("hunter2");
    const list = JSON.parse((await kv(["list", "--json"])).text);
    expect(list.find((k: { key: string }) => k.key === "db/pass")).toMatchObject({ encrypted: t.id, size: sealedLength(13) });
    expect((await kv(["list"])).text).toMatch(/^db\/pass .*text \(encrypted\)/m);
    const hist = (await kv(["history", "db/pass"])).text;
    expect(hist).not.toContain("hunter2");
    expect(hist).toContain(`encrypted (key ${t.id})`);

    // Without the key: get and watch refuse with the key's name.
    expectRefused(await kv(["get", "db/pass"], {}, t.c), `key db/pass is encrypted with key ${t.id}: pass --key-file`);
    const blind = spawnClip(["kv", "watch", "db/pass", "--since", String((await t.raw.status()).rev), "--server", `unix:${t.s.socket}`], { env: { ...t.c.env, ...g } });
    expect((await kv(["put", "db/pass", "again", "--encrypt"])).code).toBe(0);
    expect(await blind.exited()).toBe(4);
    expect(blind.text()).toBe("");
    expect(blind.stderr()).toBe(`clip: key db/pass is encrypted with key ${t.id}: pass --key-file\n`);

    // The sealed bytes of db/pass put under another key name (or group) do not open there.
    const k = await t.raw.kv({ group: "app", secret });
    const rawBytes = (await t.raw.mux.callValue("kv.get", { group: "app", key: "db/pass" })).bytes;
    await k.put("db/copy", rawBytes);
    const moved = await kv(["get", "db/copy"]);
    expect(moved.stdout.length).toBe(0);
    expect(moved.stderr).toMatch(/^clip: key db\/copy failed verification at chunk 0: /);
    expect(moved.code).toBe(4);
  });

  test("encryption - --max-size leaves room for the sealing: a sealed value of exactly --max-size plaintext is taken; one byte more is not", async () => {
    await using t = await setup(["--max-size", "1M"]);
    const exact = randomBytes(MiB, 3);
    const ok = await t.s.run(["copy", "1", "--encrypt"], t.a.opts({ stdin: exact }));
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(sameBytes((await t.s.run(["paste", "1"], t.a.opts())).stdout, exact)).toBe(true);
    expect((await t.stored(1)).bytes.length).toBe(sealedLength(MiB));
    // One byte over: refused, sealed or not, from a pipe (no size announced) or a file.
    const over = randomBytes(MiB + 1, 4);
    const sealedOver = await t.s.run(["copy", "1", "--encrypt"], t.a.opts({ stdin: over }));
    expect(sealedOver.code).toBe(1);
    expect(sealedOver.stderr).toMatch(/^clip: sealed value of [0-9]+ bytes is over the server's --max-size of 1048576 bytes \(and 309 bytes for sealing\)\n$/);
    const plainOver = await t.s.run(["copy", "1"], t.a.opts({ stdin: over }));
    expect(plainOver.code).toBe(1);
    expect(plainOver.stderr).toMatch(/^clip: value of [0-9]+ bytes is over the server's --max-size of 1048576 bytes\n$/);
    // A plain value marked sealed gains only the overhead: a plain value of max-size + 1 is still a plain value over it.
    expect(sameBytes((await t.s.run(["paste", "1"], t.a.opts())).stdout, exact)).toBe(true);
  });
});

describe("encryption - library", () => {
  test("encryption - connect({ key }) opens; encrypt: true seals with it; read() says the plaintext's size and the key that verified it", async () => {
    await using s = await startServer({ memory: true });
    using d = tempDir();
    const key = new Key(randomBytes(32, 77));
    const file = join(String(d), "k");
    writeFileSync(file, `clip-key-1 ${Buffer.from(key.bytes).toString("base64")}\n`, { mode: 0o600 });
    const env = { XDG_CONFIG_HOME: String(d), CLIP_KEY_FILE: "" };
    const saved = { ...process.env };
    Object.assign(process.env, env); // no default key for a client given none
    let c: Client | undefined;
    let byPath: Client | undefined;
    let none: Client | undefined;
    try {
      c = await connect({ server: s.socket, key });
      byPath = await connect({ server: s.socket, key: file });
      none = await connect({ server: s.socket });
      const w = await c.copy(4, "library secret", { encrypt: true });
      expect(w.size).toBe(sealedLength(14));
      expect(new TextDecoder().decode(await byPath.paste(4))).toBe("library secret");
      const clip = await c.read(4);
      expect(clip).toMatchObject({ size: 14, encrypted: key.id, type: "text/plain;charset=utf-8" });
      const e = await none.paste(4).catch((x) => x);
      expect(e).toBeInstanceOf(ClipError);
      expect(e.code).toBe("AUTH");
      expect(e.rev).toBe(w.rev); // the revision it could not open: a bridge goes on from there
      // A Key given to the write itself.
      const other = new Key(randomBytes(32, 78));
      await c.copy(5, "sealed with another", { encrypt: other });
      expect((await c.paste(5).catch((x) => x)).message).toBe(`region 5 is encrypted with key ${other.id}: pass --key-file`);
      // A plain value the server marks sealed is not said to be encrypted.
      await c.upload("copy", { r: 6, sealed: key.id }, "plain, marked");
      expect((await c.read(6))?.encrypted).toBeUndefined();
      expect((await c.list())[6].encrypted).toBe(key.id);
      // follow and kv watch by prefix open each value for its own region or key.
      const ac = new AbortController();
      const seen: string[] = [];
      const since = (await c.read(4))!.rev;
      const following = (async () => {
        for await (const v of c!.follow(4, { signal: ac.signal, since })) {
          seen.push(`${new TextDecoder().decode(v.value)}/${v.encrypted ?? "plain"}`);
          if (seen.length === 2) ac.abort();
        }
      })().catch(() => {});
      await c.copy(4, "one", { encrypt: true });
      await c.copy(4, "two");
      await following;
      expect(seen).toEqual([`one/${key.id}`, "two/plain"]);
      const secret = await c.groups.create("lib");
      const kv = await c.kv({ group: "lib", secret });
      const watch = kv.watch({ prefix: "p/" });
      await watch.ready;
      await kv.put("p/a", "alpha", { encrypt: true });
      await kv.put("p/b", randomBytes(200_000, 5), { encrypt: true }); // longer than its frame's first bytes
      await kv.put("p/c", "gamma");
      const got: string[] = [];
      for await (const ev of watch) {
        if (ev.event === "put") got.push(`${ev.key}:${ev.value.length}:${ev.encrypted ?? "plain"}`);
        if (got.length === 3) break;
      }
      expect(got).toEqual([`p/a:5:${key.id}`, `p/b:200000:${key.id}`, "p/c:5:plain"]);
      expect(new TextDecoder().decode(await kv.get("p/a"))).toBe("alpha");
      expect((await kv.read("p/b")).size).toBe(200_000);
    } finally {
      c?.close();
      byPath?.close();
      none?.close();
      for (const k of Object.keys(env)) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });
});
