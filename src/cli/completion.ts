// clip completion bash|zsh|fish: a completion script built from the command
// declarations themselves (so a new flag completes without editing this
// file), plus the kv and group actions, which parse their own argv. Group
// names come from the server, when one answers within a moment:
// `clip completion __groups` prints them, one per line.

import type { CAC } from "cac";
import { ClipError } from "../protocol/errors.ts";
import { type ClientFlags, openClient } from "./common.ts";
import { out } from "./output.ts";

interface Flag {
  /** "-s", "--server" */
  names: string[];
  desc: string;
  /** Takes a value (so the next word is not a positional argument). */
  value: boolean;
}

interface Cmd {
  name: string;
  desc: string;
  flags: Flag[];
  /** Actions of kv and group, each with its own flags. */
  subs?: Record<string, Flag[]>;
}

const flag = (raw: string, desc = ""): Flag => ({
  names: raw.split(",").map((p) => p.trim().split(/\s+/)[0]),
  desc,
  value: /[<[]/.test(raw),
});

const CLIENT = [
  flag("-s, --server <addr>", "server address"),
  flag("--token-file <file>", "file holding the cluster token"),
  flag("--token <token>", "cluster token"),
  flag("--tls-ca <file>", "CA certificate to trust"),
  flag("-h, --help", "show help"),
];
const GROUP = [flag("-g, --group <group>", "the group"), flag("--secret <secret>", "the group's secret")];
const JSON_FLAG = flag("--json", "print JSON");

/** kv and group are declared with their own parsers (src/cli/kv.ts, group.ts). */
const FAMILIES: Record<string, Record<string, Flag[]>> = {
  kv: {
    put: [...CLIENT, ...GROUP],
    get: [...CLIENT, ...GROUP],
    del: [...CLIENT, ...GROUP],
    list: [...CLIENT, ...GROUP, JSON_FLAG],
    watch: [
      ...CLIENT,
      ...GROUP,
      JSON_FLAG,
      flag("--exec <cmd>", "run CMD for each change"),
      flag("--exec-timeout <seconds>", "kill a hung CMD after this long"),
      flag("--count <n>", "stop after N changes"),
      flag("--timeout <seconds>", "stop after this long"),
    ],
  },
  group: {
    create: CLIENT,
    delete: CLIENT,
    rotate: CLIENT,
    info: [...CLIENT, JSON_FLAG],
    list: [...CLIENT, JSON_FLAG],
  },
};

/** Flags whose values are files, folders, or group names. */
const FILE_FLAGS = ["--token-file", "--tls-ca", "--tls-cert", "--tls-key"];
const DIR_FLAGS = ["--data"];
const GROUP_FLAGS = ["-g", "--group"];
const REGION_CMDS = ["copy", "paste", "wait"];
const GROUP_ARG_ACTIONS = ["info", "delete", "rotate"];
const SHELLS = ["bash", "zsh", "fish"];

export function commandsOf(cli: CAC): Cmd[] {
  const cmds: Cmd[] = [];
  for (const c of cli.commands) {
    if (!c.name || c.name.startsWith("__")) continue;
    const subs = FAMILIES[c.name];
    const flags = c.options.map((o) => flag(o.rawName, o.description));
    if (!flags.some((f) => f.names.includes("--help"))) flags.push(flag("-h, --help", "show help"));
    cmds.push({ name: c.name, desc: c.description, flags: subs ? CLIENT : flags, subs });
  }
  return cmds;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const names = (fs: Flag[]) => fs.flatMap((f) => f.names).join(" ");
const valueFlags = (cmds: Cmd[]) => {
  const all = new Set<string>();
  for (const c of cmds) {
    for (const f of c.flags) if (f.value) f.names.forEach((n) => all.add(n));
    for (const fs of Object.values(c.subs ?? {})) for (const f of fs) if (f.value) f.names.forEach((n) => all.add(n));
  }
  return [...all].sort();
};

export function bashScript(cmds: Cmd[]): string {
  const flagCases = cmds
    .flatMap((c) => [
      `    ${q(c.name)}) echo ${q(names(c.flags))} ;;`,
      ...Object.entries(c.subs ?? {}).map(([s, fs]) => `    ${q(`${c.name} ${s}`)}) echo ${q(names(fs))} ;;`),
    ])
    .join("\n");
  const subCases = cmds
    .filter((c) => c.subs)
    .map((c) => `    ${q(c.name)}) echo ${q(Object.keys(c.subs!).join(" "))} ;;`)
    .join("\n");
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

_clip_groups() {
  "$1" completion __groups \${2:+--server "$2"} 2>/dev/null
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
    ${GROUP_FLAGS.join("|")}) COMPREPLY=( $(compgen -W "$(_clip_groups "\${COMP_WORDS[0]}" "$server")" -- "$cur") ); return 0 ;;
    ${FILE_FLAGS.join("|")}) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
    ${DIR_FLAGS.join("|")}) COMPREPLY=( $(compgen -d -- "$cur") ); return 0 ;;
    ${valueFlags(cmds).join("|")}) return 0 ;;
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
  case "$cmd" in
    ${REGION_CMDS.join("|")})
      if (( npos == 0 )); then COMPREPLY=( $(compgen -W "0 1 2 3 4 5 6 7 8 9" -- "$cur") )
      elif [[ "$cmd" == copy ]]; then COMPREPLY=( $(compgen -f -- "$cur") ); fi ;;
    group)
      case "$sub" in ${GROUP_ARG_ACTIONS.join("|")}) (( npos == 0 )) && COMPREPLY=( $(compgen -W "$(_clip_groups "\${COMP_WORDS[0]}" "$server")" -- "$cur") ) ;; esac ;;
    completion) (( npos == 0 )) && COMPREPLY=( $(compgen -W ${q(SHELLS.join(" "))} -- "$cur") ) ;;
  esac
  return 0
}

complete -o default -F _clip clip
`;
}

export function zshScript(cmds: Cmd[]): string {
  // _describe splits at the first unescaped colon: escape the name's only.
  const zq = (name: string, desc: string) => q(`${name.replace(/:/g, "\\:")}:${desc}`);
  const described = cmds.map((c) => `    ${zq(c.name, c.desc)}`).join("\n");
  const flagCases = cmds
    .flatMap((c) => [
      `    (${c.name}) flags=(${c.flags.flatMap((f) => f.names.map((n) => zq(n, f.desc))).join(" ")}) ;;`,
      ...Object.entries(c.subs ?? {}).map(([s, fs]) => `    ("${c.name} ${s}") flags=(${fs.flatMap((f) => f.names.map((n) => zq(n, f.desc))).join(" ")}) ;;`),
    ])
    .join("\n");
  const subCases = cmds
    .filter((c) => c.subs)
    .map((c) => `    (${c.name}) subs=(${Object.keys(c.subs!).join(" ")}) ;;`)
    .join("\n");
  return `#compdef clip
# clip completion for zsh. Load it with:  source <(clip completion zsh)
# (after compinit), or save it as _clip in a folder on $fpath.

_clip() {
  local cur="\${words[CURRENT]}" prev="\${words[CURRENT-1]}"
  local cmd="" sub="" server="" i w
  local -i npos=0 skip=0
  local -a cmds flags subs groups
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
        elif [[ ( "$cmd" == kv || "$cmd" == group ) && -z "$sub" ]]; then sub="$w"
        else (( npos++ )); fi ;;
    esac
  done
  case "$prev" in
    (${GROUP_FLAGS.join("|")})
      groups=( \${(f)"$("\${words[1]}" completion __groups \${server:+--server "$server"} 2>/dev/null)"} )
      compadd -a groups; return ;;
    (${FILE_FLAGS.join("|")}) _files; return ;;
    (${DIR_FLAGS.join("|")}) _files -/; return ;;
    (${valueFlags(cmds).join("|")}) return ;;
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
  case "$cmd" in
    (${REGION_CMDS.join("|")})
      if (( npos == 0 )); then compadd 0 1 2 3 4 5 6 7 8 9
      elif [[ "$cmd" == copy ]]; then _files; fi ;;
    (group)
      if [[ "$sub" == (${GROUP_ARG_ACTIONS.join("|")}) ]] && (( npos == 0 )); then
        groups=( \${(f)"$("\${words[1]}" completion __groups \${server:+--server "$server"} 2>/dev/null)"} )
        compadd -a groups
      fi ;;
    (completion) (( npos == 0 )) && compadd ${SHELLS.join(" ")} ;;
  esac
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
    "    $cmd[1] completion __groups 2>/dev/null",
    "end",
    "",
    "complete -c clip -f",
  ];
  const all = cmds.map((c) => c.name).join(" ");
  const fq = (s: string) => q(s);
  const flagLine = (cond: string, f: Flag) => {
    const parts = f.names.map((n) => (n.startsWith("--") ? `-l ${n.slice(2)}` : `-s ${n.slice(1)}`)).join(" ");
    const arg = !f.value
      ? ""
      : GROUP_FLAGS.includes(f.names[f.names.length - 1])
        ? " -x -a '(__clip_groups)'"
        : FILE_FLAGS.some((x) => f.names.includes(x)) || DIR_FLAGS.some((x) => f.names.includes(x))
          ? " -r -F"
          : " -x";
    return `complete -c clip -n ${fq(cond)} ${parts}${arg} -d ${fq(f.desc)}`;
  };
  for (const c of cmds) lines.push(`complete -c clip -n ${fq(`not __fish_seen_subcommand_from ${all}`)} -a ${c.name} -d ${fq(c.desc)}`);
  for (const c of cmds) {
    if (c.subs) {
      const subs = Object.keys(c.subs).join(" ");
      lines.push(`complete -c clip -n ${fq(`__fish_seen_subcommand_from ${c.name}; and not __fish_seen_subcommand_from ${subs}`)} -a ${fq(subs)}`);
      for (const [s, fs] of Object.entries(c.subs)) {
        for (const f of fs) lines.push(flagLine(`__fish_seen_subcommand_from ${c.name}; and __fish_seen_subcommand_from ${s}`, f));
      }
      continue;
    }
    for (const f of c.flags) lines.push(flagLine(`__fish_seen_subcommand_from ${c.name}`, f));
  }
  lines.push(`complete -c clip -n ${fq(`__fish_seen_subcommand_from ${REGION_CMDS.join(" ")}`)} -a '0 1 2 3 4 5 6 7 8 9'`);
  lines.push(`complete -c clip -n ${fq("__fish_seen_subcommand_from copy")} -F`);
  lines.push(`complete -c clip -n ${fq(`__fish_seen_subcommand_from group; and __fish_seen_subcommand_from ${GROUP_ARG_ACTIONS.join(" ")}`)} -a '(__clip_groups)'`);
  lines.push(`complete -c clip -n ${fq("__fish_seen_subcommand_from completion")} -a ${fq(SHELLS.join(" "))}`);
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

export async function completion(shell: unknown, cli: CAC, flags: ClientFlags = {}): Promise<void> {
  if (shell === "__groups") return groupNames(flags);
  const cmds = commandsOf(cli);
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
