// clip tree: the whole tree of servers, drawn from any one of them.

import { type ClientFlags, withClient } from "./common.ts";
import { bold, dim, json, out } from "./output.ts";

interface TreeNode {
  id: string;
  name: string;
  addrs: string[];
  role: string;
  clients: number;
  seq: number;
  children?: TreeNode[];
}

export async function tree(flags: ClientFlags & { json?: boolean }): Promise<void> {
  const t = await withClient(flags, (c) => c.tree());
  if (flags.json) return json(t);
  const self = String(t.self ?? "");
  const lines: string[] = [];
  const label = (n: TreeNode) => {
    const name = n.id === self ? bold(`${n.name} *`) : n.name;
    const clients = `${n.clients} client${n.clients === 1 ? "" : "s"}`;
    return `${name}  ${n.role}  ${n.addrs.length ? n.addrs.join(" ") : "-"}  ${clients}  ${dim(`seq ${n.seq}  id ${n.id}`)}`;
  };
  const walk = (n: TreeNode, prefix: string, last: boolean, top: boolean) => {
    lines.push(top ? label(n) : `${prefix}${last ? "└─ " : "├─ "}${label(n)}`);
    const kids = n.children ?? [];
    const next = top ? "" : `${prefix}${last ? "   " : "│  "}`;
    kids.forEach((k, i) => walk(k, next, i === kids.length - 1, false));
  };
  walk(t.root as TreeNode, "", true, true);
  if (t.partial) lines.push(dim("(the root could not be reached: this is this server's subtree only)"));
  await out(lines.join("\n") + "\n");
}
