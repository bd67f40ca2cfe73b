// Keys: entries "k/GROUP/KEY", written through node.submit, so they travel
// the tree with the same ordering, versions, history and merge rules as
// regions. Every kv request names its group, and the connection must have
// proved that group's secret first (kv.auth): one hash per connection, not
// per request.

import { ClipError } from "../../protocol/errors.ts";
import { checkGroupName, checkKey, type KeyInfo, optRevision } from "../../protocol/messages.ts";
import { eventOf, historyRows, pick, valueInfo, withValueInfo } from "../describe.ts";
import { follow } from "../follow.ts";
import type { ClipNode } from "../node.ts";
import type { Handler, Session } from "../session.ts";
import type { Entry } from "../store.ts";
import { markedSealed } from "../values.ts";
import { checkWriteMeta, submitValue } from "./clipboard.ts";
import { authenticate, groupDeleted, jsonValue, keyPrefix, requireMember } from "./groups.ts";

export const kvKey = (group: string, key: string) => `${keyPrefix(group)}${key}`;

export const keyNotFound = (group: string, key: string) => new ClipError("NOTFOUND", `no key ${JSON.stringify(key)} in group "${group}"`);

/** One key as listings and events show it. */
export function keyInfo(node: ClipNode, group: string, e: Entry): KeyInfo {
  return withValueInfo({ key: e.key.slice(keyPrefix(group).length) }, node.store, e);
}

/** The group's keys under `prefix`, as `kv.list` (and `clip kv list --json`, and GET /v1/kv/G) shows them. */
export function listKeys(node: ClipNode, group: string, prefix: string): KeyInfo[] {
  return node.store.list(kvKey(group, prefix)).map((e) => keyInfo(node, group, e));
}

/** Deletes a key through the tree's order (NOTFOUND when it is not there). */
export function deleteKey(node: ClipNode, group: string, key: string, ifRev: number | undefined): Promise<number> {
  if (!node.store.get(kvKey(group, key))) return Promise.reject(keyNotFound(group, key));
  return node.submit({ op: { key: kvKey(group, key), ver: node.clock.now(), del: true, meta: { at: Date.now(), by: node.name }, value: null }, ifRev });
}

/** A key write may land only while its group exists: it may have gone while the value streamed in. */
export function checkGroupLive(node: ClipNode, group: string): void {
  if (!node.store.get(`g/${group}`)) throw groupDeleted();
}

/** Checks names and membership before any value byte is stored. */
function checkKv(meta: Record<string, unknown>, s: Session): void {
  const group = checkGroupName(meta.group);
  checkKey(meta.key);
  requireMember(s, group);
}

export function kvHandlers(node: ClipNode): Record<string, Handler> {
  const store = node.store;

  // One event meta per change, shared by every watcher of the key: frozen, so
  // the session encodes the frame once for all of them (see request.ts sharedFrame).
  const eventMetas = new WeakMap<Entry, object>();
  const eventMeta = (group: string, e: Entry): object => {
    let m = eventMetas.get(e);
    if (!m) {
      const info = keyInfo(node, group, e);
      m = Object.freeze({ event: eventOf(e), ...info });
      eventMetas.set(e, m);
    }
    return m;
  };

  return {
    "kv.auth": {
      check(meta) {
        checkGroupName(meta.group);
        if (typeof meta.secret !== "string" || meta.secret.length === 0 || meta.secret.length > 1024) {
          throw new ClipError("AUTH", "a group secret is needed: --secret S or CLIP_SECRET");
        }
      },
      async run({ meta, session }) {
        const group = checkGroupName(meta.group);
        await authenticate(node, session, group, meta.secret as string);
        return { group };
      },
    },

    "kv.put": {
      value: "required",
      sealed: markedSealed,
      check(meta, s) {
        checkKv(meta, s);
        checkWriteMeta(meta);
      },
      run({ meta, upload }) {
        // check (checkKv) has validated group and key and the membership.
        const group = meta.group as string;
        const key = meta.key as string;
        // The group may have gone while the value streamed in (the session is then closing).
        checkGroupLive(node, group);
        return submitValue(node, kvKey(group, key), upload!, meta).then((rev) => ({ rev, size: upload!.stage.size }));
      },
    },

    /** kv.get {group, key, rev?, back?}: the value (of that revision, or that many values back). */
    "kv.get": {
      check(meta, s) {
        checkKv(meta, s);
        optRevision(meta, "rev");
        optRevision(meta, "back");
      },
      run(ctx) {
        const group = ctx.meta.group as string; // validated by checkKv
        const key = ctx.meta.key as string;
        const e = pick(store, kvKey(group, key), { rev: optRevision(ctx.meta, "rev"), back: optRevision(ctx.meta, "back") });
        if (!e) throw keyNotFound(group, key);
        ctx.reply(keyInfo(node, group, e), e.value); // never rejects: a failed send ends the stream itself
        return undefined;
      },
    },

    "kv.del": {
      check(meta, s) {
        checkKv(meta, s);
        optRevision(meta, "ifRev");
      },
      async run({ meta }) {
        const rev = await deleteKey(node, checkGroupName(meta.group), checkKey(meta.key), optRevision(meta, "ifRev"));
        return { rev };
      },
    },

    /** The keys as a JSON array in the value: a listing can outgrow a frame's 64 KiB meta. */
    "kv.list": {
      check(meta, s) {
        const group = checkGroupName(meta.group);
        if (meta.prefix !== undefined && meta.prefix !== "") checkKey(meta.prefix);
        requireMember(s, group);
      },
      async run(ctx) {
        const group = checkGroupName(ctx.meta.group);
        const prefix = typeof ctx.meta.prefix === "string" ? ctx.meta.prefix : "";
        const keys = listKeys(node, group, prefix);
        await ctx.reply({ count: keys.length }, jsonValue(keys));
        return undefined;
      },
    },

    /** kv.history {group, key}: the key's current entry and earlier rows, newest first, as JSON. */
    "kv.history": {
      check: checkKv,
      async run(ctx) {
        const rows = historyRows(store, kvKey(ctx.meta.group as string, ctx.meta.key as string));
        await ctx.reply({ count: rows.length }, jsonValue(rows));
        return undefined;
      },
    },

    /**
     * kv.watch {group, key | prefix, since?, lineage?}: first an EVT {event:
     * "watching", rev, lineage} once the watch is in place (a client can then
     * write and know it will be seen); with `since`, every change after that
     * revision still held (deletes and expiries too), in order; then one EVT
     * per change as this server applies them. No gap and no repeat at the
     * boundary: the replay and the subscription happen in one turn of the
     * loop. The request bounds the events pending per subscription: a reader
     * that falls behind gets SLOW.
     */
    "kv.watch": {
      check(meta, s) {
        const group = checkGroupName(meta.group);
        if (meta.key !== undefined) checkKey(meta.key);
        else if (typeof meta.prefix !== "string") throw new ClipError("USAGE", "kv.watch needs a key or a prefix");
        else if (meta.prefix !== "") checkKey(meta.prefix);
        optRevision(meta, "since");
        requireMember(s, group);
      },
      subscription: true,
      run(ctx) {
        const group = checkGroupName(ctx.meta.group);
        const key = typeof ctx.meta.key === "string" ? checkKey(ctx.meta.key) : undefined;
        const prefix = key === undefined ? String(ctx.meta.prefix) : undefined;
        const since = optRevision(ctx.meta, "since");
        const lineage = typeof ctx.meta.lineage === "string" ? ctx.meta.lineage : undefined;
        const full = key !== undefined ? kvKey(group, key) : kvKey(group, prefix!);
        const name = key !== undefined ? `${group}/${key}` : `${group}/${prefix}*`;
        const s = ctx.session;
        const send = (e: Entry) => {
          ctx.event(eventMeta(group, e), e.deleted ? null : e.value);
        };
        const ready = () => {
          s.watches.set(ctx.id, { group, name, fail: (err) => ctx.fail(err) });
          // What it watched, for the departures in `clip apps` (a few are enough).
          if (!s.watched.includes(name) && s.watched.length < 32) s.watched.push(name);
          s.lasting = true;
          ctx.event({ event: "watching", ...(key !== undefined ? { key } : { prefix }), rev: store.rev, lineage: node.lineage });
        };
        const unwatch = follow(node, key !== undefined ? { key: full, since, lineage } : { prefix: full, since, lineage }, send, ready);
        ctx.onCancel(() => {
          unwatch();
          s.watches.delete(ctx.id);
        });
        return undefined;
      },
    },
  };
}
