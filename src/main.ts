// The executable: parse argv with the parser the command table makes
// (src/cli/table.ts: declarations, bodies imported lazily), run the command,
// and turn errors into a line on stderr and an exit status (SPEC "Exit codes").
// Every usage error says what is wrong in our words and ends by pointing at
// the command's own help (argv.ts checks the words against the table).

import type { CAC } from "cac";
import { cliParser, isFamily, unknownCommand } from "./cli/argv.ts";
import { actionsOf, commandsOn, orList } from "./cli/spec.ts";
import { TABLE } from "./cli/table.ts";
import { ClipError } from "./protocol/errors.ts";

let cli: CAC | undefined;
/** The command being run, as `clip NAME --help` names it ("paste", "kv put"), once one matched. */
let current: string | undefined;

const HELP = new Set(["-h", "--help"]);

/** A usage error already says where to look (the help, or lines above it: chat's summary), or offers the word meant. */
const pointsAtHelp = (m: string) => /see clip [^)]*--help\)|\(see above\)$|\(did you mean /.test(m);

function fail(e: unknown): never {
  let code = 1;
  let message: string;
  const seeHelp = `(see clip ${current ? `${current} ` : ""}--help)`;
  if (e instanceof ClipError) {
    code = e.exitCode;
    message = e.code === "USAGE" && !pointsAtHelp(e.message) ? `${e.message} ${seeHelp}` : e.message;
  } else if (e instanceof Error && e.name === "CACError") {
    // argv.ts's prepare() reads every word first; this is only a backstop for what cac finds besides.
    code = 2;
    message = `${e.message.replace(/`/g, "")} ${seeHelp}`;
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
    let argv = process.argv.slice(2);
    if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-v")) argv = ["version"];
    // `clip kv put ...`: the family's own parser, so that each action has its flags and --help.
    const family = isFamily(TABLE, argv[0]) ? argv[0] : undefined;
    const words = family ? argv.slice(1) : argv;
    const first = words[0];
    if (first !== undefined && first.startsWith("-") && !HELP.has(first)) {
      if (!family) throw new ClipError("USAGE", `${first} is not a command: a command comes first, its flags after it (see clip --help)`);
      const actions = actionsOf(commandsOn(TABLE, "cli"), family);
      throw new ClipError("USAGE", `${first} is not an action: clip ${family} ${orList(actions)} comes first, its flags after it (see clip ${family} --help)`);
    }
    cli = cliParser(TABLE, family, first);
    const parsed = cli.parse(["", "", ...words], { run: false });
    if (!cli.matchedCommand) {
      if (parsed.options.help) return;
      if (cli.args.length > 0) throw unknownCommand(TABLE, String(cli.args[0]), family);
      cli.outputHelp();
      process.exit(2);
    }
    current = family ? `${family} ${cli.matchedCommand.name}` : cli.matchedCommand.name;
    await cli.runMatchedCommand();
  } catch (e) {
    fail(e);
  }
}

await main();
// Commands that finish leave no reason to linger (a paste's socket may still be closing).
if (cli?.matchedCommand?.name !== "serve") process.exit(0);
