// status and tree: what this server is, and the tree it is in.

import type { Ctx } from "./context.ts";
import { jsonLine } from "./output.ts";
import { statusText, treeText } from "./render.ts";

export async function status(ctx: Ctx, flags: { json?: boolean }): Promise<void> {
  const s = await (await ctx.client()).status();
  await ctx.write(flags.json ? jsonLine(s) : statusText(s));
}

export async function tree(ctx: Ctx, flags: { json?: boolean }): Promise<void> {
  const t = await (await ctx.client()).tree();
  await ctx.write(flags.json ? jsonLine(t) : treeText(t));
}
