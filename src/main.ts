// The clip executable: command declarations, lazy imports, and the one place
// where errors become a line on stderr and an exit status (SPEC "Exit codes").

import { cac } from "cac";
import { clientFlags, flat } from "./cli/flags.ts";
import { helpLayout } from "./cli/help.ts";
import { ClipError } from "./protocol/errors.ts";
import { PROTOCOL_VERSION } from "./protocol/frame.ts";
import { VERSION } from "./version.ts";

const cli = cac("clip");


cli
  .command("serve", "Run a server (one per machine); join a tree with --connect")
  .option("--socket <path>", "unix socket to listen on (default: $CLIP_SOCKET, $XDG_RUNTIME_DIR/clip/clip.sock or /tmp/clip-UID/clip.sock)", { type: [String] })
  .option("--listen <addr>", "also listen here: unix:/path or tcp:host:port (repeatable)", { type: [String] })
  .option("--connect <addrs>", "join the tree as a child of the first reachable of these (comma-separated)", { type: [String] })
  .option("--token-file <file>", "file holding the cluster token (needed for TCP)", { type: [String] })
  .option("--token <token>", "cluster token (visible in ps: prefer --token-file or CLIP_TOKEN)", { type: [String] })
  .option("--insecure", "allow TCP without a token (trusted networks only)")
  .option("--data <dir>", "keep state here (default: $XDG_STATE_HOME/clip or ~/.local/state/clip)", { type: [String] })
  .option("--memory", "keep nothing on disk")
  .option("--name <name>", "this server's name in logs, status and tree (default: the host name)", { type: [String] })
  .option("--max-size <size>", "largest value accepted, e.g. 512M (default 1G)", { type: [String] })
  .option("--history <n>", "earlier values kept per region and key, on every server (default 16; 0 keeps only the current one)", { type: [String] })
  .option("--tls-cert <file>", "TLS certificate (PEM) for TCP listeners", { type: [String] })
  .option("--tls-key <file>", "TLS private key (PEM) for TCP listeners", { type: [String] })
  .option("--tls-ca <file>", "CA (PEM) to trust when connecting to a TLS parent", { type: [String] })
  .option("--quiet", "log only warnings and errors")
  .option("--print-systemd-unit", "print a systemd user unit that runs this same command, and exit")
  .example("clip serve --data ~/.clip --listen tcp:0.0.0.0:7070 --token-file ~/.clip-token")
  .action(async (o) => (await import("./cli/serve.ts")).serve(flat(o)));

clientFlags(cli.command("copy <region> [file]", "Store stdin (or FILE) in region 0-9"))
  .example("clip copy 3 < photo.png")
  .action(async (r, file, o) => (await import("./cli/clipboard.ts")).copy(r, file, flat(o)));

clientFlags(cli.command("paste <region>", "Write region 0-9 to stdout, byte for byte"))
  .example("clip paste 3 | tar x")
  .action(async (r, o) => (await import("./cli/clipboard.ts")).paste(r, flat(o)));

clientFlags(cli.command("wait <region>", "Wait for the next write to a region and print it"))
  .option("--timeout <seconds>", "give up after this long (exit 124)", { type: [String] })
  .option("--follow", "print every later write, until interrupted")
  .option("--sep <sep>", "with --follow: separator after each value (default newline; \\t \\0 understood)", { type: [String] })
  .option("-0", "with --follow: separate values with NUL")
  .example("clip wait 3 --follow --sep '\\n---\\n'")
  .action(async (r, o) => (await import("./cli/clipboard.ts")).wait(r, flat(o)));

clientFlags(cli.command("list", "One row per region: size, when, by whom, preview"))
  .option("--json", "print JSON")
  .example("clip list --json")
  .action(async (o) => (await import("./cli/clipboard.ts")).list(flat(o)));

clientFlags(cli.command("status", "This server: name, id, role, parent, children, what it holds"))
  .option("--json", "print JSON")
  .example("clip status --json")
  .action(async (o) => (await import("./cli/admin.ts")).status(flat(o)));

clientFlags(cli.command("tree", "The whole tree of servers, seen from this one: names, addresses, roles, clients"))
  .option("--json", "print JSON")
  .example("clip tree --server tcp:10.0.0.2:7070 --token-file ~/.clip-token")
  .action(async (o) => (await import("./cli/admin.ts")).tree(flat(o)));

clientFlags(cli.command("shell", "Interactive session: copy, paste, wait, list, kv, group, status (also reads commands from a pipe)"))
  .option("-g, --group <group>", "group for kv commands (env CLIP_GROUP)", { type: [String] })
  .option("--secret <secret>", "the group's secret (env CLIP_SECRET)", { type: [String] })
  .example("printf 'copy 3 hello\\npaste 3\\n' | clip shell")
  .action(async (o) => (await import("./cli/shell.ts")).shell(flat(o)));

clientFlags(cli.command("chat <room>", "Chat with everyone in ROOM, on every server of the tree (nothing is stored)"))
  .option("--name <name>", "how others see you (default: $USER)", { type: [String] })
  .option("--json", "print each event as a JSON line")
  .example("clip chat ops --name alice")
  .action(async (room, o) => (await import("./cli/chat.ts")).chat(room, flat(o)));

clientFlags(cli.command("completion <shell>", "Print a completion script for bash, zsh or fish"))
  .example("source <(clip completion bash)        # or: clip completion fish | source")
  .action(async (sh, o) => (await import("./cli/completion.ts")).completion(sh, cli, flat(o)));

// kv and group parse their own actions (src/cli/kv.ts, group.ts): main() hands them argv first.
cli.command("kv <action> [...args]", "Keys in a group: put, get, del, list, watch (clip kv ACTION --help)").allowUnknownOptions();
cli.command("group <action> [...args]", "Admin: create, delete, info, rotate, list groups (clip group ACTION --help)").allowUnknownOptions();

clientFlags(cli.command("apps", "Applications connected to this server (pid, group, since, watches) and those that left lately"))
  .option("--json", "print JSON")
  .example("clip apps --json")
  .action(async (o) => (await import("./cli/apps.ts")).apps(flat(o)));

cli.help(helpLayout(cli));
cli.version(`${VERSION} (protocol ${PROTOCOL_VERSION})`);

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
    message = neg && ["copy", "paste", "wait"].includes(cli.matchedCommand?.name ?? "")
      ? `bad region "${neg[1]}": a region is an integer from 0 to 9`
      : `${e.message.replace(/`/g, "")} (see clip --help)`;
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
    const family = process.argv[2];
    // cac's own line reports Bun's Node-compatibility version as "bun-v26": say what runs instead.
    if ((family === "--version" || family === "-v") && process.argv.length === 3) {
      process.stdout.write(`clip/${VERSION} (protocol ${PROTOCOL_VERSION}) bun/${Bun.version} ${process.platform}-${process.arch}\n`);
      return;
    }
    if (family === "kv") return await (await import("./cli/kv.ts")).run(process.argv.slice(3));
    if (family === "group") return await (await import("./cli/group.ts")).run(process.argv.slice(3));
    const parsed = cli.parse(process.argv, { run: false });
    if (!cli.matchedCommand) {
      if (parsed.options.help || parsed.options.version) return;
      if (cli.args.length > 0) throw new ClipError("USAGE", `unknown command "${cli.args[0]}" (see clip --help)`);
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
if (cli.matchedCommand?.name !== "serve") process.exit(0);
