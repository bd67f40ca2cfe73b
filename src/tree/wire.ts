// What the tree says on the wire between servers (docs/TREE.md): a write as
// request/event meta (its value travels as the message's body), the events
// of a join stream, and one server's description in `tree`. Everything a
// peer sends is checked here before it touches the store.

import { ClipError } from "../protocol/errors.ts";
import type { Entry, WriteOp } from "../server/state.ts";
import type { Version } from "../server/version.ts";

/** How far ahead of our clock a peer's version may be (clocks of one tree are assumed roughly in sync). */
const MAX_SKEW_MS = 24 * 3600 * 1000;

/** A write without its value: what travels in meta. */
export interface OpMeta {
  key: string;
  ver: Version;
  del?: boolean;
  clear?: string;
  ifVer?: Version;
  meta: Record<string, unknown>;
  /** Whether the write has a value (a delete has none; nor does a write relayed after it lost). */
  has: boolean;
}

export function opToMeta(op: WriteOp, withValue = true): OpMeta {
  const m: OpMeta = { key: op.key, ver: op.ver, meta: op.meta, has: withValue && op.value !== null };
  if (op.del) m.del = true;
  if (op.clear !== undefined) m.clear = op.clear;
  if (op.ifVer !== undefined) m.ifVer = op.ifVer;
  return m;
}

function parseVersion(raw: unknown, bad: (why: string) => ClipError): Version {
  const ver = raw as Record<string, unknown> | undefined;
  if (!ver || typeof ver.t !== "number" || !Number.isSafeInteger(ver.t) || ver.t < 0 || typeof ver.n !== "string" || ver.n.length > 64) throw bad("version");
  // A version far in the future would win every merge and drag every clock along with it.
  if (ver.t > (Date.now() + MAX_SKEW_MS) * 1000) throw bad(`a version ${Math.round(ver.t / 1000 - Date.now())} ms in the future`);
  return { t: ver.t, n: ver.n };
}

/** Checks a write a peer sent; throws PROTOCOL naming what is wrong. */
export function parseOpMeta(raw: unknown): OpMeta {
  const bad = (why: string) => new ClipError("PROTOCOL", `bad write from a peer: ${why}`);
  if (!raw || typeof raw !== "object") throw bad("not an object");
  const m = raw as Record<string, unknown>;
  if (typeof m.key !== "string" || m.key.length === 0 || m.key.length > 4096) throw bad("key");
  const ver = parseVersion(m.ver, bad);
  if (m.del !== undefined && typeof m.del !== "boolean") throw bad("del");
  if (m.clear !== undefined && typeof m.clear !== "string") throw bad("clear");
  if (!m.meta || typeof m.meta !== "object" || Array.isArray(m.meta)) throw bad("meta");
  return {
    key: m.key,
    ver,
    del: m.del === true ? true : undefined,
    clear: typeof m.clear === "string" ? m.clear : undefined,
    ifVer: m.ifVer !== undefined ? parseVersion(m.ifVer, bad) : undefined,
    meta: m.meta as Record<string, unknown>,
    has: m.has === true,
  };
}

export function metaToOp(m: OpMeta, value: WriteOp["value"]): WriteOp {
  const op: WriteOp = { key: m.key, ver: m.ver, meta: m.meta, value: m.del ? null : value };
  if (m.del) op.del = true;
  if (m.clear !== undefined) op.clear = m.clear;
  if (m.ifVer !== undefined) op.ifVer = m.ifVer;
  return op;
}

/** An entry or history row as a snapshot carries it (its value follows as the event's body). */
export interface RowMeta {
  key: string;
  ver: Version;
  rev: number;
  del?: boolean;
  meta: Record<string, unknown>;
  /** A value follows (false for tombstones, and when skipped: the child holds this version). */
  has: boolean;
  /** The child said it holds this version's value (or it is held already): no bytes follow. */
  skip?: boolean;
}

export function rowToMeta(e: Entry, send: boolean): RowMeta {
  const m: RowMeta = { key: e.key, ver: e.ver, rev: e.rev, meta: e.meta, has: send && e.value !== null };
  if (e.deleted) m.del = true;
  if (!send && e.value !== null) m.skip = true;
  return m;
}

export function parseRowMeta(raw: unknown): RowMeta {
  const bad = (why: string) => new ClipError("PROTOCOL", `bad snapshot row from the parent: ${why}`);
  if (!raw || typeof raw !== "object") throw bad("not an object");
  const m = raw as Record<string, unknown>;
  if (typeof m.key !== "string" || m.key.length === 0 || m.key.length > 4096) throw bad("key");
  const ver = parseVersion(m.ver, bad);
  if (typeof m.rev !== "number" || !Number.isSafeInteger(m.rev) || m.rev < 0) throw bad("rev");
  if (!m.meta || typeof m.meta !== "object" || Array.isArray(m.meta)) throw bad("meta");
  return { key: m.key, ver, rev: m.rev, del: m.del === true ? true : undefined, meta: m.meta as Record<string, unknown>, has: m.has === true, skip: m.skip === true ? true : undefined };
}

/**
 * Events on a join stream, parent → child, in this order: `path`, the
 * snapshot (each key's `entry`, then its history `row`s, newest first),
 * `synced`, then `op`s and the rest as they come. A parent relays the
 * snapshot events it takes from its own parent (a merge) to its children the
 * same way, so a subtree stays identical to its root.
 */
export type JoinEvent =
  | { t: "path"; path: string[]; parent: NodeInfo } // the parent's ancestors (root first) and itself; re-sent when they change
  | ({ t: "entry"; dropped: number } & RowMeta) // a key as the parent holds it: adopt it (and the history rows that follow)
  | ({ t: "row" } & RowMeta) // one history row of the last `entry`, newest first
  | { t: "synced"; rev: number; entries: number; lineage: string } // the snapshot is whole; it stood at revision `rev` of numbering `lineage`
  | { t: "op"; rev: number; op: OpMeta; held?: boolean } // the root's `rev`-th write; its value follows, unless held (the child has its bytes)
  | { t: "reseq"; rev: number; lineage: string } // the numbering above changed (a merge, a split): continue from `rev`
  | { t: "msg"; topic: string; msg: Record<string, unknown> } // a bus message (chat), in the root's order
  | { t: "beat"; rev: number }; // the parent is alive and at `rev` (lag)

/** One server as `clip tree` and `clip status` show it. */
export interface NodeInfo {
  id: string;
  name: string;
  /** TCP addresses it listens on. */
  addrs: string[];
  role: "root" | "child";
  clients: number;
  rev: number;
  children?: NodeInfo[];
}

/** Every id in a described subtree. */
export function subtreeIds(n: NodeInfo | undefined, out: string[] = []): string[] {
  if (!n) return out;
  out.push(n.id);
  for (const c of n.children ?? []) subtreeIds(c, out);
  return out;
}

/** Checks a subtree a peer described; bounded in depth and size. */
export function parseNodeInfo(raw: unknown, depth = 0): NodeInfo {
  const bad = () => new ClipError("PROTOCOL", "bad tree description from a peer");
  if (!raw || typeof raw !== "object" || depth > 64) throw bad();
  const n = raw as Record<string, unknown>;
  if (typeof n.id !== "string" || typeof n.name !== "string") throw bad();
  const children = Array.isArray(n.children) ? n.children.slice(0, 256).map((c) => parseNodeInfo(c, depth + 1)) : [];
  return {
    id: n.id.slice(0, 64),
    name: n.name.slice(0, 128),
    addrs: Array.isArray(n.addrs) ? n.addrs.filter((a): a is string => typeof a === "string").slice(0, 8) : [],
    role: n.role === "root" ? "root" : "child",
    clients: typeof n.clients === "number" ? n.clients : 0,
    rev: typeof n.rev === "number" ? n.rev : 0,
    children,
  };
}

/** A version as a map key. */
export function verKey(v: Version): string {
  return `${v.t}/${v.n}`;
}
