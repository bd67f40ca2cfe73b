// apps: the applications connected to this server, and the long-lived ones
// (libraries, shells, chats, watches, follows) that left in the last hour
// (an admin command). One-shot commands that left are only counted, unless
// --all lists them; --json gives everything, each marked by `oneShot`.

import type { AppInfo, AppsReport } from "../client/kv.ts";
import type { Ctx } from "./context.ts";
import { ago, dim, duration, jsonLine, table } from "./output.ts";

const time = (ms: number) => new Date(ms).toISOString().slice(11, 19);
/** No process to name: an HTTP event stream. */
const pid = (a: AppInfo) => (a.pid ? String(a.pid) : "-");
const who = (a: AppInfo) => `${a.kind}${a.name ? ` ${a.name}` : ""}${a.self ? " (this)" : ""}`;
const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** The text report: pure, so that it can be checked without a server. */
export function appsText(r: AppsReport, all: boolean): string {
  const list = (xs: string[]) => (xs.length ? xs.join(",") : "-");
  let text = table(
    ["PID", "KIND", "GROUP", "SINCE", "FOR", "WATCHES"],
    r.apps.map((a) => [pid(a), who(a), list(a.groups), time(a.since), duration(a.duration), list(a.watches)]),
  );
  const left = all ? r.left : r.left.filter((a) => !a.oneShot);
  if (left.length > 0) {
    text += `\nleft in the last hour:\n`;
    text += table(
      ["PID", "KIND", "GROUP", "LEFT", "STAYED", "WATCHED"],
      left.map((a) => [pid(a), who(a), list(a.groups), `${time(a.left!)} (${ago(a.left!)})`, duration(a.duration), list(a.watches)]),
    );
  }
  const oneShots = r.oneShotsLeft ?? 0;
  if (!all && oneShots > 0) {
    text += `${dim(`${left.length > 0 ? "and " : ""}${plural(oneShots, "one-shot command", "one-shot commands")} in the last hour; --all lists them`)}\n`;
  } else if (all && oneShots > r.left.filter((a) => a.oneShot).length) {
    text += `${dim(`(${plural(oneShots, "one-shot command", "one-shot commands")} in the last hour: the latest are listed)`)}\n`;
  }
  return text;
}

export async function apps(ctx: Ctx, flags: { json?: boolean; all?: boolean }): Promise<void> {
  const r = await (await ctx.client()).apps();
  await ctx.write(flags.json ? jsonLine(r) : appsText(r, !!flags.all));
}
