// The clipboard over HTTP: the list, a region's value (GET, PUT, ?wait),
// and event streams of one region or all ten. Every rule is the server
// core's: the write path and its checks (handlers/clipboard.ts), the
// listing, follow() for waits and streams.

import { ClipError } from "../../protocol/errors.ts";
import { checkWriteMeta, listRegions, regionKey } from "../../server/handlers/clipboard.ts";
import { eventOf, typeOf } from "../../server/describe.ts";
import type { Entry } from "../../server/state.ts";
import { receiveValue, valueResponse, writtenSealed, writtenType } from "../body.ts";
import { type Door, type Exchange, jsonResponse, type RouteHandler } from "../door.ts";
import { parseIfNoneMatch, parseLastEventId, parseQuery, parseSince, parseTtl, parseWait, regionParam, writeCondition } from "../params.ts";
import { eventStream, frameCache, longPoll } from "../watch.ts";

/** Values up to this size travel inside their event (base64); larger ones are fetched. */
export const EVENT_VALUE_MAX = 64 << 10;

/** What an event of a region says (SPEC: rev, region, size, type, writer, value up to 64 KiB). */
function regionEvent(door: Door, e: Entry): Record<string, unknown> {
  const store = door.node.store;
  const region = Number(e.key.slice(2));
  const writer = String(e.meta.by ?? "");
  if (e.deleted) return { rev: e.rev, region, event: eventOf(e), size: 0, type: "", writer };
  const size = e.value?.size ?? 0;
  const sealed = typeof e.meta.sealed === "string";
  const d: Record<string, unknown> = { rev: e.rev, region, event: "put", size, type: typeOf(store, e), writer, at: Number(e.meta.at ?? 0) };
  if (typeof e.meta.expires === "number") d.expires = new Date(e.meta.expires).toISOString();
  // A sealed value is never previewed: its bytes are fetched by whoever holds the key.
  if (sealed) d.encrypted = e.meta.sealed;
  else if (e.value && size <= EVENT_VALUE_MAX) d.value = Buffer.from(store.values.head(e.value, size)).toString("base64");
  return d;
}

export function regionRoutes(door: Door): Record<string, RouteHandler> {
  const frame = frameCache((e) => regionEvent(door, e));

  const get = (x: Exchange): Response | Promise<Response> => {
    const r = regionParam(x.params.region);
    const q = parseQuery(x.url, { wait: parseWait, since: parseSince });
    const head = x.req.method === "HEAD";
    const key = regionKey(r);
    if (q.wait !== undefined) {
      // The next write after the request began (or after ?since); an expiry does not wake a wait.
      return longPoll(door, x, { key, since: q.since }, q.wait, (e) => (e.deleted ? null : valueResponse(door, e, head)));
    }
    if (q.since !== undefined) throw new ClipError("USAGE", "?since goes with ?wait: the next write after that revision");
    const e = door.node.store.get(key);
    if (!e) return new Response(null, { status: 204, headers: { "Cache-Control": "no-store" } });
    const notIf = parseIfNoneMatch(x.req.headers.get("if-none-match"));
    if (notIf && ("any" in notIf || notIf.revs.includes(e.rev))) return new Response(null, { status: 304, headers: { ETag: `"${e.rev}"`, "Cache-Control": "no-store" } });
    return valueResponse(door, e, head);
  };

  const put = async (x: Exchange): Promise<Response> => {
    const r = regionParam(x.params.region);
    const q = parseQuery(x.url, { ttl: parseTtl });
    const meta: Record<string, unknown> = { type: writtenType(x.req), ttl: q.ttl, ifRev: writeCondition(x.req.headers), sealed: writtenSealed(x.req) };
    checkWriteMeta(meta);
    const w = await receiveValue(door, x, regionKey(r), meta);
    return jsonResponse(door, w);
  };

  return {
    regions(x) {
      parseQuery(x.url, {});
      return jsonResponse(door, listRegions(door.node));
    },
    region(x) {
      return x.req.method === "PUT" ? put(x) : get(x);
    },
    regionEvents(x) {
      parseQuery(x.url, {});
      const since = parseLastEventId(x.req.headers.get("last-event-id"));
      const r = regionParam(x.params.region);
      return eventStream(door, x, { groups: [], watches: [`region ${r}`] }, { key: regionKey(r), since }, frame);
    },
    regionsEvents(x) {
      parseQuery(x.url, {});
      const since = parseLastEventId(x.req.headers.get("last-event-id"));
      return eventStream(door, x, { groups: [], watches: ["regions"] }, { prefix: "r/", since }, frame);
    },
  };
}
