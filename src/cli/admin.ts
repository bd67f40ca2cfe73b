// clip status and clip tree: what this server is, and the tree it is in.

import { type ClientFlags, withClient } from "./common.ts";
import { json, out } from "./output.ts";
import { statusText, treeText } from "./render.ts";

export async function status(flags: ClientFlags & { json?: boolean }): Promise<void> {
  const s = await withClient(flags, (c) => c.status());
  return flags.json ? json(s) : out(statusText(s));
}

export async function tree(flags: ClientFlags & { json?: boolean }): Promise<void> {
  const t = await withClient(flags, (c) => c.tree());
  return flags.json ? json(t) : out(treeText(t));
}
