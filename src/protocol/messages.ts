// The vocabulary on the wire: request ops, what their meta carries, and the
// checks on names that both the CLI (before it sends anything) and the server
// (before it stores anything) apply. docs/PROTOCOL.md describes each op.

import { ClipError } from "./errors.ts";

export type PeerKind = "cli" | "lib" | "peer";

/** First request on every connection. */
export interface HelloMeta {
  op: "hello";
  v: number;
  kind: PeerKind;
  pid?: number;
  name?: string;
}

/** The server's answer to hello: who it is, and whether a token proof is due. */
export interface WelcomeMeta {
  v: number;
  server: string;
  id: string;
  /** "token": send an `auth` request before anything else; "none": ready now. */
  auth: "token" | "none";
  nonce?: string;
  /** True when this connection may use admin ops (unix socket, or proved token). */
  admin: boolean;
}

/** One region as `list` reports it (rev 0, type "": never written, or empty after an expiry). */
export interface RegionInfo extends ValueInfo {
  region: number;
  preview: string;
  binary: boolean;
}

export const REGIONS = 10;

/** Parses a region argument strictly: an integer 0..9 written in decimal, nothing else. */
export function parseRegion(raw: unknown): number {
  const s = typeof raw === "number" ? String(raw) : raw;
  if (typeof s !== "string" || !/^[0-9]$/.test(s)) {
    throw new ClipError("USAGE", `bad region ${JSON.stringify(raw ?? "")}: a region is an integer from 0 to 9`);
  }
  return Number(s);
}

const GROUP_RE = /^[A-Za-z0-9_.-]{1,64}$/;

export function checkGroupName(raw: unknown): string {
  if (typeof raw !== "string" || !GROUP_RE.test(raw)) {
    throw new ClipError("USAGE", `bad group name ${JSON.stringify(raw ?? "")}: use 1 to 64 of A-Z a-z 0-9 _ . -`);
  }
  return raw;
}

const utf8 = new TextEncoder();
export const MAX_KEY_BYTES = 1024;

export function checkKey(raw: unknown): string {
  if (typeof raw !== "string" || raw.length === 0) throw new ClipError("USAGE", "bad key: a key is 1 to 1024 bytes of UTF-8");
  // Lone surrogates cannot be UTF-8; TextEncoder would silently replace them.
  if (!raw.isWellFormed()) throw new ClipError("USAGE", "bad key: not valid UTF-8");
  // A UTF-16 unit is at most 3 bytes of UTF-8: most keys need no counting.
  if (raw.length * 3 <= MAX_KEY_BYTES) return raw;
  const n = utf8.encode(raw).length;
  if (n > MAX_KEY_BYTES) throw new ClipError("USAGE", `bad key: ${n} bytes, the limit is ${MAX_KEY_BYTES}`);
  return raw;
}

/** Reads a string field from request meta or fails with a PROTOCOL error naming it. */
export function str(meta: Record<string, unknown>, field: string): string {
  const v = meta[field];
  if (typeof v !== "string") throw new ClipError("PROTOCOL", `field "${field}" must be a string`);
  return v;
}

export function optNum(meta: Record<string, unknown>, field: string): number | undefined {
  const v = meta[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new ClipError("PROTOCOL", `field "${field}" must be a non-negative number`);
  return v;
}

/** One key as `kv.list` reports it. */
export interface KeyInfo extends ValueInfo {
  key: string;
}

/** A change of a key: what `kv watch` reports. */
export type KeyEvent = KeyInfo & { event: "put" | "del" | "expire" };

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * One change as `clip kv watch --json` prints it and HTTP's key event streams
 * send it: SPEC's fields first, then the rest; the value as UTF-8 text, or
 * base64 when it is not (none for del and expire, or when `value` is left out).
 */
export function keyEventJson(group: string, e: KeyEvent, value?: Uint8Array): Record<string, unknown> {
  const head = { rev: e.rev, key: e.key, event: e.event, type: e.type };
  const rest = { size: e.size, at: e.at, by: e.by, group, ...(e.expires ? { expires: e.expires } : {}), ...(e.encrypted ? { encrypted: e.encrypted } : {}) };
  if (e.event !== "put" || value === undefined) return { ...head, ...rest };
  let text: string | null = null;
  try {
    text = strictUtf8.decode(value);
  } catch {}
  return { ...head, value: text ?? Buffer.from(value).toString("base64"), encoding: text !== null ? "utf8" : "base64", ...rest };
}

/** One group as `group.info` and `group.list` report it. */
export interface GroupInfo {
  group: string;
  keys: number;
  /** Applications on the answering server that proved the secret. */
  apps: number;
  created: number;
  rotated: number;
  by: string;
}

/** One application as `apps` reports it. */
export interface AppInfo {
  pid: number;
  kind: string;
  /** What it calls itself: the CLI says "shell", "chat" or "desktop"; a library what it was given. */
  name: string;
  /** A one-shot command (a `clip copy`: its hello said so and it opened no watch, follow or chat); false for the long-lived. */
  oneShot: boolean;
  remote: string;
  /** Groups whose secret the app proved. */
  groups: string[];
  /** "group/key" of each open watch. */
  watches: string[];
  /** ms since the epoch */
  since: number;
  /** seconds connected (until now, or until it left) */
  duration: number;
  /** ms since the epoch; only for apps that left */
  left?: number;
  /** the app asking (only in the live list) */
  self?: boolean;
}

export interface AppsReport {
  apps: AppInfo[];
  /** Newest first: the long-lived that left in the last hour, and the latest one-shot commands (a bounded number of each). */
  left: AppInfo[];
  /** One-shot commands that ended in the last hour, all of them (left lists only the latest). */
  oneShotsLeft: number;
}

/** The longest --ttl: ten years (a deadline is a plain millisecond count). */
export const MAX_TTL_MS = 10 * 365 * 86400_000;

/**
 * A duration as users write it (SPEC "Expiry"): a positive integer followed
 * by s, m, h or d; a bare number is seconds. In milliseconds.
 */
export function parseDuration(raw: unknown, flag = "--ttl"): number {
  const m = typeof raw === "string" || typeof raw === "number" ? /^([0-9]{1,12})([smhd]?)$/.exec(String(raw).trim()) : null;
  const n = m ? Number(m[1]) : 0;
  const ms = n * { "": 1000, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m?.[2] ?? "") as "" | "s" | "m" | "h" | "d"];
  if (!m || n <= 0 || ms > MAX_TTL_MS) throw new ClipError("USAGE", `bad ${flag} ${JSON.stringify(raw ?? "")}: give a positive duration such as 45s, 10m, 2h or 7d (a bare number is seconds)`);
  return ms;
}

/** A revision or count as users write it: a non-negative integer. */
export function parseRevision(raw: unknown, flag: string): number {
  const s = typeof raw === "number" ? String(raw) : raw;
  if (typeof s !== "string" || !/^[0-9]{1,15}$/.test(s.trim())) throw new ClipError("USAGE", `bad ${flag} ${JSON.stringify(raw ?? "")}: give a whole number, 0 or more`);
  return Number(s.trim());
}

/** Reads an optional non-negative integer field of a request (a revision, a count). */
export function optRevision(meta: Record<string, unknown>, field: string): number | undefined {
  const v = meta[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw new ClipError("USAGE", `bad ${field} ${JSON.stringify(v)}: a whole number, 0 or more`);
  return v;
}

/** What a stored value is, as listings, history and events show it. */
export interface ValueInfo {
  rev: number;
  size: number;
  /** ms since the epoch */
  at: number;
  /** the server the write was made on */
  by: string;
  type: string;
  /** when it expires (RFC 3339, UTC), if it was written with --ttl */
  expires?: string;
  /** sealed on the client (end-to-end encryption): the key id; no preview */
  encrypted?: string;
}

/** One row of `history`: a value, or a delete or an expiry (no value). */
export interface HistoryRow extends ValueInfo {
  event: "put" | "del" | "expire";
  preview?: string;
  binary?: boolean;
}
