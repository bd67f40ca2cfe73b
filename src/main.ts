// The clip executable: parse argv with the parser the command table makes
// (src/cli/table.ts: declarations, bodies imported lazily), run the command,
// and turn errors into a line on stderr and an exit status (SPEC "Exit codes").

import type { CAC } from "cac";
import { cliParser, isFamily } from "./cli/argv.ts";
import { actionsOf, argsOf, commandsOn, orList } from "./cli/spec.ts";
import { TABLE } from "./cli/table.ts";
import { ClipError } from "./protocol/errors.ts";
import { PROTOCOL_VERSION } from "./protocol/frame.ts";
import { VERSION } from "./version.ts";

let cli: CAC | undefined;

function fail(e: unknown): never {
  let code = 1;
  let message: string;
  if (e instanceof ClipError) {
    code = e.exitCode;
    message = e.message;
  } else if (e instanceof Error && e.name === "CACError") {
    code = 2;
    // `clip copy -1` reaches cac as an unknown flag; say what the user meant.
    const neg = /Unknown option `(-[0-9][0-9.]*)`/.exec(e.message);
    const first = TABLE.commands.find((c) => c.name === cli?.matchedCommand?.name);
    const takesRegion = first !== undefined && first.completes?.[argsOf(first.args)[0]?.name] === "region";
    message = neg && takesRegion ? `bad region "${neg[1]}": a region is an integer from 0 to 9` : `${e.message.replace(/`/g, "")} (see clip --help)`;
  } else if (e instanceof Error && ((e as NodeJS.ErrnoException).code === "EPIPE" || /broken pipe/i.test(e.message))) {
    process.exit(141); // stdout closed under us: quietly, as cat does
  } else {
    message = e instanceof Error ? e.message : String(e);
  }
  process.stderr.write(`clip: ${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  process.on("unhandledRejection", fail);
  try {
    const argv = process.argv.slice(2);
    // cac's own line reports Bun's Node-compatibility version as "bun-v26": say what runs instead.
    if ((argv[0] === "--version" || argv[0] === "-v") && argv.length === 1) {
      process.stdout.write(`clip/${VERSION} (protocol ${PROTOCOL_VERSION}) bun/${Bun.version} ${process.platform}-${process.arch}\n`);
      return;
    }
    // `clip kv put ...`: the family's own parser, so that each action has its flags and --help.
    const family = isFamily(TABLE, argv[0]) ? argv[0] : undefined;
    const words = family ? argv.slice(1) : argv;
    cli = cliParser(TABLE, family, words[0]);
    if (!family) cli.version(`${VERSION} (protocol ${PROTOCOL_VERSION})`);
    const parsed = cli.parse(["", "", ...words], { run: false });
    if (!cli.matchedCommand) {
      if (parsed.options.help || (!family && parsed.options.version)) return;
      if (cli.args.length > 0) {
        if (!family) throw new ClipError("USAGE", `unknown command "${cli.args[0]}" (see clip --help)`);
        const actions = actionsOf(commandsOn(TABLE, "cli"), family);
        throw new ClipError("USAGE", `unknown action "${family} ${cli.args[0]}": use ${orList(actions)} (see clip ${family} --help)`);
      }
      cli.outputHelp();
      process.exit(2);
    }
    await cli.runMatchedCommand();
  } catch (e) {
    fail(e);
  }
}

await main();
// Commands that finish leave no reason to linger (a paste's socket may still be closing).
if (cli?.matchedCommand?.name !== "serve") process.exit(0);
