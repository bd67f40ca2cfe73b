// apps: the applications connected to this server, and those that left
// in the last hour (an admin command).

import type { AppInfo } from "../client/kv.ts";
import type { Ctx } from "./context.ts";
import { ago, duration, jsonLine, table } from "./output.ts";

const time = (ms: number) => new Date(ms).toISOString().slice(11, 19);
const who = (a: AppInfo) => `${a.kind}${a.self ? " (this)" : ""}`;

export async function apps(ctx: Ctx, flags: { json?: boolean }): Promise<void> {
  const r = await (await ctx.client()).apps();
  if (flags.json) return ctx.write(jsonLine(r));
  const list = (xs: string[]) => (xs.length ? xs.join(",") : "-");
  let text = table(
    ["PID", "KIND", "GROUP", "SINCE", "FOR", "WATCHES"],
    r.apps.map((a) => [String(a.pid), who(a), list(a.groups), time(a.since), duration(a.duration), list(a.watches)]),
  );
  if (r.left.length > 0) {
    text += `\nleft in the last hour:\n`;
    text += table(
      ["PID", "KIND", "GROUP", "LEFT", "STAYED", "WATCHED"],
      r.left.map((a) => [String(a.pid), who(a), list(a.groups), `${time(a.left!)} (${ago(a.left!)})`, duration(a.duration), list(a.watches)]),
    );
  }
  await ctx.write(text);
}
