// How reports look as text: shared by the one-shot commands and `clip shell`,
// so both show the same thing. Pure functions: data in, text out (with a
// final newline); `human` picks sizes for people (at a terminal) or exact
// byte counts (in a pipe).

import type { GroupInfo, HistoryRow, KeyInfo, RegionInfo } from "../protocol/messages.ts";
import { ago, bold, dim, duration, humanSize, table } from "./output.ts";

const size = (n: number, human: boolean) => (human ? humanSize(n) : String(n));

/** The media type as a column: the common text type spelled short. */
const typeCell = (t: string | undefined) => (!t ? "-" : t === "text/plain;charset=utf-8" ? "text" : t);

/** What a preview cell says: the text, or what kind of bytes they are. */
function previewCell(v: { preview?: string; binary?: boolean; encrypted?: string; size: number; expires?: string }): string {
  const base = v.encrypted ? `encrypted (key ${v.encrypted})` : v.binary ? `binary, ${humanSize(v.size)}` : (v.preview ?? "");
  return v.expires ? `${base}${base ? "  " : ""}${dim(`expires ${until(v.expires)}`)}` : base;
}

/** How long until an RFC 3339 deadline, for people. */
function until(iso: string): string {
  const s = Math.max(0, Math.round((Date.parse(iso) - Date.now()) / 1000));
  return s < 60 ? `in ${s}s` : `in ${duration(s)}`;
}

export function regionsTable(regions: RegionInfo[], human: boolean): string {
  const rows = regions.map((g) => [String(g.region), g.at ? size(g.size, human) : "-", g.at ? typeCell(g.type) : "-", ago(g.at), g.by || "-", previewCell(g)]);
  return table(["REGION", "SIZE", "TYPE", "WRITTEN", "BY", "PREVIEW"], rows);
}

export function keysTable(keys: KeyInfo[], human: boolean): string {
  // No preview column here: a sealed value says so beside its type.
  const type = (k: KeyInfo) => (k.encrypted ? `${typeCell(k.type)} (encrypted)` : typeCell(k.type));
  return table(["KEY", "REV", "SIZE", "TYPE", "WRITTEN", "BY"], keys.map((k) => [k.key, String(k.rev), size(k.size, human), type(k), ago(k.at), k.by || "-"]));
}

/** `history`: newest first; a delete or an expiry is a row without a value. */
export function historyTable(rows: HistoryRow[], human: boolean): string {
  return table(
    ["REV", "WRITTEN", "BY", "SIZE", "TYPE", "PREVIEW"],
    rows.map((h) => [String(h.rev), ago(h.at), h.by || "-", h.event === "put" ? size(h.size, human) : "-", h.event === "put" ? typeCell(h.type) : "-", h.event === "put" ? previewCell(h) : dim(h.event === "del" ? "(deleted)" : "(expired)")]),
  );
}

export function groupsTable(groups: GroupInfo[]): string {
  return table(["GROUP", "KEYS", "APPS", "CREATED"], groups.map((g) => [g.group, String(g.keys), String(g.apps), ago(g.created)]));
}

const when = (ms: number) => (ms ? `${new Date(ms).toISOString().replace(/\.\d+Z$/, "Z")} (${ago(ms)})` : "-");

export function groupInfoText(i: GroupInfo): string {
  return pairs(
    [
      ["group", i.group],
      ["keys", String(i.keys)],
      ["apps", `${i.apps} connected to this server`],
      ["created", when(i.created)],
      ["secret", `issued ${when(i.rotated)}`],
      ["by", i.by || "-"],
    ],
  );
}

export function statusText(s: Record<string, unknown>): string {
  const children = (s.children as { name?: string; addr?: string }[]) ?? [];
  const lines: [string, string][] = [
    ["name", String(s.name)],
    ["id", String(s.id)],
    ["version", String(s.version)],
    ["uptime", duration(Number(s.uptime))],
    ["role", String(s.role)],
    ["parent", parentText(s.parent as { name?: string; addr?: string } | null, s.upstream)],
    ["children", children.length ? children.map((c) => c.name ?? c.addr ?? "?").join(", ") : "-"],
    ["clients", clientsText(Number(s.clients), s.commands)],
    ["regions", String(s.regions)],
    ["groups", String(s.groups)],
    ["keys", String(s.keys)],
    ["last write", `rev ${s.rev}`],
    ["storage", s.persistent ? "on disk" : "memory only"],
  ];
  // A child's only: a root has no parent to lag behind.
  if (typeof s.lag === "number" && s.parent) lines.push(["lag", `${s.lag} write${s.lag === 1 ? "" : "s"} behind the parent`]);
  return pairs(lines);
}

/** "2", or "2 (and 1 one-shot command running)": the long-lived, then the commands (this one among them). */
function clientsText(clients: number, commands: unknown): string {
  const n = typeof commands === "number" ? commands : 0;
  return n > 0 ? `${clients} (and ${n} one-shot command${n === 1 ? "" : "s"} running)` : String(clients);
}

function parentText(p: { name?: string; addr?: string } | null, upstream: unknown): string {
  if (!p) return upstream === "dialing" ? "- (retrying --connect)" : "-";
  return `${p.name ?? "?"} (${p.addr ?? "?"})${upstream === "syncing" ? ", taking its snapshot" : ""}`;
}

interface TreeNode {
  id: string;
  name: string;
  addrs: string[];
  role: string;
  clients: number;
  rev: number;
  children?: TreeNode[];
}

/** The tree drawn from its root, this server marked with a star. */
export function treeText(t: Record<string, unknown>): string {
  const self = String(t.self ?? "");
  const lines: string[] = [];
  const label = (n: TreeNode) => {
    const name = n.id === self ? bold(`${n.name} *`) : n.name;
    const clients = `${n.clients} client${n.clients === 1 ? "" : "s"}`;
    return `${name}  ${n.role}  ${n.addrs?.length ? n.addrs.join(" ") : "-"}  ${clients}  ${dim(`rev ${n.rev}  id ${n.id}`)}`;
  };
  const walk = (n: TreeNode, prefix: string, last: boolean, top: boolean) => {
    lines.push(top ? label(n) : `${prefix}${last ? "└─ " : "├─ "}${label(n)}`);
    const kids = n.children ?? [];
    const next = top ? "" : `${prefix}${last ? "   " : "│  "}`;
    kids.forEach((k, i) => walk(k, next, i === kids.length - 1, false));
  };
  walk(t.root as TreeNode, "", true, true);
  if (t.partial) lines.push(dim("(the root could not be reached: this is this server's subtree only)"));
  return `${lines.join("\n")}\n`;
}

/** Rows of name and value, the values in one column two spaces past the longest name. */
function pairs(lines: [string, string][]): string {
  const width = Math.max(...lines.map(([k]) => k.length)) + 2;
  return `${lines.map(([k, v]) => `${k.padEnd(width)}${v}`).join("\n")}\n`;
}

const strict = new TextDecoder("utf-8", { fatal: true });

/** A value as text for the screen, or null if it is not printable text. */
export function asText(bytes: Uint8Array): string | null {
  try {
    const s = strict.decode(bytes);
    return /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(s) ? null : s;
  } catch {
    return null;
  }
}

/** A value on one line of the shell's background streams: its text, or what it is. */
export const valueLine = (v: Uint8Array): string => asText(v) ?? dim(`binary, ${humanSize(v.length)}`);
