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

/**
 * The cluster token: --token-file, then CLIP_TOKEN, then --token (SPEC's
 * order of preference). argv is visible to every user, so --token warns.
 */
export function readToken(flags: { token?: unknown; tokenFile?: unknown }, who: "client" | "server"): string | undefined {
  if (typeof flags.tokenFile === "string") {
    try {
      // Loaded here, not at the top: node:fs costs startup time every command would pay.
      const { readFileSync } = require("node:fs") as typeof import("node:fs");
      const t = readFileSync(flags.tokenFile, "utf8").trim();
      if (!t) throw new Error("the file is empty");
      return t;
    } catch (e) {
      throw new ClipError("USAGE", `cannot read the token file ${flags.tokenFile}: ${(e as Error).message}`);
    }
  }
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

/** The kv commands' group and secret, from -g/--secret or the environment, checked before connecting. */
export function groupAndSecret(flags: { group?: unknown; secret?: unknown }): { group: string; secret: string } {
  const g = flags.group ?? process.env.CLIP_GROUP;
  if (g === undefined || g === "") throw new ClipError("USAGE", "no group: pass -g/--group G or set CLIP_GROUP");
  const group = checkGroupName(String(g));
  const s = flags.secret ?? process.env.CLIP_SECRET;
  // Like --token: argv is readable by every user of the machine (ps).
  if (flags.secret !== undefined && flags.secret !== true && !warnedArgv) {
    warnedArgv = true;
    process.stderr.write("clip: warning: --secret is visible to other users in the process list; prefer CLIP_SECRET\n");
  }
  if (s === undefined || s === "" || s === true) throw new ClipError("USAGE", "no secret: pass --secret S or set CLIP_SECRET (clip group create prints it)");
  return { group, secret: String(s) };
}

/** Seconds from a --timeout flag, checked. */
export function timeoutFlag(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new ClipError("USAGE", `bad --timeout ${JSON.stringify(v)}: give seconds, e.g. --timeout 2.5`);
  return n;
}

/** Sizes like 1G, 512M, 64k, or a byte count. */
export function parseSize(v: unknown, flag: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([kKmMgGtT]?)(i?[bB])?$/.exec(String(v));
  if (!m) throw new ClipError("USAGE", `bad ${flag} ${JSON.stringify(v)}: give bytes, or a size like 64k, 512M, 1G`);
  const mult = { "": 1, k: 1 << 10, m: 1 << 20, g: 1 << 30, t: 2 ** 40 }[m[2].toLowerCase() as "" | "k" | "m" | "g" | "t"];
  return Math.floor(Number(m[1]) * mult);
}
