// clip completion bash|zsh|fish: completion scripts built from the command
// table (table.ts): its commands, families and actions, each command's flags
// and what completes their values and its positional arguments. Group names
// come from the server, when one answers within a moment:
// `clip completion __groups` prints them, one per line.

import { ClipError } from "../protocol/errors.ts";
import { type ClientFlags, openClient } from "./common.ts";
import { out } from "./output.ts";
import { type CommandSpec, type Completes, type Table, argsOf, commandsOn, familyAbout, flagNames, splitName, takesValue, topLevel } from "./spec.ts";
import { TABLE } from "./table.ts";

interface Flag {
  /** "-s", "--server" */
  names: string[];
  desc: string;
  /** Takes a value (so the next word is not a positional argument). */
  value: boolean;
  completes: Completes;
}

interface Cmd {
  name: string;
  desc: string;
  flags: Flag[];
  /** What completes each positional argument, in order; `rest` says the last one takes every word after. */
  args: Completes[];
  rest: boolean;
  /** A family's actions (kv, group), each a command of its own. */
  subs?: Cmd[];
}

const HELP: Flag = { names: ["-h", "--help"], desc: "show help", value: false, completes: "none" };

function cmdOf(c: CommandSpec, name: string): Cmd {
  const args = argsOf(c.args);
  return {
    name,
    desc: c.about,
    flags: [...c.flags.map((f) => ({ names: flagNames(f), desc: f.about, value: takesValue(f), completes: f.completes })), HELP],
    args: args.map((a) => c.completes?.[a.name] ?? "none"),
    rest: args.some((a) => a.variadic),
  };
}

/** The CLI's commands as the scripts see them: top-level commands, and families with their actions. */
export function commandsOf(table: Table): Cmd[] {
  const commands = commandsOn(table, "cli");
  return topLevel(commands).map((x) => {
    if ("command" in x) return cmdOf(x.command, x.command.name);
    const subs = commands.filter((c) => splitName(c)[0] === x.family).map((c) => cmdOf(c, splitName(c)[1]));
    // `clip kv --<TAB>`: the flags every action has.
    const common = subs[0].flags.filter((f) => subs.every((s) => s.flags.some((g) => g.names.join() === f.names.join())));
    return { name: x.family, desc: familyAbout(table, x.family), flags: common, args: [], rest: false, subs };
  });
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const names = (fs: Flag[]) => fs.flatMap((f) => f.names).join(" ");
/** Every command, and every action as "family action": the keys the scripts look things up by. */
const everyKey = (cmds: Cmd[]): [string, Cmd][] => cmds.flatMap((c) => [[c.name, c] as [string, Cmd], ...(c.subs ?? []).map((s) => [`${c.name} ${s.name}`, s] as [string, Cmd])]);

/** A kind as the scripts spell it: region, file, dir, group, none, or =word,word. */
const kind = (k: Completes): string => (typeof k === "string" ? k : `=${k.join(",")}`);

/** Flag names by what completes their value; a name means one thing wherever it appears. */
function flagsByKind(cmds: Cmd[]): Map<string, string[]> {
  const seen = new Map<string, string>();
  for (const [, c] of everyKey(cmds)) {
    for (const f of c.flags) {
      if (!f.value) continue;
      for (const n of f.names) {
        const k = kind(f.completes);
        if (seen.has(n) && seen.get(n) !== k) throw new Error(`the command table gives ${n} two kinds of value: ${seen.get(n)} and ${k}`);
        seen.set(n, k);
      }
    }
  }
  const by = new Map<string, string[]>();
  for (const [n, k] of [...seen].sort()) by.set(k, [...(by.get(k) ?? []), n]);
  return by;
}

const valueFlags = (cmds: Cmd[]) => [...flagsByKind(cmds).values()].flat().sort();
/** "region file" or "none*" (the last one repeats): what completes each positional argument. */
const argKinds = (c: Cmd) => c.args.map((k, i) => `${kind(k)}${c.rest && i === c.args.length - 1 ? "*" : ""}`).join(" ");

export function bashScript(cmds: Cmd[]): string {
  const keys = everyKey(cmds);
  const flagCases = keys.map(([k, c]) => `    ${q(k)}) echo ${q(names(c.flags))} ;;`).join("\n");
  const subCases = cmds
    .filter((c) => c.subs)
    .map((c) => `    ${q(c.name)}) echo ${q(c.subs!.map((s) => s.name).join(" "))} ;;`)
    .join("\n");
  const argCases = keys
    .filter(([, c]) => c.args.some((k) => k !== "none"))
    .map(([k, c]) => `    ${q(k)}) echo ${q(argKinds(c))} ;;`)
    .join("\n");
  const byKind = flagsByKind(cmds);
  const prevCases = [...byKind].map(([k, ns]) => `    ${ns.join("|")}) _clip_complete ${q(k)}; return 0 ;;`).join("\n");
  return `# clip completion for bash. Load it with:  source <(clip completion bash)
# or save it as ~/.local/share/bash-completion/completions/clip

_clip_flags() {
  case "$1" in
${flagCases}
  esac
}

_clip_subs() {
  case "$1" in
${subCases}
  esac
}

# What completes each positional argument; a trailing * repeats the last.
_clip_args() {
  case "$1" in
${argCases}
  esac
}

_clip_groups() {
  "$1" completion __groups \${2:+--server "$2"} 2>/dev/null
}

# Fills COMPREPLY for a kind: region, file, dir, group, or =word,word.
_clip_complete() {
  case "$1" in
    region) COMPREPLY=( $(compgen -W "0 1 2 3 4 5 6 7 8 9" -- "$cur") ) ;;
    file) COMPREPLY=( $(compgen -f -- "$cur") ) ;;
    dir) COMPREPLY=( $(compgen -d -- "$cur") ) ;;
    group) COMPREPLY=( $(compgen -W "$(_clip_groups "\${COMP_WORDS[0]}" "$server")" -- "$cur") ) ;;
    =*) local w="\${1#=}"; COMPREPLY=( $(compgen -W "\${w//,/ }" -- "$cur") ) ;;
  esac
}

_clip() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev=""
  (( COMP_CWORD > 0 )) && prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local cmd="" sub="" server="" npos=0 skip=0 i w
  for (( i = 1; i < COMP_CWORD; i++ )); do
    w="\${COMP_WORDS[i]}"
    if (( skip )); then skip=0; continue; fi
    case "$w" in
      -s|--server) server="\${COMP_WORDS[i+1]}"; skip=1 ;;
      ${valueFlags(cmds).join("|")}) skip=1 ;;
      -*) ;;
      *)
        if [[ -z "$cmd" ]]; then cmd="$w"
        elif [[ -n "$(_clip_subs "$cmd")" && -z "$sub" ]]; then sub="$w"
        else (( npos++ )); fi ;;
    esac
  done
  COMPREPLY=()
  case "$prev" in
${prevCases}
  esac
  if [[ -z "$cmd" ]]; then
    COMPREPLY=( $(compgen -W ${q(`${cmds.map((c) => c.name).join(" ")} --help --version`)} -- "$cur") )
    return 0
  fi
  if [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$(_clip_flags "$cmd\${sub:+ $sub}")" -- "$cur") )
    return 0
  fi
  local subs="$(_clip_subs "$cmd")"
  if [[ -n "$subs" && -z "$sub" ]]; then
    COMPREPLY=( $(compgen -W "$subs" -- "$cur") )
    return 0
  fi
  local -a kinds
  read -ra kinds <<< "$(_clip_args "$cmd\${sub:+ $sub}")"
  local n=\${#kinds[@]} k="\${kinds[npos]}"
  if [[ -z "$k" ]] && (( n > 0 )) && [[ "\${kinds[n-1]}" == *'*' ]]; then k="\${kinds[n-1]}"; fi
  _clip_complete "\${k%\\*}"
  return 0
}

complete -o default -F _clip clip
`;
}

export function zshScript(cmds: Cmd[]): string {
  // _describe splits at the first unescaped colon: escape the name's only.
  const zq = (name: string, desc: string) => q(`${name.replace(/:/g, "\\:")}:${desc}`);
  const keys = everyKey(cmds);
  const described = cmds.map((c) => `    ${zq(c.name, c.desc)}`).join("\n");
  const flagCases = keys.map(([k, c]) => `    (${q(k)}) flags=(${c.flags.flatMap((f) => f.names.map((n) => zq(n, f.desc))).join(" ")}) ;;`).join("\n");
  const subCases = cmds
    .filter((c) => c.subs)
    .map((c) => `    (${c.name}) subs=(${c.subs!.map((s) => s.name).join(" ")}) ;;`)
    .join("\n");
  const argCases = keys
    .filter(([, c]) => c.args.some((k) => k !== "none"))
    .map(([k, c]) => `    (${q(k)}) kinds=(${argKinds(c).split(" ").map(q).join(" ")}) ;;`)
    .join("\n");
  const families = cmds.filter((c) => c.subs).map((c) => `"$cmd" == ${c.name}`);
  const prevCases = [...flagsByKind(cmds)].map(([k, ns]) => `    (${ns.join("|")}) _clip_complete ${q(k)}; return ;;`).join("\n");
  return `#compdef clip
# clip completion for zsh. Load it with:  source <(clip completion zsh)
# (after compinit), or save it as _clip in a folder on $fpath.

# Completes a kind: region, file, dir, group, or =word,word.
_clip_complete() {
  local -a groups
  case "$1" in
    (region) compadd 0 1 2 3 4 5 6 7 8 9 ;;
    (file) _files ;;
    (dir) _files -/ ;;
    (group)
      groups=( \${(f)"$("\${words[1]}" completion __groups \${server:+--server} $server 2>/dev/null)"} )
      compadd -a groups ;;
    ('='*) compadd \${(s:,:)1#=} ;;
  esac
}

_clip() {
  local cur="\${words[CURRENT]}" prev="\${words[CURRENT-1]}"
  local cmd="" sub="" server="" i w k
  local -i npos=0 skip=0
  local -a cmds flags subs kinds
  cmds=(
${described}
  )
  for (( i = 2; i < CURRENT; i++ )); do
    w="\${words[i]}"
    if (( skip )); then skip=0; continue; fi
    case "$w" in
      (-s|--server) server="\${words[i+1]}"; skip=1 ;;
      (${valueFlags(cmds).join("|")}) skip=1 ;;
      (-*) ;;
      (*)
        if [[ -z "$cmd" ]]; then cmd="$w"
        elif [[ ( ${families.join(" || ")} ) && -z "$sub" ]]; then sub="$w"
        else (( npos++ )); fi ;;
    esac
  done
  case "$prev" in
${prevCases}
  esac
  if [[ -z "$cmd" ]]; then
    _describe 'clip command' cmds
    return
  fi
  if [[ "$cur" == -* ]]; then
    case "$cmd\${sub:+ $sub}" in
${flagCases}
    esac
    _describe 'flag' flags
    return
  fi
  case "$cmd" in
${subCases}
  esac
  if (( \${#subs} )) && [[ -z "$sub" ]]; then
    compadd -a subs; return
  fi
  case "$cmd\${sub:+ $sub}" in
${argCases}
  esac
  k="\${kinds[npos+1]}"
  if [[ -z "$k" ]] && (( \${#kinds} )) && [[ "\${kinds[-1]}" == *'*' ]]; then k="\${kinds[-1]}"; fi
  [[ -n "$k" ]] && _clip_complete "\${k%\\*}"
}

if (( $+functions[compdef] )); then compdef _clip clip; fi
`;
}

export function fishScript(cmds: Cmd[]): string {
  const lines: string[] = [
    "# clip completion for fish. Load it with:  clip completion fish | source",
    "# or save it as ~/.config/fish/completions/clip.fish",
    "",
    "function __clip_groups",
    "    set -l cmd (commandline -opc)",
    "    set -l server",
    "    for i in (seq 2 (math (count $cmd) - 1))",
    "        contains -- $cmd[$i] -s --server; and set server --server $cmd[(math $i + 1)]",
    "    end",
    "    $cmd[1] completion __groups $server 2>/dev/null",
    "end",
    "",
    "complete -c clip -f",
  ];
  const all = cmds.map((c) => c.name).join(" ");
  /** What a value completes to, as fish's options say it. */
  const values = (k: Completes): string =>
    typeof k !== "string" ? ` -x -a ${q(k.join(" "))}` : k === "file" || k === "dir" ? " -r -F" : k === "group" ? " -x -a '(__clip_groups)'" : k === "region" ? " -x -a '0 1 2 3 4 5 6 7 8 9'" : " -x";
  const flagLine = (cond: string, f: Flag) => {
    const parts = f.names.map((n) => (n.startsWith("--") ? `-l ${n.slice(2)}` : `-s ${n.slice(1)}`)).join(" ");
    return `complete -c clip -n ${q(cond)} ${parts}${f.value ? values(f.completes) : ""} -d ${q(f.desc)}`;
  };
  // Each argument's kind is offered where that argument stands: __clip_pos counts the words so far
  // that are neither flags nor flag values (the command is 1; a family's action is 2).
  const argLines = (cond: string, c: Cmd, first: number) =>
    c.args.flatMap((k, i) => {
      if (k === "none") return [];
      const at = `test (__clip_pos) ${c.rest && i === c.args.length - 1 ? "-ge" : "-eq"} ${first + i}`;
      const opts = k === "file" || k === "dir" ? " -F" : k === "group" ? " -a '(__clip_groups)'" : k === "region" ? " -a '0 1 2 3 4 5 6 7 8 9'" : ` -a ${q(k.join(" "))}`;
      return [`complete -c clip -n ${q(`${cond}; and ${at}`)}${opts}`];
    });
  lines.push(
    "function __clip_pos",
    "    set -l n 0",
    "    set -l skip 0",
    "    for w in (commandline -opc)[2..-1]",
    "        if test $skip -eq 1",
    "            set skip 0",
    "            continue",
    "        end",
    "        switch $w",
    `            case ${valueFlags(cmds).join(" ")}`,
    "                set skip 1",
    "            case '-*'",
    "            case '*'",
    "                set n (math $n + 1)",
    "        end",
    "    end",
    "    echo $n",
    "end",
    "",
  );
  for (const c of cmds) lines.push(`complete -c clip -n ${q(`not __fish_seen_subcommand_from ${all}`)} -a ${c.name} -d ${q(c.desc)}`);
  for (const c of cmds) {
    const seen = `__fish_seen_subcommand_from ${c.name}`;
    if (c.subs) {
      const subs = c.subs.map((s) => s.name).join(" ");
      lines.push(`complete -c clip -n ${q(`${seen}; and not __fish_seen_subcommand_from ${subs}`)} -a ${q(subs)}`);
      for (const s of c.subs) {
        const cond = `${seen}; and __fish_seen_subcommand_from ${s.name}`;
        for (const f of s.flags) lines.push(flagLine(cond, f));
        lines.push(...argLines(cond, s, 2));
      }
      continue;
    }
    for (const f of c.flags) lines.push(flagLine(seen, f));
    lines.push(...argLines(seen, c, 1));
  }
  return `${lines.join("\n")}\n`;
}

/** Group names for the completion scripts: quick, and silent when no server answers. */
async function groupNames(flags: ClientFlags): Promise<void> {
  const timer = setTimeout(() => process.exit(1), 1500);
  try {
    const c = await openClient(flags);
    try {
      const groups = await c.groups.list();
      await out(groups.map((g) => `${g.group}\n`).join(""));
    } finally {
      c.close();
    }
  } catch {
    process.exit(1);
  } finally {
    clearTimeout(timer);
  }
}

export async function completion(shell: unknown, flags: ClientFlags = {}): Promise<void> {
  if (shell === "__groups") return groupNames(flags);
  const cmds = commandsOf(TABLE);
  switch (shell) {
    case "bash":
      return out(bashScript(cmds));
    case "zsh":
      return out(zshScript(cmds));
    case "fish":
      return out(fishScript(cmds));
    default:
      throw new ClipError("USAGE", `no completion for ${JSON.stringify(shell)}: use bash, zsh or fish`);
  }
}
