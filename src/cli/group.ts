// group create | delete | info | rotate | list: admin commands (unix
// socket, or a TCP client that proved the cluster token).

import { checkGroupName } from "../protocol/messages.ts";
import type { Ctx } from "./context.ts";
import { jsonLine } from "./output.ts";
import { groupInfoText, groupsTable } from "./render.ts";

const name = (g: unknown) => checkGroupName(g === undefined ? "" : String(g));

export async function create(ctx: Ctx, g: unknown): Promise<void> {
  const group = name(g);
  await ctx.write(`${await (await ctx.client()).groups.create(group)}\n`);
}

export async function rotate(ctx: Ctx, g: unknown): Promise<void> {
  const group = name(g);
  await ctx.write(`${await (await ctx.client()).groups.rotate(group)}\n`);
}

export async function remove(ctx: Ctx, g: unknown): Promise<void> {
  const group = name(g);
  await (await ctx.client()).groups.delete(group);
}

export async function info(ctx: Ctx, g: unknown, flags: { json?: boolean }): Promise<void> {
  const group = name(g);
  const i = await (await ctx.client()).groups.info(group);
  await ctx.write(flags.json ? jsonLine(i) : groupInfoText(i));
}

export async function list(ctx: Ctx, flags: { json?: boolean }): Promise<void> {
  const groups = await (await ctx.client()).groups.list();
  await ctx.write(flags.json ? jsonLine(groups) : groupsTable(groups));
}
