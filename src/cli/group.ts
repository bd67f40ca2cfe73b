// clip group create | delete | info | rotate | list: admin commands (unix
// socket, or a TCP client that proved the cluster token), with their own parser.

import { cac } from "cac";
import { clientFlags, flat } from "./flags.ts";
import { helpLayout } from "./help.ts";
import { ClipError } from "../protocol/errors.ts";
import { checkGroupName } from "../protocol/messages.ts";
import { type ClientFlags, withClient } from "./common.ts";
import { json, out } from "./output.ts";
import { groupInfoText, groupsTable } from "./render.ts";

const name = (g: unknown) => checkGroupName(g === undefined ? "" : String(g));

export async function create(g: unknown, flags: ClientFlags): Promise<void> {
  const group = name(g);
  const secret = await withClient(flags, (c) => c.groups.create(group));
  await out(`${secret}\n`);
}

export async function rotate(g: unknown, flags: ClientFlags): Promise<void> {
  const group = name(g);
  const secret = await withClient(flags, (c) => c.groups.rotate(group));
  await out(`${secret}\n`);
}

export async function remove(g: unknown, flags: ClientFlags): Promise<void> {
  const group = name(g);
  await withClient(flags, (c) => c.groups.delete(group));
}

export async function info(g: unknown, flags: ClientFlags & { json?: boolean }): Promise<void> {
  const group = name(g);
  const i = await withClient(flags, (c) => c.groups.info(group));
  if (flags.json) return json(i);
  await out(groupInfoText(i));
}

export async function list(flags: ClientFlags & { json?: boolean }): Promise<void> {
  const groups = await withClient(flags, (c) => c.groups.list());
  if (flags.json) return json(groups);
  await out(groupsTable(groups));
}

const withFlags = clientFlags;

/** Parses `clip group ACTION ...` and runs it. */
export async function run(argv: string[]): Promise<void> {
  const cli = cac("clip group");
  withFlags(cli.command("create <group>", "Create GROUP and print its secret alone on stdout (shown only now; names: 1-64 of A-Z a-z 0-9 _ . -)"))
    .example("S=$(clip group create app)")
    .action((g, o) => create(g, flat(o)));
  withFlags(cli.command("delete <group>", "Delete GROUP and its keys; its connected applications are disconnected (\"group deleted\", exit 4)"))
    .example("clip group delete app")
    .action((g, o) => remove(g, flat(o)));
  withFlags(cli.command("info <group>", "Keys, applications connected to this server, when created"))
    .option("--json", "print JSON")
    .example("clip group info app --json")
    .action((g, o) => info(g, flat(o)));
  withFlags(cli.command("rotate <group>", "Issue and print a new secret; the old one stops working and its sessions are closed"))
    .example("S=$(clip group rotate app)")
    .action((g, o) => rotate(g, flat(o)));
  withFlags(cli.command("list", "Every group"))
    .option("--json", "print JSON")
    .example("clip group list --json")
    .action((o) => list(flat(o)));
  cli.help(helpLayout(cli));
  const parsed = cli.parse(["", "", ...argv], { run: false });
  if (!cli.matchedCommand) {
    if (parsed.options.help) return;
    if (cli.args.length > 0) throw new ClipError("USAGE", `unknown action "group ${cli.args[0]}": use create, delete, info, rotate or list (see clip group --help)`);
    cli.outputHelp();
    process.exit(2);
  }
  await cli.runMatchedCommand();
}
