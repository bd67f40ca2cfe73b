// How stored entries are shown and found: the facts listings, history and
// events carry (revision, size, type, times, expiry), a value picked by
// revision or by how far back it is, and the rows a watch resuming from a
// revision must be given first. One place for these rules, used by the
// socket's handlers and by HTTP alike.

import { ClipError } from "../protocol/errors.ts";
import type { HistoryRow, ValueInfo } from "../protocol/messages.ts";
import { SNIFF_BYTES, sniff } from "../value/mediatype.ts";
import { describeKey } from "./node.ts";
import type { Entry } from "./state.ts";
import type { Store } from "./store.ts";

/** What every listing and event says of a value. */
export function valueInfo(store: Store, e: Entry | undefined): ValueInfo {
  if (!e) return { rev: 0, size: 0, at: 0, by: "", type: "" };
  return withValueInfo({} as ValueInfo, store, e);
}

/** Adds valueInfo's fields to `info`, after what it already has (which stays first in its JSON). */
export function withValueInfo<T extends object>(base: T, store: Store, e: Entry): T & ValueInfo {
  const info = base as T & ValueInfo;
  info.rev = e.rev;
  info.size = e.value?.size ?? 0;
  info.at = Number(e.meta.at ?? 0);
  info.by = String(e.meta.by ?? "");
  info.type = typeOf(store, e);
  if (typeof e.meta.expires === "number" && !e.deleted) info.expires = new Date(e.meta.expires).toISOString();
  if (typeof e.meta.sealed === "string") info.encrypted = e.meta.sealed;
  return info;
}

/** The value's media type: as written, or (entries written before types existed) recognised now. */
export function typeOf(store: Store, e: Entry): string {
  if (typeof e.meta.type === "string") return e.meta.type;
  if (!e.value) return "";
  return sniff(store.values.head(e.value, SNIFF_BYTES), e.value.size <= SNIFF_BYTES);
}

const strict = new TextDecoder("utf-8", { fatal: true });

/** A printable preview of a value's start, or that it is binary; nothing for a sealed value. */
export function preview(store: Store, e: Entry | undefined): { preview: string; binary: boolean } {
  const value = e?.value;
  if (!value || value.size === 0) return { preview: "", binary: false };
  if (typeof e.meta.sealed === "string") return { preview: "", binary: true };
  const head = store.values.head(value, 96);
  let text: string | null = null;
  // A cut may split a UTF-8 sequence: try dropping up to 3 trailing bytes.
  for (let cut = 0; cut <= 3 && text === null && cut < head.length; cut++) {
    try {
      text = strict.decode(head.subarray(0, head.length - cut));
    } catch {}
  }
  // Control characters other than tab and newlines mean binary.
  if (text === null || /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) return { preview: "", binary: true };
  return { preview: text.replace(/\s+/g, " ").trim().slice(0, 64), binary: false };
}

/** What kind of write an entry is: a value, a delete or an expiry. */
export function eventOf(e: Entry): "put" | "del" | "expire" {
  if (!e.deleted) return "put";
  return e.meta.event === "expire" ? "expire" : "del";
}

/** `history`: the current entry and the earlier rows, newest first. */
export function historyRows(store: Store, key: string): HistoryRow[] {
  const cur = store.getAny(key);
  if (!cur) return [];
  return [cur, ...store.historyOf(key)].map((e, i) => {
    const info = valueInfo(store, e);
    // A deadline is news only for the value that holds it now.
    if (i > 0) delete info.expires;
    return { ...info, event: eventOf(e), ...(e.deleted ? {} : preview(store, e)) };
  });
}

/**
 * The entry holding the value asked for: at revision `rev`, or `back` values
 * before the current one (rows without a value are not counted), or the
 * current one. Not held, or a row without a value: NOTFOUND (exit 5).
 */
export function pick(store: Store, key: string, at: { rev?: number; back?: number }): Entry | undefined {
  if (at.rev === undefined && !at.back) return store.get(key);
  const name = describeKey(key);
  if (at.rev !== undefined) {
    const cur = store.getAny(key);
    const e = cur?.rev === at.rev ? cur : store.historyOf(key).find((r) => r.rev === at.rev);
    if (!e) throw new ClipError("NOTFOUND", `revision ${at.rev} of ${name} is not held${oldest(store, key)}`);
    if (e.deleted) throw new ClipError("NOTFOUND", `revision ${at.rev} of ${name} holds no value (it is a ${eventOf(e) === "expire" ? "expiry" : "delete"})`);
    return e;
  }
  if (at.back !== undefined && at.back > 0) {
    const earlier = store.historyOf(key).filter((r) => !r.deleted);
    const e = earlier[at.back - 1];
    if (!e) throw new ClipError("NOTFOUND", `${name} holds ${earlier.length} earlier value${earlier.length === 1 ? "" : "s"}, not ${at.back}`);
    return e;
  }
  return store.get(key);
}

function oldest(store: Store, key: string): string {
  const rows = [store.getAny(key), ...store.historyOf(key)].filter((e): e is Entry => !!e);
  return rows.length ? ` (the oldest held is ${rows[rows.length - 1].rev})` : "";
}

/**
 * What a watch resuming after revision `since` must be given first: every
 * row of `keys` newer than it, oldest first. Refused (NOTFOUND, exit 5) when
 * some of those rows are no longer held, or `since` was counted by another
 * numbering (`lineage`, from a tree that has since been healed); a `since`
 * ahead of the current revision is a usage error.
 */
export function replay(store: Store, keys: string[], since: number, lineage: { asked?: string; ours: string }): Entry[] {
  if (lineage.asked !== undefined && lineage.asked !== lineage.ours) {
    throw new ClipError("NOTFOUND", `revision ${since} is no longer held (the tree was renumbered since it was given; oldest is ${oldestHeld(store, keys)}): read the current value and watch from it`, { rev: oldestHeld(store, keys) });
  }
  if (since > store.rev) throw new ClipError("USAGE", `bad --since ${since}: the current revision is ${store.rev}`);
  const rows: Entry[] = [];
  for (const key of keys) {
    if (store.droppedRev(key) > since) {
      const m = oldestHeld(store, keys);
      throw new ClipError("NOTFOUND", `revision ${since} is no longer held (oldest is ${m}): read the current value and watch from it`, { rev: m });
    }
    const cur = store.getAny(key);
    if (cur && cur.rev > since) rows.push(cur);
    for (const r of store.historyOf(key)) if (r.rev > since) rows.push(r);
  }
  return rows.sort((a, b) => a.rev - b.rev);
}

/** The oldest revision from which every write to `keys` is still held. */
function oldestHeld(store: Store, keys: string[]): number {
  let m = 0;
  for (const k of keys) m = Math.max(m, store.droppedRev(k));
  return m;
}
