// `apps`: the applications (cli and library sessions, not peer servers, and
// HTTP event streams) connected to this server, and those that left in the
// last hour. A
// session is long-lived (a library, a shell, a chat, a watch or a follow)
// or a one-shot command (a `clip copy`, which said so in its hello and
// opened nothing that lasts): the two are kept apart, so that a flood of
// one-shot commands cannot push the long-lived departures out. Departures
// are kept in bounded rings; one-shot commands are also counted by the
// minute, so the hour's count stays right past what the ring holds.

import type { AppInfo, AppsReport } from "../../protocol/messages.ts";
import type { ClipNode } from "../node.ts";
import type { Handler, Session } from "../session.ts";
import { jsonValue } from "./groups.ts";

const KEEP_MS = 60 * 60_000;
const KEEP_MAX = 256;
const MINUTE = 60_000;

function describe(s: Session, now: number): AppInfo {
  return {
    pid: s.pid,
    kind: s.kind,
    name: s.name,
    oneShot: s.oneShot,
    remote: s.conn.remote,
    groups: [...s.groups.keys()],
    watches: [...new Set([...s.watches.values()].map((w) => w.name))],
    since: s.since,
    duration: Math.round((now - s.since) / 1000),
  };
}

/** Sessions that finished the handshake are apps; a connection that never said hello is not. */
const isApp = (s: Session) => s.kind !== "peer" && s.pid !== 0;

/** What left, newest last: the long-lived and the one-shot apart, and one-shot departures per minute. */
interface Departures {
  lasting: AppInfo[];
  oneShot: AppInfo[];
  /** [minute, count], oldest first: at most 61 of them. */
  perMinute: [number, number][];
}

/** Each server's departures (kept here so that every door reports the same). */
const departures = new WeakMap<ClipNode, Departures>();

/** An app that is not a socket session: an HTTP event stream (a web page, `curl -N`), told of by its door. */
export interface ExternalApp {
  kind: string;
  name: string;
  remote: string;
  groups: string[];
  watches: string[];
}

/** Each server's apps that are not sessions, connected now, with when they came. */
const external = new WeakMap<ClipNode, Map<ExternalApp, number>>();

function describeExternal(a: ExternalApp, since: number, now: number): AppInfo {
  return { pid: 0, kind: a.kind, name: a.name, oneShot: false, remote: a.remote, groups: a.groups, watches: a.watches, since, duration: Math.round((now - since) / 1000) };
}

/**
 * Lists `app` among the connected until the returned function is called
 * (once), then among those that left: how a door that keeps something open
 * without a session (an HTTP event stream) shows in `clip apps`.
 */
export function trackApp(node: ClipNode, app: ExternalApp): () => void {
  let live = external.get(node);
  if (!live) external.set(node, (live = new Map()));
  const since = Date.now();
  live.set(app, since);
  return () => {
    if (!live.delete(app)) return;
    const d = departures.get(node);
    if (!d) return;
    const now = Date.now();
    d.lasting.push({ ...describeExternal(app, since, now), left: now });
    prune(d, now);
  };
}

function prune(d: Departures, now: number): void {
  for (const left of [d.lasting, d.oneShot]) {
    while (left.length > 0 && (left.length > KEEP_MAX || now - left[0].left! > KEEP_MS)) left.shift();
  }
  while (d.perMinute.length > 0 && now - d.perMinute[0][0] * MINUTE > KEEP_MS + MINUTE) d.perMinute.shift();
}

/** `apps`: who is connected now and who left lately; `self` marks the asking session, if it came on one. */
export function appsReport(node: ClipNode, self: Session | null): AppsReport {
  const now = Date.now();
  const d = departures.get(node) ?? { lasting: [], oneShot: [], perMinute: [] };
  prune(d, now);
  const apps = [...node.sessions].filter((s) => isApp(s) && s.state === "ready").map((s) => ({ ...describe(s, now), ...(s === self ? { self: true } : {}) }));
  for (const [a, since] of external.get(node) ?? []) apps.push(describeExternal(a, since, now));
  const left = [...d.lasting, ...d.oneShot].sort((a, b) => b.left! - a.left!);
  // Whole minutes, so the count can be a minute generous at the far end: never short.
  const oneShotsLeft = d.perMinute.reduce((n, [m, c]) => (now - (m + 1) * MINUTE <= KEEP_MS ? n + c : n), 0);
  return { apps, left, oneShotsLeft };
}

export function appsHandlers(node: ClipNode): Record<string, Handler> {
  const d: Departures = { lasting: [], oneShot: [], perMinute: [] };
  departures.set(node, d);
  node.onSessionClosed((s) => {
    if (!isApp(s)) return;
    const now = Date.now();
    // Groups and watches as they were while connected (the close hooks have emptied watches).
    const info = { ...describe(s, now), watches: [...s.watched], left: now };
    if (info.oneShot) {
      d.oneShot.push(info);
      const minute = Math.floor(now / MINUTE);
      const last = d.perMinute[d.perMinute.length - 1];
      if (last && last[0] === minute) last[1]++;
      else d.perMinute.push([minute, 1]);
    } else d.lasting.push(info);
    prune(d, now);
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
