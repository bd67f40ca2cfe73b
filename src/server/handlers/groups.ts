// Groups: named spaces of keys, each guarded by a secret. A group is the
// store entry "g/NAME" whose meta holds a salted hash of its secret (never
// the secret), written through node.submit like every other write, so every
// server of the tree holds the registry and can authenticate its own
// applications, even when cut off from the root.
//
// A session proves a group's secret once (kv.auth) and then names the group
// on each kv request; what it proved is kept on the session (groups), so that
// a rotation or a deletion, wherever in the tree it was made, closes it.

import { ClipError } from "../../protocol/errors.ts";
import { checkGroupName, type GroupInfo } from "../../protocol/messages.ts";
import { hashSecret, newSalt, newSecret, sameHex } from "../auth.ts";
import type { ClipNode } from "../node.ts";
import type { Handler, Session } from "../session.ts";
import type { Value } from "../values.ts";

export const groupKey = (g: string) => `g/${g}`;
export const keyPrefix = (g: string) => `k/${g}/`;

/** One message for an unknown group and a wrong secret: a guesser learns nothing. */
const AUTH_FAILED = "unknown group or wrong secret (check -g/--group and --secret, or CLIP_GROUP and CLIP_SECRET)";

/** Throws unless the session proved this group's current secret. */
export function requireMember(s: Session, group: string): void {
  if (!s.groups.has(group)) throw new ClipError("AUTH", `this connection has not proved the secret of group "${group}" (send kv.auth first)`);
}

const enc = new TextEncoder();

/** A JSON document as a value: lists go in the body, since meta is capped at 64 KiB. */
export function jsonValue(v: unknown): Value {
  const bytes = enc.encode(JSON.stringify(v));
  return { size: bytes.length, bytes };
}

// A salt and hash that match nothing: unknown groups cost the same hashing as known ones.
const DUMMY_SALT = newSalt();
const DUMMY_HASH = hashSecret(newSecret(), DUMMY_SALT);

const sessionNumbers = new WeakMap<Session, number>();
let nextSessionNumber = 1;
function sessionNumber(s: Session): number {
  let n = sessionNumbers.get(s);
  if (n === undefined) sessionNumbers.set(s, (n = nextSessionNumber++));
  return n;
}

/** Checks waiting behind a failing one, per source: a source's attempts are answered one at a time. */
const lines = new Map<string, Promise<unknown>>();

/**
 * Checks a group's secret for whichever door asks (a socket connection, an
 * HTTP client's address: `source`; `who` names it in the log). Resolves
 * with the hash proved (a rotation changes it). Failures wait before
 * answering, longer with each failure from the same source or against the
 * same group; and a source's attempts are answered one at a time, so
 * parallel guesses do not dodge the delay. Synchronous when no attempt of
 * this source is waiting and the secret is right: a check costs one hash.
 */
export function proveSecret(node: ClipNode, source: string, who: string, group: string, secret: string): string | Promise<string> {
  const waiting = lines.get(source);
  if (waiting === undefined) {
    const r = checkSecret(node, source, who, group, secret);
    if (typeof r === "string") return r;
    queue(source, r);
    return r;
  }
  const r = waiting.then(() => checkSecret(node, source, who, group, secret));
  queue(source, r);
  return r;
}

function queue(source: string, p: Promise<unknown>): void {
  const settled = p.catch(() => {});
  lines.set(source, settled);
  // The last in line removes the entry: the map holds only sources with attempts waiting.
  settled.then(() => {
    if (lines.get(source) === settled) lines.delete(source);
  });
}

function checkSecret(node: ClipNode, source: string, who: string, group: string, secret: string): string | Promise<never> {
  const e = node.store.get(groupKey(group));
  const salt = typeof e?.meta.salt === "string" ? e.meta.salt : DUMMY_SALT;
  const hash = typeof e?.meta.hash === "string" ? e.meta.hash : DUMMY_HASH;
  if (sameHex(hashSecret(secret, salt), hash) && e !== undefined) {
    node.authDelay.succeed(source);
    return hash;
  }
  const wait = Math.max(node.authDelay.fail(source), node.authDelay.fail(`group:${group}`));
  node.log("warn", "bad group secret", `group "${group}"${e ? "" : " (no such group)"} from ${who}; answering in ${wait} ms`);
  return Bun.sleep(wait).then(() => {
    throw new ClipError("AUTH", AUTH_FAILED);
  });
}

/** A socket connection proves a group's secret (kv.auth); what it proved is kept on the session. */
export async function authenticate(node: ClipNode, s: Session, group: string, secret: string): Promise<void> {
  const hash = await proveSecret(node, `conn:${sessionNumber(s)}`, s.describe(), group, secret);
  if (s.state === "closed") throw new ClipError("LOST", "connection closed");
  s.groups.set(group, { hash, since: Date.now() });
}

/**
 * What ends a session's use of a deleted group, on every path (a kv watch,
 * the library, the shell, an HTTP event stream): exactly these words, which
 * scripts match (`clip: group deleted`); the watch knows its group already.
 */
export const groupDeleted = (): ClipError => new ClipError("GROUP_DELETED", "group deleted");

/**
 * Closes the sessions that proved an older secret of a group, or a deleted
 * group. The admin connection that made the change is spared (it must get
 * its answer: the new secret); it loses the group and its watches in it.
 */
function enforce(node: ClipNode, group: string, hash: string | null): void {
  for (const s of [...node.sessions]) {
    const m = s.groups.get(group);
    if (!m || m.hash === hash) continue;
    const err =
      hash === null
        ? groupDeleted()
        : new ClipError("AUTH", `the secret of group "${group}" was rotated: reconnect with the new one`);
    if (s.changingGroup === group) {
      s.groups.delete(group);
      for (const w of [...s.watches.values()]) if (w.group === group) w.fail(err);
      continue;
    }
    node.log("info", "session closed", `${s.describe()}: it used ${hash === null ? `group "${group}", now deleted` : `the old secret of group "${group}"`}`);
    s.close("local", err);
  }
}

/** Runs an admin write on a group, marking the requesting session (if the request came on one) for enforce(). */
async function changing<T>(s: Session | null, group: string, fn: () => Promise<T>): Promise<T> {
  if (!s) return fn();
  s.changingGroup = group;
  try {
    return await fn();
  } finally {
    s.changingGroup = null;
  }
}

function secretEntry(node: ClipNode, created: number) {
  // A secret that starts with "-" would read as a flag: `--secret -x...` fails in every CLI parser.
  let secret = newSecret();
  while (secret.startsWith("-")) secret = newSecret();
  const salt = newSalt();
  return { secret, meta: { salt, hash: hashSecret(secret, salt), created, rotated: Date.now(), by: node.name } };
}

/** Creates a group: its secret is in the answer, and nowhere else ever. */
export async function createGroup(node: ClipNode, group: string): Promise<{ group: string; secret: string; rev: number }> {
  if (node.store.get(groupKey(group))) throw new ClipError("EXISTS", `group "${group}" exists already (clip group rotate ${group} issues a new secret)`);
  const { secret, meta: m } = secretEntry(node, Date.now());
  // clear: keys left by a put that crossed an earlier deletion in the tree must not reappear.
  const rev = await node.submit({ op: { key: groupKey(group), ver: node.clock.now(), clear: keyPrefix(group), meta: m, value: null } });
  node.log("info", "group created", `"${group}"`);
  return { group, secret, rev };
}

/** Deletes a group and its keys; `by` is the session asking, if it came on one (it is spared, see enforce). */
export async function deleteGroup(node: ClipNode, group: string, by: Session | null): Promise<{ group: string; keys: number; rev: number }> {
  if (!node.store.get(groupKey(group))) throw new ClipError("NOTFOUND", `no group "${group}"`);
  const keys = node.store.count(keyPrefix(group));
  // One write removes the group and its keys together, everywhere, in one place of the order.
  const op = { key: groupKey(group), ver: node.clock.now(), del: true, clear: keyPrefix(group), meta: { at: Date.now(), by: node.name }, value: null };
  const rev = await changing(by, group, () => node.submit({ op }));
  node.log("info", "group deleted", `"${group}" and its ${keys} keys`);
  return { group, keys, rev };
}

function info(node: ClipNode, group: string): GroupInfo {
  const e = node.store.get(groupKey(group));
  if (!e) throw new ClipError("NOTFOUND", `no group "${group}" (clip group list shows them)`);
  let apps = 0;
  for (const s of node.sessions) if (s.groups.has(group)) apps++;
  return {
    group,
    keys: node.store.count(keyPrefix(group)),
    apps,
    created: Number(e.meta.created ?? 0),
    rotated: Number(e.meta.rotated ?? 0),
    by: String(e.meta.by ?? ""),
  };
}

const checkName = (meta: Record<string, unknown>) => {
  checkGroupName(meta.group);
};

/** Group requests (all admin), plus the watch that enforces rotations and deletions. */
export function groupHandlers(node: ClipNode): Record<string, Handler> {
  node.watchers.watchPrefix("g/", (c) => {
    const group = c.entry.key.slice(2);
    enforce(node, group, c.entry.deleted ? null : String(c.entry.meta.hash ?? ""));
  });

  return {
    "group.create": {
      admin: true,
      check: checkName,
      run({ meta }) {
        return createGroup(node, checkGroupName(meta.group));
      },
    },

    "group.rotate": {
      admin: true,
      check: checkName,
      async run({ meta, session }) {
        const group = checkGroupName(meta.group);
        const e = node.store.get(groupKey(group));
        if (!e) throw new ClipError("NOTFOUND", `no group "${group}"`);
        const { secret, meta: m } = secretEntry(node, Number(e.meta.created ?? Date.now()));
        const rev = await changing(session, group, () => node.submit({ op: { key: groupKey(group), ver: node.clock.now(), meta: m, value: null } }));
        node.log("info", "group secret rotated", `"${group}"`);
        return { group, secret, rev };
      },
    },

    "group.delete": {
      admin: true,
      check: checkName,
      run({ meta, session }) {
        return deleteGroup(node, checkGroupName(meta.group), session);
      },
    },

    "group.info": {
      admin: true,
      check: checkName,
      run({ meta }) {
        return info(node, checkGroupName(meta.group));
      },
    },

    "group.list": {
      admin: true,
      async run(ctx) {
        const groups = node.store.list("g/").map((e) => info(node, e.key.slice(2)));
        await ctx.reply({ count: groups.length }, jsonValue(groups));
        return undefined;
      },
    },
  };
}
