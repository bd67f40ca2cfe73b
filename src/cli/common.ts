// What every client command shares: which server, which token, one client.

import { Client } from "../client/client.ts";
import { clientAddress } from "../net/address.ts";
import { ClipError } from "../protocol/errors.ts";
import { checkGroupName } from "../protocol/messages.ts";
import { keyFileFlag } from "./keys.ts";

export interface ClientFlags {
  server?: string;
  token?: string;
  tokenFile?: string;
  tlsCa?: string;
  /** The key that opens sealed values (end-to-end encryption); read only if one arrives. */
  keyFile?: string;
}

/** Why a file could not be read, in a few words: "no such file", "permission denied". */
export function fileProblem(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "no such file";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EISDIR") return "is a directory";
  if (code === "ENOTDIR") return "a part of the path is not a directory";
  if (code === "ELOOP") return "too many symbolic links";
  return (e as Error).message.replace(/^[A-Z]+: /, "").replace(/, (open|stat|read) '.*'$/, "");
}

/**
 * A small file that holds one secret (a token, a group's secret), trimmed:
 * a missing, unreadable or empty one is an error in our words, exit 1 (as
 * cat and cp say a missing file), naming the flag it came from.
 */
export function readSecretFile(path: string, what: string): string {
  let text: string;
  try {
    // Loaded here, not at the top: node:fs costs startup time every command would pay.
    const { readFileSync } = require("node:fs") as typeof import("node:fs");
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ClipError("UNAVAILABLE", `cannot read ${what} ${path}: ${fileProblem(e)}`, { cause: e });
  }
  const t = text.trim();
  if (!t) throw new ClipError("UNAVAILABLE", `cannot read ${what} ${path}: it is empty`);
  return t;
}

/**
 * The cluster token: --token-file, then CLIP_TOKEN, then --token (SPEC's
 * order of preference). argv is visible to every user, so --token warns.
 */
export function readToken(flags: { token?: unknown; tokenFile?: unknown }, who: "client" | "server", what = "the token file"): string | undefined {
  if (typeof flags.tokenFile === "string") return readSecretFile(flags.tokenFile, what);
  if (process.env.CLIP_TOKEN) return process.env.CLIP_TOKEN;
  if (flags.token !== undefined && flags.token !== true) {
    process.stderr.write(`clip: warning: --token is visible to other users in the process list; prefer --token-file or CLIP_TOKEN (${who})\n`);
    return String(flags.token);
  }
  return undefined;
}

/**
 * The command's connection. A command says what it is in its hello: one-shot
 * (the default: it ends with its command; `clip apps` counts it without
 * listing it unless it opens a follow or a watch), or a named long-lived
 * session (`{ once: false, name: "shell" }`).
 */
export async function openClient(flags: ClientFlags, as: { once?: boolean; name?: string } = {}): Promise<Client> {
  const server = clientAddress(typeof flags.server === "string" ? flags.server : undefined);
  const token = server.kind === "tcp" ? readToken(flags, "client") : undefined;
  return Client.connect({ server, token, kind: "cli", once: as.once ?? true, name: as.name, tls: flags.tlsCa ? { ca: flags.tlsCa } : undefined, key: keyFileFlag(flags.keyFile) });
}

let warnedArgv = false;

/**
 * The group's secret: --secret-file F, else --secret S, else CLIP_SECRET.
 * argv is readable by every user of the machine (ps), so --secret warns,
 * once, as --token does.
 */
export function secretOf(flags: { secret?: unknown; secretFile?: unknown }): string | undefined {
  if (flags.secretFile !== undefined && flags.secretFile !== true) return readSecretFile(String(flags.secretFile), "the secret file");
  if (flags.secret !== undefined && flags.secret !== true) {
    if (!warnedArgv) process.stderr.write("clip: warning: --secret is visible to other users in the process list; prefer --secret-file or CLIP_SECRET\n");
    warnedArgv = true;
    return String(flags.secret);
  }
  const s = process.env.CLIP_SECRET;
  return s === undefined || s === "" ? undefined : s;
}

/** The kv commands' group and secret, from -g and --secret-file/--secret or the environment, checked before connecting. */
export function groupAndSecret(flags: { group?: unknown; secret?: unknown; secretFile?: unknown }): { group: string; secret: string } {
  const g = flags.group ?? process.env.CLIP_GROUP;
  if (g === undefined || g === "") throw new ClipError("USAGE", "no group: pass -g/--group G or set CLIP_GROUP");
  const group = checkGroupName(String(g));
  const secret = secretOf(flags);
  if (secret === undefined) throw new ClipError("USAGE", "no secret: pass --secret-file F or set CLIP_SECRET (clip group create prints it)");
  return { group, secret };
}

/** Seconds from a --timeout flag, checked. */
export function timeoutFlag(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new ClipError("USAGE", `bad --timeout ${JSON.stringify(v)}: give seconds, 0 or more, e.g. --timeout 2.5`);
  return n;
}

/** Sizes like 1G, 512M, 64k, or a byte count. */
export function parseSize(v: unknown, flag: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([kKmMgGtT]?)(i?[bB])?$/.exec(String(v));
  if (!m) throw new ClipError("USAGE", `bad ${flag} ${JSON.stringify(v)}: give bytes, or a size like 64k, 512M, 1G`);
  const mult = { "": 1, k: 1 << 10, m: 1 << 20, g: 1 << 30, t: 2 ** 40 }[m[2].toLowerCase() as "" | "k" | "m" | "g" | "t"];
  return Math.floor(Number(m[1]) * mult);
}
