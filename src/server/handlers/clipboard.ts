// The clipboard: ten regions, each an entry "r/N" holding any bytes.

import { REGIONS, type RegionInfo, parseRegion } from "../../protocol/messages.ts";
import { replyValue } from "../handoff.ts";
import type { ClipNode } from "../node.ts";
import type { Handler, RequestContext } from "../session.ts";
import type { Entry } from "../store.ts";
import type { Value } from "../values.ts";

export const regionKey = (r: number) => `r/${r}`;

const checkRegion = (meta: Record<string, unknown>) => {
  parseRegion(meta.r);
};

const strict = new TextDecoder("utf-8", { fatal: true });

/** What `list` shows of a value: printable text, or that it is binary. Read from the value's first bytes. */
export function describeValue(node: ClipNode, value: Value | null): { preview: string; binary: boolean } {
  if (!value || value.size === 0) return { preview: "", binary: false };
  const head = node.store.values.head(value, 96);
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

function regionMeta(r: number, e: Entry | undefined) {
  return { r, size: e?.value?.size ?? 0, at: (e?.meta.at as number) ?? 0, by: (e?.meta.by as string) ?? "", rev: e?.rev ?? 0 };
}

export function clipboardHandlers(node: ClipNode): Record<string, Handler> {
  return {
    copy: {
      value: "required",
      check: checkRegion,
      async run(ctx) {
        const r = parseRegion(ctx.meta.r);
        const upload = ctx.upload!;
        const rev = await node.submit({ op: { key: regionKey(r), ver: node.clock.now(), meta: { at: Date.now(), by: node.name }, value: null }, upload });
        return { rev, size: upload.stage.size };
      },
    },

    paste: {
      check: checkRegion,
      async run(ctx) {
        const r = parseRegion(ctx.meta.r);
        const e = node.store.get(regionKey(r));
        await replyValue(ctx, regionMeta(r, e), e?.value ?? null);
        return undefined;
      },
    },

    /** wait {r, follow?}: the next write (RES), or with follow every later write (EVT each). */
    wait: {
      check: checkRegion,
      subscription: true,
      run(ctx: RequestContext) {
        const r = parseRegion(ctx.meta.r);
        const follow = ctx.meta.follow === true;
        const unwatch = node.watchers.watch(regionKey(r), (c) => {
          const m = regionMeta(r, c.entry);
          if (follow) {
            ctx.event(m, c.entry.value);
            return;
          }
          unwatch();
          ctx.reply(m, c.entry.value);
          ctx.end();
        });
        ctx.onCancel(unwatch);
        return undefined;
      },
    },

    list: {
      run() {
        const regions: RegionInfo[] = [];
        for (let r = 0; r < REGIONS; r++) {
          const e = node.store.get(regionKey(r));
          regions.push({ region: r, size: e?.value?.size ?? 0, at: (e?.meta.at as number) ?? 0, by: (e?.meta.by as string) ?? "", rev: e?.rev ?? 0, ...describeValue(node, e?.value ?? null) });
        }
        return { regions };
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
