// Media types: what a value is, carried with it everywhere (SPEC "Types,
// revisions and history"). A writer may name it (--type, Content-Type);
// otherwise it is recognised from the value's first bytes: the common
// binary formats by their signatures first, then UTF-8 text, else octets.

import { ClipError } from "../protocol/errors.ts";

export const TEXT = "text/plain;charset=utf-8";
export const OCTETS = "application/octet-stream";

/** How many first bytes recognition looks at. */
export const SNIFF_BYTES = 4096;

const SIGNATURES: [number[], string, number?][] = [
  [[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "image/png"],
  [[0xff, 0xd8, 0xff], "image/jpeg"],
  [[0x47, 0x49, 0x46, 0x38, 0x37, 0x61], "image/gif"],
  [[0x47, 0x49, 0x46, 0x38, 0x39, 0x61], "image/gif"],
  [[0x25, 0x50, 0x44, 0x46, 0x2d], "application/pdf"],
  [[0x1f, 0x8b], "application/gzip"],
  [[0x50, 0x4b, 0x03, 0x04], "application/zip"],
  [[0x50, 0x4b, 0x05, 0x06], "application/zip"], // an empty archive
];

function startsWith(b: Uint8Array, sig: number[], at = 0): boolean {
  if (b.length < at + sig.length) return false;
  for (let i = 0; i < sig.length; i++) if (b[at + i] !== sig[i]) return false;
  return true;
}

/**
 * The media type of a value from its first bytes (up to SNIFF_BYTES; `whole`
 * says they are the whole value). A UTF-8 sequence cut at the end of a head
 * that is not the whole value still counts as text.
 */
export function sniff(head: Uint8Array, whole = head.length < SNIFF_BYTES): string {
  for (const [sig, type] of SIGNATURES) if (startsWith(head, sig)) return type;
  // RIFF....WEBP
  if (startsWith(head, [0x52, 0x49, 0x46, 0x46]) && startsWith(head, [0x57, 0x45, 0x42, 0x50], 8)) return "image/webp";
  return isUtf8(head, !whole) ? TEXT : OCTETS;
}

function isUtf8(b: Uint8Array, cutAllowed: boolean): boolean {
  // Control bytes other than tab, newlines and form feed make it binary, as `file` says.
  let ascii = true;
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d && c !== 0x0c && c !== 0x1b) return false;
    if (c > 0x7f) ascii = false;
  }
  if (ascii) return true; // most text: no decoder needed
  let end = b.length;
  if (cutAllowed) {
    // Drop a sequence cut in half at the end (at most 3 bytes of it).
    let k = end - 1;
    while (k >= 0 && k >= end - 3 && (b[k] & 0xc0) === 0x80) k--;
    if (k >= 0 && b[k] >= 0xc0) {
      const need = b[k] >= 0xf0 ? 4 : b[k] >= 0xe0 ? 3 : 2;
      if (end - k < need) end = k;
    }
  }
  return validUtf8(end === b.length ? b : b.subarray(0, end));
}

// node:buffer's isUtf8 checks without building a string; required at first use (an import costs every command's start).
let nativeIsUtf8: ((b: Uint8Array) => boolean) | null = null;
const strict = new TextDecoder("utf-8", { fatal: true });

function validUtf8(b: Uint8Array): boolean {
  nativeIsUtf8 ??= (require("node:buffer") as { isUtf8?: (b: Uint8Array) => boolean }).isUtf8 ?? decodes;
  return nativeIsUtf8(b);
}

function decodes(b: Uint8Array): boolean {
  try {
    strict.decode(b);
    return true;
  } catch {
    return false;
  }
}

// type "/" subtype, RFC 6838 restricted names, then parameters (;charset=utf-8).
const MEDIA_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(\s*;\s*[A-Za-z0-9!#$&^_.+-]+=("[^"\\\r\n]*"|[A-Za-z0-9!#$&^_.+-]+))*$/;

/** A media type as a writer gave it, checked: `type/subtype`, optional parameters; else a usage error. */
export function checkMediaType(raw: unknown, flag = "--type"): string {
  if (typeof raw !== "string" || raw.length > 255 || !MEDIA_RE.test(raw.trim())) {
    throw new ClipError("USAGE", `bad ${flag} ${JSON.stringify(raw ?? "")}: give a media type such as text/plain, image/png or application/json`);
  }
  return raw.trim();
}

/** Whether a type is text a terminal can show (for previews and `history`). */
export function isText(type: string): boolean {
  return /^text\//i.test(type) || /^application\/(json|xml|javascript|x-sh|yaml|toml)\b/i.test(type) || /\+(json|xml)\b/i.test(type);
}
