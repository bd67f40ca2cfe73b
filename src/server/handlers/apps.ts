// `apps`: the applications (cli and library sessions, not peer servers)
// connected to this server, and those that left in the last hour. Departures
// are kept in a bounded ring: a flood of short connections cannot grow it.

import type { AppInfo } from "../../protocol/messages.ts";
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

export function appsHandlers(node: ClipNode): Record<string, Handler> {
  const left: AppInfo[] = [];
  const prune = (now: number) => {
    while (left.length > 0 && (left.length > KEEP_MAX || now - left[0].left! > KEEP_MS)) left.shift();
  };
  node.onSessionClosed((s) => {
    if (!isApp(s)) return;
    const now = Date.now();
    // Groups and watches as they were while connected (the close hooks have emptied watches).
    left.push({ ...describe(s, now), watches: [...s.watched], left: now });
    prune(now);
  });

  return {
    apps: {
      admin: true,
      async run(ctx) {
        const now = Date.now();
        prune(now);
        const apps = [...node.sessions].filter((s) => isApp(s) && s.state === "ready").map((s) => ({ ...describe(s, now), ...(s === ctx.session ? { self: true } : {}) }));
        await ctx.reply({ count: apps.length }, jsonValue({ apps, left: [...left].reverse() }));
        return undefined;
      },
    },
  };
}
