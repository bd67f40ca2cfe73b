// The CLI's end of end-to-end encryption: `clip keygen`, and the key a
// write seals with (--encrypt or CLIP_ENCRYPT, --key-file or CLIP_KEY_FILE),
// found before a byte is read or a connection opened. Reading needs nothing
// here: the client opens sealed values with the key of --key-file (or
// CLIP_KEY_FILE, or the default file), read only when a value is sealed.
// Loaded only by the commands that use it: node:crypto is not free.

import type { Key } from "../crypto/key.ts";
import { ClipError } from "../protocol/errors.ts";

/** `clip keygen [FILE] [--force]`: a new key, written 0600 (folders made 0700); prints its key id alone. */
export async function keygen(file: unknown, flags: { force?: unknown }): Promise<void> {
  const { createKeyFile } = await import("../crypto/key.ts");
  const key = createKeyFile(file === undefined ? undefined : String(file), { force: flags.force === true });
  process.stdout.write(`${key.id}\n`);
}

/** Whether a write is to be sealed: --encrypt, else CLIP_ENCRYPT (1/true/yes/on, or 0/false/no/off/empty). */
export function wantsEncrypt(flags: { encrypt?: unknown }, env: Record<string, string | undefined> = process.env): boolean {
  if (flags.encrypt === true) return true;
  const v = env.CLIP_ENCRYPT?.trim().toLowerCase();
  if (v === undefined || v === "" || v === "0" || v === "false" || v === "no" || v === "off") return false;
  if (v === "1" || v === "true" || v === "yes" || v === "on") return true;
  throw new ClipError("USAGE", `bad CLIP_ENCRYPT ${JSON.stringify(env.CLIP_ENCRYPT)}: 1 to seal every copy and put, 0 not to`);
}

/**
 * The key a write seals with, when it is to be sealed: read now, so that a
 * missing or unusable key fails the command (exit 1: `clip: no key: run
 * clip keygen`) before stdin is read or a server is asked. Never a plain
 * write instead.
 */
export async function sealingKey(flags: { encrypt?: unknown; keyFile?: unknown }): Promise<Key | undefined> {
  if (!wantsEncrypt(flags)) return undefined;
  const { requireKey } = await import("../crypto/key.ts");
  return requireKey({ keyFile: keyFileFlag(flags.keyFile) });
}

/** --key-file's value, checked. */
export function keyFileFlag(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string" && typeof v !== "number") throw new ClipError("USAGE", "--key-file needs a file, e.g. --key-file ~/.config/clip/key");
  return String(v);
}
