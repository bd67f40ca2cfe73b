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

/**
 * Checks a secret. Failures wait before answering, longer with each failure
 * from the same connection or against the same group, and attempts on one
 * connection are answered one at a time, so parallel guesses on one
 * connection do not dodge the delay.
 */
export function authenticate(node: ClipNode, s: Session, group: string, secret: string): Promise<void> {
  const attempt = s.secretChecks.then(async () => {
    if (s.state === "closed") throw new ClipError("LOST", "connection closed");
    const e = node.store.get(groupKey(group));
    const salt = typeof e?.meta.salt === "string" ? e.meta.salt : DUMMY_SALT;
    const hash = typeof e?.meta.hash === "string" ? e.meta.hash : DUMMY_HASH;
    const ok = sameHex(hashSecret(secret, salt), hash) && e !== undefined;
    const conn = `conn:${sessionNumber(s)}`;
    const grp = `group:${group}`;
    if (ok) {
      node.authDelay.succeed(conn);
      s.groups.set(group, { hash, since: Date.now() });
      return;
    }
    const wait = Math.max(node.authDelay.fail(conn), node.authDelay.fail(grp));
    node.log("warn", "bad group secret", `for group "${group}" from ${s.describe()}${e ? "" : " (no such group)"}; answering in ${wait} ms`);
    await Bun.sleep(wait);
    throw new ClipError("AUTH", AUTH_FAILED);
  });
  s.secretChecks = attempt.catch(() => {});
  return attempt;
}

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
        ? new ClipError("GROUP_DELETED", `group "${group}" was deleted`)
        : new ClipError("AUTH", `the secret of group "${group}" was rotated: reconnect with the new one`);
    if (s.changingGroup === group) {
      s.groups.delete(group);
      for (const w of [...s.watches.values()]) if (w.group === group) w.fail(err);
      continue;
    }
    node.log("info", hash === null ? "group deleted" : "group secret rotated", `closing ${s.describe()}, which used ${hash === null ? "" : "the old secret of "}"${group}"`);
    s.close("local", err);
  }
}

/** Runs an admin write on a group, marking the requesting session for enforce(). */
async function changing<T>(s: Session, group: string, fn: () => Promise<T>): Promise<T> {
  s.changingGroup = group;
  try {
    return await fn();
  } finally {
    s.changingGroup = null;
  }
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

  const secretEntry = (created: number) => {
    // A secret that starts with "-" would read as a flag: `--secret -x...` fails in every CLI parser.
    let secret = newSecret();
    while (secret.startsWith("-")) secret = newSecret();
    const salt = newSalt();
    return { secret, meta: { salt, hash: hashSecret(secret, salt), created, rotated: Date.now(), by: node.name } };
  };

  return {
    "group.create": {
      admin: true,
      check: checkName,
      async run({ meta }) {
        const group = checkGroupName(meta.group);
        if (node.store.get(groupKey(group))) throw new ClipError("EXISTS", `group "${group}" exists already (clip group rotate ${group} issues a new secret)`);
        const { secret, meta: m } = secretEntry(Date.now());
        // clear: keys left by a put that crossed an earlier deletion in the tree must not reappear.
        const rev = await node.submit({ op: { key: groupKey(group), ver: node.clock.now(), clear: keyPrefix(group), meta: m, value: null } });
        node.log("info", "group created", `"${group}"`);
        return { group, secret, rev };
      },
    },

    "group.rotate": {
      admin: true,
      check: checkName,
      async run({ meta, session }) {
        const group = checkGroupName(meta.group);
        const e = node.store.get(groupKey(group));
        if (!e) throw new ClipError("NOTFOUND", `no group "${group}"`);
        const { secret, meta: m } = secretEntry(Number(e.meta.created ?? Date.now()));
        const rev = await changing(session, group, () => node.submit({ op: { key: groupKey(group), ver: node.clock.now(), meta: m, value: null } }));
        node.log("info", "group secret rotated", `"${group}"`);
        return { group, secret, rev };
      },
    },

    "group.delete": {
      admin: true,
      check: checkName,
      async run({ meta, session }) {
        const group = checkGroupName(meta.group);
        if (!node.store.get(groupKey(group))) throw new ClipError("NOTFOUND", `no group "${group}"`);
        const keys = node.store.count(keyPrefix(group));
        // One write removes the group and its keys together, everywhere, in one place of the order.
        const op = { key: groupKey(group), ver: node.clock.now(), del: true, clear: keyPrefix(group), meta: { at: Date.now(), by: node.name }, value: null };
        const rev = await changing(session, group, () => node.submit({ op }));
        node.log("info", "group deleted", `"${group}" and its ${keys} keys`);
        return { group, keys, rev };
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
