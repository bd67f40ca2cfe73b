// The key of end-to-end encryption: making one, storing it, finding it,
// checking it, and naming it by its key id. Sealing is ./seal.ts.
//
// A key file holds one text line, `clip-key-1 <base64 of 32 random bytes>`,
// and a newline: text survives being pasted into a terminal, an editor or an
// ssh session, where raw bytes would not, and the tag refuses a file that is
// something else (an ssh key, a raw 32-byte blob) instead of using it.
//
// The key id is the first 8 bytes of HMAC-SHA-256(key, "clip key id v1"), in
// hex: it names the key in sealed headers and error messages, says nothing
// about the key (a PRF under the key itself), and never changes for a key.

import { createHmac, randomBytes } from "node:crypto";
import { closeSync, fchmodSync, fstatSync, fsyncSync, linkSync, mkdirSync, chmodSync, openSync, readSync, renameSync, unlinkSync, writeSync, constants } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { ClipError, type ErrorCode } from "../protocol/errors.ts";

/** Bytes of a key: AES-256. */
export const KEY_BYTES = 32;
/** Bytes of the key id, as written in a sealed header (shown as twice as many hex digits). */
export const KEY_ID_BYTES = 8;

const FILE_TAG = "clip-key-1";
const ID_LABEL = "clip key id v1";
/** A key file is one short line; anything larger is not one (and is not read whole). */
const MAX_FILE = 256;

// A key file that cannot be used fails the command with exit 1. errors.ts has
// no code for it yet; INTERNAL maps to exit 1 and keeps the message as written.
// A dedicated code (e.g. "NOKEY", exit 1) would say it better: see the report.
const KEY_ERROR: ErrorCode = "INTERNAL";

/**
 * A 256-bit key and its id. The secret is reachable only through `bytes`
 * (a getter, so not enumerable): JSON, string and inspect show the id alone,
 * so a key logged by mistake does not leak.
 */
export class Key {
  readonly #bytes: Uint8Array;
  readonly id: string;

  constructor(bytes: Uint8Array) {
    if (bytes.length !== KEY_BYTES) throw new ClipError(KEY_ERROR, `a key is ${KEY_BYTES} bytes, not ${bytes.length}`);
    this.#bytes = Uint8Array.from(bytes);
    this.id = keyId(this.#bytes);
  }

  /** The secret itself: for ./seal.ts and the key file, nothing else. */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  toString(): string {
    return `Key(${this.id})`;
  }
  toJSON(): { id: string } {
    return { id: this.id };
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}

/** A new key from the OS CSPRNG. */
export function generateKey(): Key {
  return new Key(randomBytes(KEY_BYTES));
}

/** The key id of raw key bytes: 16 hex digits, a hash of the key under its own label, never the key. */
export function keyId(bytes: Uint8Array): string {
  return createHmac("sha256", bytes).update(ID_LABEL).digest().subarray(0, KEY_ID_BYTES).toString("hex");
}

/** The key file's text: one line. */
export function encodeKeyFile(key: Key): string {
  return `${FILE_TAG} ${Buffer.from(key.bytes).toString("base64")}\n`;
}

/** Parses a key file's content; `where` names it in errors. Tolerates surrounding blanks and CRLF (a pasted line). */
export function parseKeyFile(content: Uint8Array | string, where: string): Key {
  const text = typeof content === "string" ? content : Buffer.from(content).toString("latin1");
  const m = /^\s*(\S+) +(\S+)\s*$/.exec(text);
  if (!m || m[1] !== FILE_TAG) throw new ClipError(KEY_ERROR, `${where} is not a clip key file (expected one line "${FILE_TAG} BASE64"): make one with clip keygen`);
  const b64 = m[2];
  const bytes = Buffer.from(b64, "base64");
  // Node's base64 decoder skips what it does not understand: re-encoding tells a clean line from a damaged one.
  if (bytes.toString("base64") !== b64) throw new ClipError(KEY_ERROR, `${where}: the key is not valid base64 (damaged when copied?)`);
  if (bytes.length !== KEY_BYTES) throw new ClipError(KEY_ERROR, `${where}: the key is ${bytes.length} bytes, not ${KEY_BYTES} (damaged when copied?)`);
  return new Key(bytes);
}

type Env = Record<string, string | undefined>;

/** SPEC: $XDG_CONFIG_HOME/clip/key, else ~/.config/clip/key. A relative XDG_CONFIG_HOME is ignored, as the XDG spec says. */
export function defaultKeyPath(env: Env = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, "clip", "key");
  return join(env.HOME || homedir(), ".config", "clip", "key");
}

/** Where the key is looked for: `--key-file`, else env CLIP_KEY_FILE, else the default path. */
export function keyPath(opts: { keyFile?: string; env?: Env } = {}): { path: string; explicit: boolean } {
  const env = opts.env ?? process.env;
  const named = opts.keyFile || env.CLIP_KEY_FILE;
  return named ? { path: resolve(named), explicit: true } : { path: defaultKeyPath(env), explicit: false };
}

/**
 * Reads and checks a key file. Refuses one that is missing, not a regular
 * file, too large, malformed, or open to other users: like ssh with a private
 * key, a key that group or others may read or write is taken as exposed, and
 * using it anyway would teach that the mode does not matter. The message
 * gives the one command that fixes it.
 */
export function readKeyFile(path: string): Key {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOCTTY | constants.O_NONBLOCK);
  } catch (e) {
    throw readError(e, path);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ClipError(KEY_ERROR, `key file ${path} is not a regular file`);
    if ((st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, "0");
      throw new ClipError(KEY_ERROR, `key file ${path} is open to other users (mode ${mode}), so it is not used: chmod 600 ${path}`);
    }
    if (st.size > MAX_FILE) throw new ClipError(KEY_ERROR, `${path} is not a clip key file (${st.size} bytes; one is a ${FILE_TAG.length + 46}-byte line)`);
    const buf = Buffer.alloc(MAX_FILE + 1);
    let n = 0;
    while (n < buf.length) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
    }
    if (n > MAX_FILE) throw new ClipError(KEY_ERROR, `${path} is not a clip key file (it is larger than one)`);
    return parseKeyFile(buf.subarray(0, n), path);
  } catch (e) {
    throw e instanceof ClipError ? e : readError(e, path);
  } finally {
    closeSync(fd);
  }
}

/**
 * The key to open sealed values with, or null when there is none at the
 * default path (a plain value needs none). A key file named by `--key-file`
 * or CLIP_KEY_FILE must exist: naming a missing file is a mistake to report.
 * Any other problem with the file throws (exit 1).
 */
export function loadKey(opts: { keyFile?: string; env?: Env } = {}): Key | null {
  const { path, explicit } = keyPath(opts);
  try {
    return readKeyFile(path);
  } catch (e) {
    if (!explicit && e instanceof ClipError && (e.cause as NodeJS.ErrnoException | undefined)?.code === "ENOENT") return null;
    throw e;
  }
}

/** The key `--encrypt` seals with; SPEC: with no usable key, exit 1 and `clip: no key: run clip keygen`, never a plain write. */
export function requireKey(opts: { keyFile?: string; env?: Env } = {}): Key {
  const key = loadKey(opts);
  if (!key) throw new ClipError(KEY_ERROR, "no key: run clip keygen");
  return key;
}

/**
 * `clip keygen [FILE]`: a new key written to `path` and returned; the caller
 * prints `key.id`. Without a path, where the other commands will look for it
 * (CLIP_KEY_FILE, else SPEC's default), so that the key just made is used. The file is 0600; folders this
 * creates are 0700 (an existing folder is left as it is: the file's own
 * mode is what protects it, and FILE may be in a shared folder). Written
 * whole to a temporary file in the same folder, then linked into place, so
 * there is never a half-written key file and an existing one is never
 * replaced unless `force` (then renamed over it, atomically).
 */
export function createKeyFile(path?: string, opts: { force?: boolean; env?: Env } = {}): Key {
  path = path ? resolve(path) : keyPath({ env: opts.env }).path;
  const dir = dirname(path);
  try {
    const first = mkdirSync(dir, { recursive: true, mode: 0o700 });
    // mkdir's mode passes through the umask; the created folders are made 0700 exactly.
    for (let d = dir; first; d = dirname(d)) {
      chmodSync(d, 0o700);
      if (d === first) break;
    }
  } catch (e) {
    throw writeError(e, dir);
  }
  const key = generateKey();
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (e) {
    throw writeError(e, tmp);
  }
  try {
    try {
      fchmodSync(fd, 0o600); // against a umask that would leave it 0400 or less
      const line = Buffer.from(encodeKeyFile(key));
      let n = 0;
      while (n < line.length) n += writeSync(fd, line, n);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (opts.force) renameSync(tmp, path);
    else linkSync(tmp, path); // fails with EEXIST rather than replace: the no-clobber rename
    syncDir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") throw new ClipError("EXISTS", `${path} exists already: it is not replaced (clip keygen --force replaces it, and values sealed with it can no longer be opened)`);
    throw writeError(e, path);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // renamed into place, or never made
    }
  }
  return key;
}

/** Makes the new name durable, as the file's content already is; best effort where a folder cannot be opened. */
function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, constants.O_RDONLY);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // not every file system lets a folder be fsynced
  }
}

function reason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "does not exist";
  if (code === "EACCES" || code === "EPERM") return "is not accessible to you";
  if (code === "EISDIR") return "is a folder";
  if (code === "ENOTDIR") return "is under something that is not a folder";
  return (e as Error).message;
}

function readError(e: unknown, path: string): ClipError {
  if ((e as NodeJS.ErrnoException).code === "ENOENT") return new ClipError(KEY_ERROR, `no key: ${path} does not exist: run clip keygen ${path}`, { cause: e });
  return new ClipError(KEY_ERROR, `key file ${path} ${reason(e)}`, { cause: e });
}

function writeError(e: unknown, path: string): ClipError {
  return new ClipError(KEY_ERROR, `cannot write the key file: ${path} ${reason(e)}`, { cause: e });
}
