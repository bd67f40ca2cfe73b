// The clipboard: ten regions, each an entry "r/N" holding any bytes with
// its media type, revision and history.

import { ClipError } from "../../protocol/errors.ts";
import { MAX_TTL_MS, REGIONS, type RegionInfo, optRevision, parseRegion } from "../../protocol/messages.ts";
import { checkMediaType } from "../../value/mediatype.ts";
import { historyRows, pick, preview, valueInfo } from "../describe.ts";
import { follow as followEntries } from "../follow.ts";
import { replyValue } from "../handoff.ts";
import type { ClipNode } from "../node.ts";
import type { Handler, RequestContext } from "../session.ts";
import type { Entry } from "../store.ts";
import { markedSealed } from "../values.ts";
import type { Upload } from "../upload.ts";
import { jsonValue } from "./groups.ts";

export const regionKey = (r: number) => `r/${r}`;

/**
 * What a write request may carry besides its value, checked before a byte
 * is stored: the media type, a time to live (ms), a revision it must find.
 */
export function checkWriteMeta(meta: Record<string, unknown>): void {
  if (meta.type !== undefined) checkMediaType(meta.type);
  if (meta.ttl !== undefined && (typeof meta.ttl !== "number" || !Number.isSafeInteger(meta.ttl) || meta.ttl <= 0 || meta.ttl > MAX_TTL_MS)) {
    throw new ClipError("USAGE", `bad ttl ${JSON.stringify(meta.ttl)}: a positive number of milliseconds, at most ten years`);
  }
  optRevision(meta, "ifRev");
  if (meta.sealed !== undefined && (typeof meta.sealed !== "string" || !/^[0-9a-f]{16}$/.test(meta.sealed))) throw new ClipError("USAGE", "bad sealed: a key id of 16 hex digits");
}

/** The facts a write stores with its value: who, when, its type and deadline when given, sealed by which key. */
export function writeMeta(node: ClipNode, meta: Record<string, unknown>): Record<string, unknown> {
  const m: Record<string, unknown> = { at: Date.now(), by: node.name };
  if (typeof meta.type === "string") m.type = checkMediaType(meta.type);
  if (typeof meta.ttl === "number") m.expires = Date.now() + meta.ttl;
  if (typeof meta.sealed === "string") m.sealed = meta.sealed;
  return m;
}

/**
 * Stores a value arriving in `upload` at `key`, through the tree's order:
 * what copy, kv.put and HTTP's PUT all do. `meta` was checked (checkWriteMeta).
 * Resolves with the write's revision once it is applied here (and durable).
 */
export function submitValue(node: ClipNode, key: string, upload: Upload, meta: Record<string, unknown>): Promise<number> {
  const op = { key, ver: node.clock.now(), meta: writeMeta(node, meta), value: null };
  return node.submit({ op, upload, ifRev: optRevision(meta, "ifRev") });
}

/** The ten regions, as `list` (and `clip list --json`, and GET /v1/regions) shows them. */
export function listRegions(node: ClipNode): RegionInfo[] {
  const regions: RegionInfo[] = [];
  for (let r = 0; r < REGIONS; r++) {
    const e = node.store.get(regionKey(r));
    regions.push({ region: r, ...valueInfo(node.store, e), ...preview(node.store, e) });
  }
  return regions;
}

function regionMeta(node: ClipNode, r: number, e: Entry | undefined) {
  return { r, ...valueInfo(node.store, e && !e.deleted ? e : undefined) };
}

export function clipboardHandlers(node: ClipNode): Record<string, Handler> {
  const store = node.store;
  return {
    copy: {
      value: "required",
      sealed: markedSealed,
      check(meta) {
        parseRegion(meta.r);
        checkWriteMeta(meta);
      },
      async run(ctx) {
        const r = parseRegion(ctx.meta.r);
        const upload = ctx.upload!;
        const rev = await submitValue(node, regionKey(r), upload, ctx.meta);
        return { rev, size: upload.stage.size };
      },
    },

    /** paste {r, rev?, back?}: the value (of that revision, or that many values back), streamed. */
    paste: {
      check(meta) {
        parseRegion(meta.r);
        optRevision(meta, "rev");
        optRevision(meta, "back");
      },
      async run(ctx) {
        const r = parseRegion(ctx.meta.r);
        const e = pick(store, regionKey(r), { rev: optRevision(ctx.meta, "rev"), back: optRevision(ctx.meta, "back") });
        await replyValue(ctx, regionMeta(node, r, e), e?.value ?? null);
        return undefined;
      },
    },

    /**
     * wait {r, follow?, since?, lineage?, expire?}: the next write (RES), or
     * with follow every later write (EVT each). A follow starts with an EVT
     * {watching, rev, lineage} once it is in place; with `since`, the writes
     * after that revision that are still held come first, then the live ones,
     * with no gap and no repeat (one turn of the loop: nothing can come in
     * between). An expiry does not wake a wait; a follow that asks for
     * `expire` gets an EVT {event: "expire"} for it.
     */
    wait: {
      check(meta) {
        parseRegion(meta.r);
        optRevision(meta, "since");
      },
      subscription: true,
      run(ctx: RequestContext) {
        const r = parseRegion(ctx.meta.r);
        const key = regionKey(r);
        const follow = ctx.meta.follow === true;
        const since = optRevision(ctx.meta, "since");
        const expire = follow && ctx.meta.expire === true;
        const lineage = typeof ctx.meta.lineage === "string" ? ctx.meta.lineage : undefined;
        const send = (e: Entry): boolean => {
          if (e.deleted) {
            if (expire) ctx.event({ event: "expire", r, rev: e.rev });
            return false;
          }
          if (follow) ctx.event(regionMeta(node, r, e), e.value);
          else {
            ctx.reply(regionMeta(node, r, e), e.value);
            ctx.end();
          }
          return !follow;
        };
        const s = ctx.session;
        const ready = () => {
          if (!follow) return;
          // A follow lasts: `clip apps` lists it (as a watch of the region) however its client introduced itself.
          const name = `region ${r}`;
          s.lasting = true;
          s.watches.set(ctx.id, { group: "", name, fail: (err) => ctx.fail(err) });
          if (!s.watched.includes(name) && s.watched.length < 32) s.watched.push(name);
          ctx.event({ watching: true, r, rev: store.rev, lineage: node.lineage });
        };
        const unfollow = followEntries(node, { key, since, lineage }, send, ready);
        ctx.onCancel(() => {
          unfollow();
          s.watches.delete(ctx.id);
        });
        return undefined;
      },
    },

    list: {
      run() {
        return { regions: listRegions(node) };
      },
    },

    /** history {r}: the region's current entry and earlier rows, newest first, as JSON (the value). */
    history: {
      check(meta) {
        parseRegion(meta.r);
      },
      async run(ctx) {
        const rows = historyRows(store, regionKey(parseRegion(ctx.meta.r)));
        await ctx.reply({ count: rows.length }, jsonValue(rows));
        return undefined;
      },
    },

    status: {
      admin: true,
      run() {
        return node.status();
      },
    },
  };
}
