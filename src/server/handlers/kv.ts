// Keys: entries "k/GROUP/KEY", written through node.submit, so they travel
// the tree with the same ordering, versions and merge rules as regions.
// Every kv request names its group, and the connection must have proved
// that group's secret first (kv.auth): one hash per connection, not per request.

import { ClipError } from "../../protocol/errors.ts";
import { checkGroupName, checkKey, type KeyInfo } from "../../protocol/messages.ts";
import type { ClipNode } from "../node.ts";
import type { Handler, Session } from "../session.ts";
import type { Entry } from "../store.ts";
import { authenticate, jsonValue, keyPrefix, requireMember } from "./groups.ts";

export const kvKey = (group: string, key: string) => `${keyPrefix(group)}${key}`;

/** Checks names and membership before any value byte is stored. */
function checkKv(meta: Record<string, unknown>, s: Session): void {
  const group = checkGroupName(meta.group);
  checkKey(meta.key);
  requireMember(s, group);
}

function keyInfo(group: string, e: Entry): KeyInfo {
  return { key: e.key.slice(keyPrefix(group).length), size: e.value?.size ?? 0, at: Number(e.meta.at ?? 0), by: String(e.meta.by ?? ""), rev: e.rev };
}

// One event meta per change, shared by every watcher of the key: frozen, so
// the session encodes the frame once for all of them (see sharedFrame).
const eventMetas = new WeakMap<Entry, object>();

function eventMeta(group: string, key: string, e: Entry): object {
  let m = eventMetas.get(e);
  if (!m) {
    m = Object.freeze(
      e.deleted ? { event: "del", key, rev: e.rev, at: Number(e.meta.at ?? Date.now()), by: String(e.meta.by ?? "") } : { event: "put", ...keyInfo(group, e) },
    );
    eventMetas.set(e, m);
  }
  return m;
}

export function kvHandlers(node: ClipNode): Record<string, Handler> {
  const notFound = (group: string, key: string) => new ClipError("NOTFOUND", `no key ${JSON.stringify(key)} in group "${group}"`);
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
      check: checkKv,
      async run({ meta, upload }) {
        // check (checkKv) has validated group and key and the membership.
        const group = meta.group as string;
        const key = meta.key as string;
        // The group may have gone while the value streamed in (the session is then closing).
        if (!node.store.get(`g/${group}`)) throw new ClipError("GROUP_DELETED", `group "${group}" was deleted`);
        const rev = await node.submit({ op: { key: kvKey(group, key), ver: node.clock.now(), meta: { at: Date.now(), by: node.name }, value: null }, upload });
        return { rev, size: upload!.stage.size };
      },
    },

    "kv.get": {
      check: checkKv,
      run(ctx) {
        const group = ctx.meta.group as string; // validated by checkKv
        const key = ctx.meta.key as string;
        const e = node.store.get(kvKey(group, key));
        if (!e) throw notFound(group, key);
        return ctx.reply(keyInfo(group, e), e.value).then(() => undefined);
      },
    },

    "kv.del": {
      check: checkKv,
      async run({ meta }) {
        const group = checkGroupName(meta.group);
        const key = checkKey(meta.key);
        if (!node.store.get(kvKey(group, key))) throw notFound(group, key);
        const rev = await node.submit({ op: { key: kvKey(group, key), ver: node.clock.now(), del: true, meta: { at: Date.now(), by: node.name }, value: null } });
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
        const keys = node.store.list(kvKey(group, prefix)).map((e) => keyInfo(group, e));
        await ctx.reply({ count: keys.length }, jsonValue(keys));
        return undefined;
      },
    },

    /**
     * kv.watch {group, key}: first an EVT {event: "watching"} once the watch is
     * in place (a client can then write and know it will be seen), then one EVT
     * per change, in the order this server applies them. The request bounds the
     * events pending per subscription: a reader that falls behind gets SLOW.
     */
    "kv.watch": {
      check: checkKv,
      subscription: true,
      run(ctx) {
        const group = checkGroupName(ctx.meta.group);
        const key = checkKey(ctx.meta.key);
        const name = `${group}/${key}`;
        const s = ctx.session;
        s.watches.set(ctx.id, { group, name, fail: (err) => ctx.fail(err) });
        // What it watched, for the departures in `clip apps` (a few are enough).
        if (!s.watched.includes(name) && s.watched.length < 32) s.watched.push(name);
        const unwatch = node.watchers.watch(kvKey(group, key), (c) => ctx.event(eventMeta(group, key, c.entry), c.entry.deleted ? null : c.entry.value));
        ctx.onCancel(() => {
          unwatch();
          s.watches.delete(ctx.id);
        });
        ctx.event({ event: "watching", key });
        return undefined;
      },
    },
  };
}
