// Key files (src/crypto/key.ts): made 0600 in a 0700 folder, never
// overwritten without force and never half-written, found where SPEC says,
// refused with one clear line when missing, malformed, the wrong size or open
// to other users; the key id is stable and is not the key.

import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  KEY_BYTES,
  Key,
  createKeyFile,
  defaultKeyPath,
  encodeKeyFile,
  generateKey,
  keyId,
  keyPath,
  loadKey,
  parseKeyFile,
  readKeyFile,
  requireKey,
} from "../../src/crypto/key.ts";
import { ClipError, type ErrorCode } from "../../src/protocol/errors.ts";

const root = mkdtempSync(join(tmpdir(), "clip-key-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
/** A fresh folder under the test's temp root. */
const fresh = () => join(root, `t${n++}`);
const mode = (p: string) => statSync(p).mode & 0o777;
const fixed = new Key(Uint8Array.from({ length: 32 }, (_, i) => i));
const FIXED_LINE = "clip-key-1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n";

function refused(fn: () => unknown, match: RegExp, code: ErrorCode = "INTERNAL"): ClipError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ClipError);
    expect((e as ClipError).code).toBe(code);
    expect((e as ClipError).exitCode).toBe(1);
    expect((e as ClipError).message).toMatch(match);
    expect((e as ClipError).message).not.toContain("\n");
    return e as ClipError;
  }
  throw new Error(`expected a refusal matching ${match}`);
}

/** Writes a key file with `content` and `m` as its mode. */
function keyFile(content: string | Uint8Array, m = 0o600): string {
  const dir = fresh();
  mkdirSync(dir, { recursive: true });
  const p = join(dir, "key");
  writeFileSync(p, content);
  chmodSync(p, m);
  return p;
}

describe("key - id and generation", () => {
  test("key - the key id is a pinned hash of the key, 16 hex digits, never the key", () => {
    // HMAC-SHA-256(key, "clip key id v1")[0..8], computed with Python's hmac.
    expect(fixed.id).toBe("793af32f8564e3cc");
    expect(keyId(fixed.bytes)).toBe(fixed.id);
    const k = generateKey();
    expect(k.id).toMatch(/^[0-9a-f]{16}$/);
    expect(new Key(k.bytes).id).toBe(k.id);
    const hex = Buffer.from(k.bytes).toString("hex");
    const b64 = Buffer.from(k.bytes).toString("base64");
    expect(hex.includes(k.id) || b64.includes(k.id)).toBe(false);
    expect(generateKey().id).not.toBe(k.id);
  });

  test("key - generated keys are 32 random bytes, each different", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 64; i++) {
      const k = generateKey();
      expect(k.bytes.length).toBe(KEY_BYTES);
      seen.add(Buffer.from(k.bytes).toString("hex"));
    }
    expect(seen.size).toBe(64);
  });

  test("key - printing, JSON or inspecting a key shows the id alone", () => {
    const k = generateKey();
    const secret = [Buffer.from(k.bytes).toString("hex"), Buffer.from(k.bytes).toString("base64")];
    for (const shown of [String(k), `${k}`, JSON.stringify(k), JSON.stringify({ k }), Bun.inspect(k), Bun.inspect({ k })]) {
      expect(shown).toContain(k.id);
      for (const s of secret) expect(shown).not.toContain(s);
    }
    expect(Object.keys(k)).toEqual(["id"]);
  });
});

describe("key - file format", () => {
  test("key - the file is one line, clip-key-1 and base64, and reads back", () => {
    expect(encodeKeyFile(fixed)).toBe(FIXED_LINE);
    const back = parseKeyFile(FIXED_LINE, "f");
    expect(back.id).toBe(fixed.id);
    expect(Buffer.from(back.bytes)).toEqual(Buffer.from(fixed.bytes));
  });

  test("key - a line pasted with CRLF, blanks or no newline still reads", () => {
    for (const v of [FIXED_LINE.trim(), FIXED_LINE.replace("\n", "\r\n"), `  ${FIXED_LINE.trim()}  \n\n`]) expect(parseKeyFile(v, "f").id).toBe(fixed.id);
  });

  test("key - wrong size, bad base64, another tag, raw bytes or empty: one line, exit 1", () => {
    const b64 = (n: number) => Buffer.alloc(n, 7).toString("base64");
    refused(() => parseKeyFile(`clip-key-1 ${b64(31)}\n`, "F"), /^F: the key is 31 bytes, not 32/);
    refused(() => parseKeyFile(`clip-key-1 ${b64(33)}\n`, "F"), /^F: the key is 33 bytes, not 32/);
    refused(() => parseKeyFile(`clip-key-1 ${b64(32).slice(0, 20)}*${b64(32).slice(21)}\n`, "F"), /not valid base64/);
    refused(() => parseKeyFile(`clip-key-2 ${b64(32)}\n`, "F"), /^F is not a clip key file/);
    refused(() => parseKeyFile(new Uint8Array(32).fill(9), "F"), /^F is not a clip key file/);
    refused(() => parseKeyFile("", "F"), /^F is not a clip key file/);
    refused(() => parseKeyFile(`${FIXED_LINE}${FIXED_LINE}`, "F"), /^F is not a clip key file/);
    expect(() => new Key(new Uint8Array(16))).toThrow(ClipError);
  });
});

describe("key - files on disk", () => {
  for (const umask of [0o000, 0o277]) test(`key - createKeyFile makes the file 0600 and the folders it creates 0700, with umask ${umask.toString(8)}`, () => {
    const old = process.umask(umask);
    try {
      const top = fresh();
      const p = join(top, "a", "b", "key");
      const k = createKeyFile(p);
      expect(mode(p)).toBe(0o600);
      expect(mode(join(top, "a", "b"))).toBe(0o700);
      expect(mode(join(top, "a"))).toBe(0o700);
      expect(mode(top)).toBe(0o700);
      expect(readFileSync(p, "utf8")).toBe(encodeKeyFile(k));
      expect(readKeyFile(p).id).toBe(k.id);
      expect(readdirSync(join(top, "a", "b"))).toEqual(["key"]); // no temporary file left behind
    } finally {
      process.umask(old);
    }
  });

  test("key - an existing folder keeps its mode (it may be shared); the file is still 0600", () => {
    const dir = fresh();
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    createKeyFile(join(dir, "k"));
    expect(mode(dir)).toBe(0o755);
    expect(mode(join(dir, "k"))).toBe(0o600);
  });

  test("key - an existing key file is never replaced without force, and force replaces it", () => {
    const p = join(fresh(), "key");
    const first = createKeyFile(p);
    const before = readFileSync(p, "utf8");
    const err = refused(() => createKeyFile(p), /exists already: it is not replaced \(clip keygen --force/, "EXISTS");
    expect(err.exitCode).toBe(1);
    expect(readFileSync(p, "utf8")).toBe(before);
    expect(readdirSync(join(p, ".."))).toEqual(["key"]);
    const second = createKeyFile(p, { force: true });
    expect(second.id).not.toBe(first.id);
    expect(readKeyFile(p).id).toBe(second.id);
    expect(mode(p)).toBe(0o600);
    expect(readdirSync(join(p, ".."))).toEqual(["key"]);
  });

  test("key - any existing file, even not a key, is not replaced", () => {
    const p = keyFile("my notes\n", 0o644);
    refused(() => createKeyFile(p), /exists already/, "EXISTS");
    expect(readFileSync(p, "utf8")).toBe("my notes\n");
  });

  test("key - a folder that cannot be made is one line", () => {
    const file = keyFile("x");
    refused(() => createKeyFile(join(file, "sub", "key")), /^cannot write the key file: .* is under something that is not a folder$/);
  });

  test("key - a key file open to group or others is refused, naming the fix", () => {
    for (const m of [0o644, 0o640, 0o604, 0o660, 0o602, 0o620]) {
      const p = keyFile(FIXED_LINE, m);
      const octal = m.toString(8).padStart(4, "0");
      refused(() => readKeyFile(p), new RegExp(`^key file ${p} is open to other users \\(mode ${octal}\\), so it is not used: chmod 600 ${p}$`));
    }
    for (const m of [0o600, 0o400]) expect(readKeyFile(keyFile(FIXED_LINE, m)).id).toBe(fixed.id);
  });

  test("key - missing, a folder, too large or the wrong size on disk: one line each", () => {
    const missing = join(fresh(), "key");
    refused(() => readKeyFile(missing), new RegExp(`^no key: ${missing} does not exist: run clip keygen ${missing}$`));
    const dir = fresh();
    mkdirSync(dir, { mode: 0o700 });
    refused(() => readKeyFile(dir), /is not a regular file$/);
    refused(() => readKeyFile(keyFile("x".repeat(10_000))), /is not a clip key file \(10000 bytes/);
    refused(() => readKeyFile(keyFile(`clip-key-1 ${Buffer.alloc(24).toString("base64")}\n`)), /the key is 24 bytes, not 32/);
    refused(() => readKeyFile(keyFile(new Uint8Array(32).fill(1))), /is not a clip key file/);
  });
});

describe("key - where the key is", () => {
  test("key - the default path: $XDG_CONFIG_HOME/clip/key, else ~/.config/clip/key", () => {
    expect(defaultKeyPath({ XDG_CONFIG_HOME: "/x/conf", HOME: "/home/u" })).toBe("/x/conf/clip/key");
    expect(defaultKeyPath({ HOME: "/home/u" })).toBe("/home/u/.config/clip/key");
    expect(defaultKeyPath({ XDG_CONFIG_HOME: "", HOME: "/home/u" })).toBe("/home/u/.config/clip/key");
    expect(defaultKeyPath({ XDG_CONFIG_HOME: "rel/conf", HOME: "/home/u" })).toBe("/home/u/.config/clip/key");
  });

  test("key - --key-file, then CLIP_KEY_FILE, then the default", () => {
    const env = { HOME: "/home/u", CLIP_KEY_FILE: "/e/key" };
    expect(keyPath({ keyFile: "/f/key", env })).toEqual({ path: "/f/key", explicit: true });
    expect(keyPath({ env })).toEqual({ path: "/e/key", explicit: true });
    expect(keyPath({ env: { HOME: "/home/u" } })).toEqual({ path: "/home/u/.config/clip/key", explicit: false });
  });

  test("key - loadKey: none at the default path is null; a named missing file is an error", () => {
    const conf = fresh();
    const env = { XDG_CONFIG_HOME: conf, HOME: "/nonexistent" };
    expect(loadKey({ env })).toBeNull();
    refused(() => loadKey({ env, keyFile: join(conf, "nope") }), /^no key: .*nope does not exist: run clip keygen/);
    refused(() => loadKey({ env: { ...env, CLIP_KEY_FILE: join(conf, "nope") } }), /^no key: .*nope does not exist/);
    const k = createKeyFile(defaultKeyPath(env));
    expect(loadKey({ env })?.id).toBe(k.id);
    chmodSync(defaultKeyPath(env), 0o644);
    refused(() => loadKey({ env }), /open to other users/); // a bad default file is reported, not taken for no key
  });

  test("key - keygen without a path writes where the commands will look: CLIP_KEY_FILE, else the default", () => {
    const conf = fresh();
    const named = join(fresh(), "named-key");
    const k1 = createKeyFile(undefined, { env: { XDG_CONFIG_HOME: conf, CLIP_KEY_FILE: named } });
    expect(readKeyFile(named).id).toBe(k1.id);
    expect(existsSync(join(conf, "clip", "key"))).toBe(false);
    const k2 = createKeyFile(undefined, { env: { XDG_CONFIG_HOME: conf } });
    expect(readKeyFile(join(conf, "clip", "key")).id).toBe(k2.id);
    expect(mode(join(conf, "clip"))).toBe(0o700);
  });

  test("key - requireKey (--encrypt): no key is `no key: run clip keygen`, exit 1", () => {
    const env = { XDG_CONFIG_HOME: fresh(), HOME: "/nonexistent" };
    const err = refused(() => requireKey({ env }), /^no key: run clip keygen$/);
    expect(err.exitCode).toBe(1);
    const k = createKeyFile(defaultKeyPath(env));
    expect(requireKey({ env }).id).toBe(k.id);
    expect(existsSync(defaultKeyPath(env))).toBe(true);
  });
});
