// Keys over HTTP: /v1/kv/G (the list), /v1/kv/G/K (GET with ?wait, PUT,
// DELETE) and /v1/watch/G (an event stream of a key or a prefix). The
// group's secret was proved by the app (Basic credentials) before any of
// these run; the rules are the server core's (handlers/kv.ts).

import { ClipError } from "../../protocol/errors.ts";
import { checkKey, keyEventJson } from "../../protocol/messages.ts";
import { eventOf } from "../../server/describe.ts";
import { checkWriteMeta } from "../../server/handlers/clipboard.ts";
import { groupDeleted, groupKey } from "../../server/handlers/groups.ts";
import { checkGroupLive, keyInfo, keyNotFound, kvKey, listKeys, deleteKey } from "../../server/handlers/kv.ts";
import type { Entry } from "../../server/state.ts";
import { receiveValue, valueResponse, writtenSealed, writtenType } from "../body.ts";
import { type Door, type Exchange, jsonResponse, type RouteHandler } from "../door.ts";
import { errorResponse } from "../errors.ts";
import { groupParam, keyParam, parseIfNoneMatch, parseLastEventId, parseQuery, parseSince, parseTtl, parseWait, text, writeCondition } from "../params.ts";
import { EVENT_VALUE_MAX } from "./regions.ts";
import { eventStream, frameCache, longPoll } from "../watch.ts";

/** A key's prefix as a query gives it: empty (the whole group) or a key's worth of text. */
const prefixParam = (raw: string) => (raw === "" ? "" : checkKey(raw));

export function keyRoutes(door: Door): Record<string, RouteHandler> {
  const { node } = door;
  // What `clip kv watch --json` prints; the value up to 64 KiB (larger ones are fetched with GET).
  const frame = frameCache((e) => {
    const group = e.key.slice(2, e.key.indexOf("/", 2));
    const info = { ...keyInfo(node, group, e), event: eventOf(e) };
    const small = !e.deleted && e.value && e.value.size <= EVENT_VALUE_MAX && typeof e.meta.sealed !== "string";
    const d = keyEventJson(group, info, small ? node.store.values.head(e.value!, e.value!.size) : undefined);
    if (info.encrypted) d.encrypted = info.encrypted;
    return d;
  });

  /** A change seen by a key's ?wait: its value, or 404 for a delete or an expiry (with its revision). */
  const changed = (x: Exchange, group: string, key: string, e: Entry): Response => {
    if (!e.deleted) return valueResponse(door, e, x.req.method === "HEAD");
    const how = eventOf(e) === "expire" ? "expired" : "was deleted";
    return errorResponse(new ClipError("NOTFOUND", `key ${JSON.stringify(key)} in group "${group}" ${how} (revision ${e.rev})`), { ETag: `"${e.rev}"`, "X-Clip-Event": eventOf(e) });
  };

  const get = (x: Exchange, group: string, key: string): Response | Promise<Response> => {
    const q = parseQuery(x.url, { wait: parseWait, since: parseSince });
    if (q.wait !== undefined) return longPoll(door, x, { key: kvKey(group, key), since: q.since }, q.wait, (e) => changed(x, group, key, e));
    if (q.since !== undefined) throw new ClipError("USAGE", "?since goes with ?wait: the next change after that revision");
    const e = node.store.get(kvKey(group, key));
    if (!e) throw keyNotFound(group, key);
    const notIf = parseIfNoneMatch(x.req.headers.get("if-none-match"));
    if (notIf && ("any" in notIf || notIf.revs.includes(e.rev))) return new Response(null, { status: 304, headers: { ETag: `"${e.rev}"`, "Cache-Control": "no-store" } });
    return valueResponse(door, e, x.req.method === "HEAD");
  };

  const put = async (x: Exchange, group: string, key: string): Promise<Response> => {
    const q = parseQuery(x.url, { ttl: parseTtl });
    const meta: Record<string, unknown> = { type: writtenType(x.req), ttl: q.ttl, ifRev: writeCondition(x.req.headers), sealed: writtenSealed(x.req) };
    checkWriteMeta(meta);
    const w = await receiveValue(door, x, kvKey(group, key), meta, () => checkGroupLive(node, group));
    return jsonResponse(door, w);
  };

  const del = async (x: Exchange, group: string, key: string): Promise<Response> => {
    parseQuery(x.url, {});
    const ifRev = writeCondition(x.req.headers);
    return jsonResponse(door, { rev: await deleteKey(node, group, key, ifRev) });
  };

  return {
    keys(x) {
      const group = groupParam(x.params.group);
      const q = parseQuery(x.url, { prefix: prefixParam });
      return jsonResponse(door, listKeys(node, group, q.prefix ?? ""));
    },
    key(x) {
      const group = groupParam(x.params.group);
      const key = keyParam(x.params.key);
      if (x.req.method === "PUT") return put(x, group, key);
      if (x.req.method === "DELETE") return del(x, group, key);
      return get(x, group, key);
    },
    watch(x) {
      const group = groupParam(x.params.group);
      const q = parseQuery(x.url, { key: text, prefix: text });
      if ((q.key === undefined) === (q.prefix === undefined)) throw new ClipError("USAGE", "give ?key=K or ?prefix=P (P may be empty: the whole group)");
      const since = parseLastEventId(x.req.headers.get("last-event-id"));
      const from = q.key !== undefined ? { key: kvKey(group, checkKey(q.key)), since } : { prefix: kvKey(group, prefixParam(q.prefix!)), since };
      const hash = x.proved?.hash;
      const watches = [q.key !== undefined ? `${group}/${q.key}` : `${group}/${q.prefix}*`];
      return eventStream(door, x, { groups: [group], watches }, from, frame, {
        // As on the socket: a deleted group or a rotated secret ends what was opened with the old one.
        endWhen: (end) =>
          node.watchers.watch(groupKey(group), (c) => {
            if (c.entry.deleted) end(groupDeleted());
            else if (c.entry.meta.hash !== hash) end(new ClipError("AUTH", `the secret of group "${group}" was rotated: reconnect with the new one`));
          }),
      });
    },
  };
}
