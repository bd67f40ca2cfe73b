// The command table: every command of `clip` and of `clip shell`, with its
// arguments, flags, help and examples, declared once. The cac parsers
// (argv.ts), the shell's grammar and help (line.ts), the completion scripts
// (completion.ts) and every --help are built from it. A command's body is
// imported only when it runs: loading this file must stay cheap, so it
// imports nothing but the table's own helpers.
//
// Adding a flag is one line: in the command's `flags`, or in a shared set
// (CLIENT, GROUP) for every command that has the set.

import type { Ctx } from "./context.ts";
import { type CommandSpec, type Table, type Values, flag } from "./spec.ts";

/** Which server, and how to prove we may use it: the CLI's (the shell's session was opened with them). */
const CLIENT = [
  flag("-s, --server <addr>", "server address: unix:/path, /path, tcp:host:port (env CLIP_SERVER; default: the local socket)", { only: "cli" }),
  flag("--token-file <file>", "file holding the cluster token, for TCP servers", { completes: "file", only: "cli" }),
  flag("--token <token>", "cluster token (visible in ps: prefer --token-file or CLIP_TOKEN)", { only: "cli" }),
  flag("--tls-ca <file>", "CA certificate (PEM) to trust for a TLS server", { completes: "file", only: "cli" }),
];

/** The group kv commands work in (in the shell: `use`). */
const GROUP = [
  flag("-g, --group <group>", "the group (env CLIP_GROUP)", { completes: "group", only: "cli" }),
  flag("--secret-file <file>", "file holding the group's secret (or env CLIP_SECRET)", { completes: "file", only: "cli", excludes: ["--secret"] }),
  flag("--secret <secret>", "the group's secret (visible in ps: prefer --secret-file or CLIP_SECRET)", { only: "cli" }),
];

const PRINT_JSON = flag("--json", "print JSON");

/** Commands that write a value to stdout refuse binary to a terminal (one line, exit 1), as curl does. */
const FORCE = flag("--force", "write a binary value to the terminal all the same (without it: refused, exit 1; a pipe or file always gets it)", { only: "cli" });

/** End-to-end encryption: the key that seals and opens values (see keygen). */
const KEY_FILE = flag("--key-file <file>", "the key for sealed values (env CLIP_KEY_FILE; default ~/.config/clip/key, made by clip keygen)", { completes: "file", only: "cli" });
const ENCRYPT = flag("--encrypt", "seal the value here with your key before it leaves: servers hold only ciphertext (env CLIP_ENCRYPT=1; see clip keygen)");

/** What a write may say besides its value (copy, kv put). */
const WRITE = [
  flag("--type <type>", "the value's media type, e.g. image/png (default: recognised from its first bytes)"),
  flag("--ttl <dur>", "remove the value everywhere after this long: 45s, 10m, 2h, 7d (a bare number is seconds)"),
  flag("--if-rev <rev>", "write only if the current revision is REV (0: only if empty or absent); else exit 6"),
  flag("--json", "print the write's revision and size as JSON"),
];

/** Which stored value to read (paste, kv get). */
const READ = [
  flag("--rev <rev>", "the value of revision REV (see history); not held: exit 5", { excludes: ["--back"] }),
  flag("--back <n>", "the value N writes before the current one (1: the previous); not held: exit 5"),
];

/** The shell's words after the fixed arguments, as one text. */
const text = (v: Values[string]): string | undefined => (Array.isArray(v) ? v.join(" ") : v);

/** Commands only the shell has: their bodies are the session's own. */
const session = (ctx: Ctx) => {
  if (!ctx.session) throw new Error("a shell command outside the shell");
  return ctx.session;
};

const commands: CommandSpec[] = [
  {
    name: "serve",
    args: "",
    about: "Run a server (one per machine); join a tree with --connect",
    only: "cli",
    flags: [
      flag("--socket <path>", "unix socket to listen on (default: $CLIP_SOCKET, $XDG_RUNTIME_DIR/clip/clip.sock or /tmp/clip-UID/clip.sock)", { completes: "file" }),
      flag("--listen <addr>", "also listen here: unix:/path or tcp:host:port (repeatable)", { repeat: true }),
      flag("--http <addr>", "serve HTTP and the web page here: tcp:host:port or unix:/path (repeatable)", { repeat: true }),
      flag("--metrics-token-file <file>", "file holding a token good for GET /metrics alone (for a Prometheus scraper)", { completes: "file" }),
      flag("--connect <addrs>", "join the tree as a child of the first reachable of these (comma-separated)", { repeat: true }),
      flag("--token-file <file>", "file holding the cluster token (needed for TCP)", { completes: "file" }),
      flag("--token <token>", "cluster token (visible in ps: prefer --token-file or CLIP_TOKEN)"),
      flag("--insecure", "allow TCP without a token (trusted networks only)"),
      flag("--data <dir>", "keep state here (default: $XDG_STATE_HOME/clip or ~/.local/state/clip)", { completes: "dir", excludes: ["--memory"] }),
      flag("--memory", "keep nothing on disk"),
      flag("--name <name>", "this server's name in logs, status and tree (default: the host name)"),
      flag("--max-size <size>", "largest value accepted, e.g. 512M (default 1G)"),
      flag("--history <n>", "earlier values kept per region and key, on every server (default 16; 0 keeps only the current one)"),
      flag("--tls-cert <file>", "TLS certificate (PEM) for TCP listeners", { completes: "file" }),
      flag("--tls-key <file>", "TLS private key (PEM) for TCP listeners", { completes: "file" }),
      flag("--tls-ca <file>", "CA (PEM) to trust when connecting to a TLS parent", { completes: "file" }),
      flag("--quiet", "log only warnings and errors"),
      flag("--print-systemd-unit", "print a systemd user unit that runs this same command, and exit"),
    ],
    examples: ["clip serve --data ~/.clip --listen tcp:0.0.0.0:7070 --token-file ~/.clip-token", "clip serve --http tcp:127.0.0.1:8080 --token-file ~/.clip-token"],
    run: (_, __, f) => import("./serve.ts").then((m) => m.serve(f)),
  },
  {
    name: "copy",
    args: "<region> [file]",
    about: "Store stdin (or FILE) in region 0-9",
    completes: { region: "region", file: "file" },
    shell: { args: "<region> <text...>", about: "Store TEXT, the rest of the line exactly as typed, in region 0-9" },
    flags: [...CLIENT, ...WRITE, ENCRYPT, KEY_FILE],
    examples: ["clip copy 3 < photo.png", "pass show site | clip copy 0 --ttl 45s", "clip copy 2 --if-rev 41 < next.txt", "clip copy 4 --encrypt < contract.pdf"],
    run: (ctx, a, f) => import("./clipboard.ts").then((m) => m.copy(ctx, a.region, a.file, f, text(a.text))),
  },
  {
    name: "paste",
    args: "<region>",
    about: "Write region 0-9 to stdout, byte for byte",
    completes: { region: "region" },
    shell: { about: "Print region 0-9 (as text; a large or binary one: clip paste R > FILE)" },
    flags: [
      ...CLIENT,
      ...READ,
      KEY_FILE,
      flag("--osc52", "send the value to the clipboard of the terminal you type in (OSC 52: over SSH, through tmux or screen) instead of stdout", { only: "cli" }),
      flag("--osc52-max <size>", "with --osc52: the largest value sent (default 100000 bytes); over it: exit 1, nothing sent", { only: "cli", needs: "--osc52" }),
      FORCE,
    ],
    examples: ["clip paste 3 | tar x", "clip paste 0 --back 1", "clip paste 0 --osc52        # over ssh: into your own machine's clipboard"],
    run: (ctx, a, f) => import("./clipboard.ts").then((m) => m.pasteRegion(ctx, a.region, f)),
  },
  {
    name: "wait",
    args: "<region>",
    about: "Wait for the next write to a region and print it",
    completes: { region: "region" },
    shell: { about: "Wait for the next write to a region and print it; --follow: every later one, in the background (see watches)" },
    flags: [
      ...CLIENT,
      flag("--timeout <seconds>", "give up after this long (exit 124)"),
      flag("--follow", "print every later write, until interrupted"),
      flag("--since <rev>", "start after revision REV: the writes after it that are still held first (no longer held: exit 5)"),
      flag("--sep <sep>", "with --follow: separator after each value (default newline; \\t \\0 understood)", { only: "cli", excludes: ["-0"], needs: "--follow" }),
      flag("-0", "with --follow: separate values with NUL", { only: "cli", needs: "--follow" }),
      FORCE,
      KEY_FILE,
    ],
    examples: ["clip wait 3 --follow --sep '\\n---\\n'", "clip wait 3 --follow --since 1200"],
    run: (ctx, a, f) => import("./clipboard.ts").then((m) => m.wait(ctx, a.region, f)),
  },
  {
    name: "history",
    args: "<region>",
    about: "A region's values, newest first: revision, when, by which server, size, type, preview",
    completes: { region: "region" },
    flags: [...CLIENT, PRINT_JSON],
    examples: ["clip history 0", "clip paste 0 --rev 1187"],
    run: (ctx, a, f) => import("./clipboard.ts").then((m) => m.history(ctx, a.region, f)),
  },
  {
    name: "list",
    args: "",
    about: "One row per region: size, type, when, by whom, preview",
    flags: [...CLIENT, PRINT_JSON],
    examples: ["clip list --json"],
    run: (ctx, _, f) => import("./clipboard.ts").then((m) => m.list(ctx, f)),
  },
  {
    name: "desktop",
    args: "[region]",
    about: "Bridge this machine's desktop clipboard with a region (default 0), both ways, until interrupted",
    only: "cli",
    completes: { region: "region" },
    flags: [
      ...CLIENT,
      flag("--to-desktop", "one way: put writes to the region on the desktop, never the other way", { excludes: ["--from-desktop"] }),
      flag("--from-desktop", "one way: write desktop copies to the region, never the other way"),
      flag("--backend <name>", "the desktop clipboard to use: wayland, x11 or macos (default: from WAYLAND_DISPLAY, DISPLAY)", { completes: ["wayland", "x11", "macos"] }),
      flag("--max-desktop <size>", "largest value moved either way, e.g. 16M (default 64M); a larger one is skipped with one log line"),
      flag("--osc52", "no display (over SSH): send every later write to the terminal's clipboard instead (OSC 52; one way)", { excludes: ["--from-desktop", "--backend"] }),
      flag("--osc52-max <size>", "with --osc52: the largest value sent (default 100000 bytes)", { needs: "--osc52" }),
      flag("--print-systemd-unit", "print a systemd user unit that runs this same command with the graphical session, and exit"),
      flag("--print-autostart", "print an XDG autostart entry that runs this same command, and exit"),
      ENCRYPT,
      KEY_FILE,
    ],
    examples: [
      "clip desktop --print-systemd-unit > ~/.config/systemd/user/clip-desktop.service",
      "clip desktop 0 --encrypt        # copies leave this machine sealed with your key",
      "clip desktop 0 --osc52          # in an SSH session: writes to region 0 land in your terminal's clipboard",
    ],
    run: (_, a, f) => import("./desktop.ts").then((m) => m.desktop(a.region, f)),
  },
  {
    name: "keygen",
    args: "[file]",
    about: "Make a key for end-to-end encryption (copy/kv put --encrypt) and print its key id; copy the file to your other machines",
    only: "cli",
    completes: { file: "file" },
    flags: [flag("--force", "replace an existing key file (what was sealed with the old key can no longer be opened)")],
    examples: ["clip keygen        # ~/.config/clip/key (0600), prints e.g. 793af32f8564e3cc", "clip keygen ~/work.key && clip copy 3 --encrypt --key-file ~/work.key < plan.pdf"],
    run: (_, a, f) => import("./keys.ts").then((m) => m.keygen(a.file, f)),
  },
  {
    name: "status",
    args: "",
    about: "This server: name, id, role, parent, children, what it holds",
    flags: [...CLIENT, PRINT_JSON],
    examples: ["clip status --json"],
    run: (ctx, _, f) => import("./admin.ts").then((m) => m.status(ctx, f)),
  },
  {
    name: "tree",
    args: "",
    about: "The whole tree of servers, seen from this one: names, addresses, roles, clients",
    flags: [...CLIENT, PRINT_JSON],
    examples: ["clip tree --server tcp:10.0.0.2:7070 --token-file ~/.clip-token"],
    run: (ctx, _, f) => import("./admin.ts").then((m) => m.tree(ctx, f)),
  },
  {
    name: "shell",
    args: "",
    about: "Interactive session: copy, paste, wait, list, kv, group, status (also reads commands from a pipe)",
    only: "cli",
    flags: [
      ...CLIENT,
      flag("-g, --group <group>", "group for kv commands (env CLIP_GROUP)", { completes: "group" }),
      flag("--secret-file <file>", "file holding the group's secret (or env CLIP_SECRET)", { completes: "file", excludes: ["--secret"] }),
      flag("--secret <secret>", "the group's secret (visible in ps: prefer --secret-file or CLIP_SECRET)"),
    ],
    examples: ["printf 'copy 3 hello  world\\npaste 3\\n' | clip shell        # after copy R: the rest of the line, as typed", "clip shell -g app --secret-file ~/.config/clip/app.secret"],
    run: (_, __, f) => import("./shell.ts").then((m) => m.shell(f)),
  },
  {
    name: "chat",
    args: "<room>",
    about: "Chat with everyone in ROOM, on every server of the tree (nothing is stored); /help lists the chat's own commands",
    only: "cli",
    flags: [
      ...CLIENT,
      flag("--name <name>", "how others see you (default: $USER); one person's in a room: a name someone there holds is refused (exit 2)"),
      flag("--json", "print each event as a JSON line"),
    ],
    examples: ["clip chat ops --name alice", "echo 'deploy done' | clip chat ops --name ci        # exit 0 only if every line was sent"],
    run: (_, a, f) => import("./chat.ts").then((m) => m.chat(a.room, f)),
  },
  {
    name: "completion",
    args: "<shell>",
    about: "Print a completion script for bash, zsh or fish",
    only: "cli",
    completes: { shell: ["bash", "zsh", "fish"] },
    flags: [...CLIENT],
    examples: ["source <(clip completion bash)        # or: clip completion fish | source"],
    run: (_, a, f) => import("./completion.ts").then((m) => m.completion(a.shell, f)),
  },
  {
    name: "use",
    args: "<group> [secret]",
    about: "The group that kv commands work in (or start with -g/--secret, or CLIP_GROUP/CLIP_SECRET)",
    only: "shell",
    completes: { group: "group" },
    flags: [],
    examples: [],
    run: (ctx, a) => session(ctx).use(a.group, a.secret),
  },
  {
    name: "kv put",
    args: "<key> [value]",
    about: "Set KEY to VALUE, or to stdin when VALUE is absent (binary-safe, streamed)",
    shell: { args: "<key> <value...>", about: "Set KEY to VALUE, the rest of the line exactly as typed" },
    flags: [...CLIENT, ...GROUP, ...WRITE, ENCRYPT, KEY_FILE],
    examples: [
      "clip kv put -g app --secret-file ~/.config/clip/app.secret color blue",
      "tar c dir | CLIP_GROUP=app CLIP_SECRET=$S clip kv put backup",
      "export CLIP_GROUP=app CLIP_SECRET=$S; clip kv put jobs 8 --if-rev 41",
    ],
    run: (ctx, a, f) => import("./kv.ts").then((m) => m.put(ctx, a.key, text(a.value), f)),
  },
  {
    name: "kv get",
    args: "<key>",
    about:
      "Print KEY's value to stdout (missing key: exit 5): byte for byte into a pipe or file; at a terminal, text ends with a newline, control characters are shown quoted (\"a\\tb\\x1b\"), and binary is refused unless --force",
    shell: { about: "Print KEY's value (missing key: exit 5)" },
    flags: [...CLIENT, ...GROUP, ...READ, KEY_FILE, FORCE],
    examples: ["clip kv get -g app --secret-file ~/.config/clip/app.secret color", "CLIP_GROUP=app CLIP_SECRET=$S clip kv get color --back 1 > old-color.txt"],
    run: (ctx, a, f) => import("./kv.ts").then((m) => m.get(ctx, a.key, f)),
  },
  {
    name: "kv del",
    args: "<key>",
    about: "Delete KEY (missing key: exit 5)",
    flags: [...CLIENT, ...GROUP],
    examples: ["CLIP_GROUP=app CLIP_SECRET=$S clip kv del color"],
    run: (ctx, a) => import("./kv.ts").then((m) => m.del(ctx, a.key)),
  },
  {
    name: "kv list",
    args: "[prefix]",
    about: "The group's keys (under PREFIX): size, when written, by which server",
    flags: [...CLIENT, ...GROUP, PRINT_JSON],
    examples: ["clip kv list -g app --secret-file ~/.config/clip/app.secret conf/ --json"],
    run: (ctx, a, f) => import("./kv.ts").then((m) => m.list(ctx, a.prefix, f)),
  },
  {
    name: "kv history",
    args: "<key>",
    about: "KEY's values, newest first (deletes and expiries as rows): revision, when, by which server, size, type",
    flags: [...CLIENT, ...GROUP, PRINT_JSON],
    examples: ["clip kv history -g app color --json"],
    run: (ctx, a, f) => import("./kv.ts").then((m) => m.history(ctx, a.key, f)),
  },
  {
    name: "kv watch",
    args: "[key]",
    about:
      "Report every later change of KEY (or of every key under --prefix), in order, one line each: 'put KEY VALUE', 'del KEY' or 'expire KEY' (the key need not exist yet); a KEY or VALUE that is not one line of printable text is shown double-quoted with \\n \\t \\\" \\\\ \\xNN escapes; for the exact bytes use --json or --exec",
    shell: { about: "Print every later change of KEY, in the background (see watches)" },
    flags: [
      ...CLIENT,
      ...GROUP,
      flag(
        "--exec <cmd>",
        "run CMD (sh -c) once per change, one at a time, in order, with the value on stdin and CLIP_KEY, CLIP_EVENT (put/del/expire), CLIP_GROUP, CLIP_REV set; a CMD that fails, or hangs past --exec-timeout (then killed), is reported on stderr and the watch GOES ON",
        { only: "cli" },
      ),
      flag("--exec-timeout <seconds>", "kill a CMD still running after this long, report it, go on (default 60; 0: never)", { only: "cli" }),
      flag("--json", "one JSON object per change: value as UTF-8 text, or base64 when not (see \"encoding\")", { only: "cli" }),
      flag("--count <n>", "stop after N changes (a watcher that falls far behind is cut off by its server: exit 1)", { only: "cli" }),
      flag("--timeout <seconds>", "stop after this long; exit 124 if nothing changed meanwhile", { only: "cli" }),
      flag("--prefix <prefix>", "every key that starts with PREFIX (\"\" for the whole group), instead of one KEY"),
      flag("--since <rev>", "start after revision REV: the changes after it that are still held first (no longer held: exit 5)"),
      KEY_FILE,
    ],
    examples: [
      "export CLIP_GROUP=app CLIP_SECRET=$S; clip kv watch color --exec 'notify-send \"color: $(cat)\"'",
      "clip kv watch -g app color --json --count 1 --timeout 30",
      "clip kv watch -g app --prefix jobs/ --since 1187",
    ],
    run: (ctx, a, f) => import("./kv.ts").then((m) => m.watch(ctx, a.key, f)),
  },
  {
    name: "watches",
    args: "",
    about: "The background watches (wait --follow, kv watch)",
    only: "shell",
    flags: [],
    examples: [],
    run: (ctx) => session(ctx).watches(),
  },
  {
    name: "unwatch",
    args: "<id>",
    about: "Stop a background watch: its number, or all",
    only: "shell",
    flags: [],
    examples: [],
    run: async (ctx, a) => session(ctx).unwatch(a.id),
  },
  {
    name: "group create",
    args: "<group>",
    about: "Create GROUP and print its secret alone on stdout (shown only now; names: 1-64 of A-Z a-z 0-9 _ . -)",
    flags: [...CLIENT],
    examples: ["S=$(clip group create app)"],
    run: (ctx, a) => import("./group.ts").then((m) => m.create(ctx, a.group)),
  },
  {
    name: "group delete",
    args: "<group>",
    about: "Delete GROUP and its keys; its connected applications are disconnected (\"group deleted\", exit 4)",
    completes: { group: "group" },
    flags: [...CLIENT],
    examples: ["clip group delete app"],
    run: (ctx, a) => import("./group.ts").then((m) => m.remove(ctx, a.group)),
  },
  {
    name: "group info",
    args: "<group>",
    about: "Keys, applications connected to this server, when created",
    completes: { group: "group" },
    flags: [...CLIENT, PRINT_JSON],
    examples: ["clip group info app --json"],
    run: (ctx, a, f) => import("./group.ts").then((m) => m.info(ctx, a.group, f)),
  },
  {
    name: "group rotate",
    args: "<group>",
    about: "Issue and print a new secret; the old one stops working and its sessions are closed",
    completes: { group: "group" },
    flags: [...CLIENT],
    examples: ["S=$(clip group rotate app)"],
    run: (ctx, a) => import("./group.ts").then((m) => m.rotate(ctx, a.group)),
  },
  {
    name: "group list",
    args: "",
    about: "Every group",
    flags: [...CLIENT, PRINT_JSON],
    examples: ["clip group list --json"],
    run: (ctx, _, f) => import("./group.ts").then((m) => m.list(ctx, f)),
  },
  {
    name: "apps",
    args: "",
    about: "Applications connected to this server (pid, group, since, watches) and the long-lived ones that left in the last hour; one-shot commands that left only as a count",
    flags: [
      ...CLIENT,
      flag("--all", "list the one-shot commands that left too (a clip copy, a clip list), not only their count"),
      flag("--json", "print everything as JSON, one-shot commands included (each app's \"oneShot\" tells them apart)"),
    ],
    examples: ["clip apps", "clip apps --all", "clip apps --json | jq '.left[] | select(.oneShot | not)'"],
    run: (ctx, _, f) => import("./apps.ts").then((m) => m.apps(ctx, f)),
  },
  {
    name: "help",
    args: "[...command]",
    about: "Help on COMMAND (for kv and group: on an ACTION), or the list of commands",
    shell: { args: "", about: "This list" },
    flags: [],
    examples: ["clip help kv put        # the same as: clip kv put --help"],
    run: async (ctx, a) => (ctx.session ? ctx.session.help() : ctx.help?.(a.command ?? [])),
  },
  {
    name: "version",
    args: "",
    about: "Print clip's version (also: clip --version)",
    only: "cli",
    flags: [],
    examples: ["clip version"],
    run: async () => import("./about.ts").then((m) => m.version()),
  },
  {
    name: "quit",
    args: "",
    about: "Leave (also Ctrl-D)",
    only: "shell",
    aliases: ["exit"],
    flags: [],
    examples: [],
    run: async (ctx) => session(ctx).quit(),
  },
];

export const TABLE: Table = {
  commands,
  families: { kv: "Keys in a group", group: "Groups, for admins" },
};
