// `apps`: the applications (cli and library sessions, not peer servers)
// connected to this server, and those that left in the last hour. Departures
// are kept in a bounded ring: a flood of short connections cannot grow it.

import type { AppInfo, AppsReport } from "../../protocol/messages.ts";
import type { ClipNode } from "../node.ts";
import type { Handler, Session } from "../session.ts";
import { jsonValue } from "./groups.ts";

const KEEP_MS = 60 * 60_000;
const KEEP_MAX = 256;

function describe(s: Session, now: number): AppInfo {
  return {
    pid: s.pid,
    kind: s.kind,
    name: s.name,
    remote: s.conn.remote,
    groups: [...s.groups.keys()],
    watches: [...new Set([...s.watches.values()].map((w) => w.name))],
    since: s.since,
    duration: Math.round((now - s.since) / 1000),
  };
}

/** Sessions that finished the handshake are apps; a connection that never said hello is not. */
const isApp = (s: Session) => s.kind !== "peer" && s.pid !== 0;

/** Each server's departures, newest last (kept here so that every door reports the same). */
const departures = new WeakMap<ClipNode, AppInfo[]>();

function prune(left: AppInfo[], now: number): void {
  while (left.length > 0 && (left.length > KEEP_MAX || now - left[0].left! > KEEP_MS)) left.shift();
}

/** `apps`: who is connected now and who left lately; `self` marks the asking session, if it came on one. */
export function appsReport(node: ClipNode, self: Session | null): AppsReport {
  const now = Date.now();
  const left = departures.get(node) ?? [];
  prune(left, now);
  const apps = [...node.sessions].filter((s) => isApp(s) && s.state === "ready").map((s) => ({ ...describe(s, now), ...(s === self ? { self: true } : {}) }));
  return { apps, left: [...left].reverse() };
}

export function appsHandlers(node: ClipNode): Record<string, Handler> {
  const left: AppInfo[] = [];
  departures.set(node, left);
  node.onSessionClosed((s) => {
    if (!isApp(s)) return;
    const now = Date.now();
    // Groups and watches as they were while connected (the close hooks have emptied watches).
    left.push({ ...describe(s, now), watches: [...s.watched], left: now });
    prune(left, now);
  });

  return {
    apps: {
      admin: true,
      async run(ctx) {
        const report = appsReport(node, ctx.session);
        await ctx.reply({ count: report.apps.length }, jsonValue(report));
        return undefined;
      },
    },
  };
}
