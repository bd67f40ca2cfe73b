// clip status: what this server is and holds.

import { type ClientFlags, withClient } from "./common.ts";
import { duration, json, out } from "./output.ts";

export async function status(flags: ClientFlags & { json?: boolean }): Promise<void> {
  const s = await withClient(flags, (c) => c.status());
  if (flags.json) return json(s);
  const children = (s.children as { name?: string; addr?: string }[]) ?? [];
  const lines = [
    ["name", String(s.name)],
    ["id", String(s.id)],
    ["version", String(s.version)],
    ["uptime", duration(Number(s.uptime))],
    ["role", String(s.role)],
    ["parent", s.parent ? describeParent(s.parent as { name?: string; addr?: string }, s.upstream) : s.upstream === "dialing" ? "- (retrying --connect)" : "-"],
    ["children", children.length ? children.map((c) => c.name ?? c.addr ?? "?").join(", ") : "-"],
    ["clients", String(s.clients)],
    ["regions", String(s.regions)],
    ["groups", String(s.groups)],
    ["keys", String(s.keys)],
    ["last write", `seq ${s.seq}`],
    ["storage", s.persistent ? "on disk" : "memory only"],
  ];
  if (s.lag !== undefined) lines.push(["lag", `${s.lag} write${s.lag === 1 ? "" : "s"} behind the parent`]);
  await out(lines.map(([k, v]) => `${k.padEnd(11)}${v}`).join("\n") + "\n");
}

function describeParent(p: { name?: string; addr?: string }, upstream: unknown): string {
  return `${p.name ?? "?"} (${p.addr ?? "?"})${upstream === "syncing" ? ", taking its snapshot" : ""}`;
}
